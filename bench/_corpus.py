"""The sentence corpora the quality bench reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPORA: Mapping[str, Path] = {
    "en": DATA_DIR / "harvard_lists_1_3.txt",
    "zh": DATA_DIR / "zh_everyday.txt",
}
"""Bench language → sentence file (one sentence a line, ``#`` starts a comment line)."""


def load_sentences(path: Path, limit: int | None = None) -> list[str]:
    """Read a corpus file.

    Args:
        path: UTF-8 text, one sentence a line; blank lines and ``#`` lines are skipped.
        limit: keep only the first ``limit`` sentences.

    Returns:
        The sentences in file order.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    sentences = [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
    return sentences[:limit] if limit is not None else sentences
