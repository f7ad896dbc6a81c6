"""Offline: the numpy sentence encoder (monitor/stories/embedding.py) on labelled topic streams.

Never imported by the daemon. For each stream folder given, every item of its ``items.jsonl``
(``title + ". " + description``, in the file's order) is encoded with the model files of
MODEL_DIR (their hashes checked first), on one core (BLAS and OpenMP held to one thread), and
the script prints the milliseconds per story, batched (the encoder's default batches) and one
story at a time, and the mean token count. Given a reference (``STREAM_DIR=REF.npy``: the
embeddings of the same texts in the same order, one row each, as sentence-transformers'
``encode(texts, normalize_embeddings=True)`` writes them), it prints the least cosine between
a row here and its reference row.

usage: python -m bench.embedding_check MODEL_DIR STREAM_DIR[=REF.npy] ...
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def stream_texts(folder: Path) -> list[str]:
    """``title + ". " + description`` of each item of ``folder/items.jsonl``, in file order."""
    texts = []
    with open(folder / "items.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                item = json.loads(line)
                texts.append(f"{item.get('title') or ''}. {item.get('description') or ''}")
    return texts


def check(model_dir: Path, streams: list[tuple[Path, Path | None]]) -> int:
    import numpy as np  # after the thread limits are in the environment

    from monitor.stories.embedding import load_encoder

    started = time.perf_counter()
    encoder = load_encoder(model_dir)
    print(f"model loaded (hashes checked) in {time.perf_counter() - started:.2f} s")
    least = 1.0
    total = 0
    for folder, reference in streams:
        texts = stream_texts(folder)
        tokens = sum(len(encoder.tokenizer.ids(t)) for t in texts) / max(len(texts), 1)
        started = time.perf_counter()
        ours = encoder.encode(texts)
        batched = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        started = time.perf_counter()
        single = np.concatenate([encoder.encode([t]) for t in texts]) if texts else ours
        alone = (time.perf_counter() - started) * 1000 / max(len(texts), 1)
        line = (
            f"{folder.name}: {len(texts)} stories, {tokens:.1f} tokens on average;"
            f" {batched:.1f} ms/story batched, {alone:.1f} ms/story one at a time;"
            f" batched vs alone: least cosine {float((ours * single).sum(axis=1).min()):.7f}"
        )
        if reference is not None:
            ref = np.load(reference)
            if ref.shape != ours.shape:
                print(f"{reference}: shape {ref.shape}, not {ours.shape}", file=sys.stderr)
                return 1
            cosine = (ours * ref).sum(axis=1) / np.linalg.norm(ref, axis=1)
            least = min(least, float(cosine.min()))
            line += f"; vs reference: least cosine {float(cosine.min()):.7f}"
        total += len(texts)
        print(line)
    if any(reference for _, reference in streams):
        print(f"all {total} stories: least cosine vs reference {least:.7f}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    if any(os.environ.get(name) != "1" for name in _ONE_THREAD):
        # BLAS reads its thread count once, when numpy loads: start again with the limits set
        os.environ.update(dict.fromkeys(_ONE_THREAD, "1"))
        os.execv(sys.executable, [sys.executable, "-m", "bench.embedding_check", *argv])
    streams: list[tuple[Path, Path | None]] = []
    for arg in argv[1:]:
        folder, _, reference = arg.partition("=")
        streams.append((Path(folder), Path(reference) if reference else None))
    return check(Path(argv[0]), streams)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
