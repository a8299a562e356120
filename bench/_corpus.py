"""The sentence corpora the quality bench reads."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
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


EVAL_CORPORA: Mapping[str, tuple[str, Path]] = {
    "zh_eval": ("zh", DATA_DIR / "zh_eval"),
    "en_eval": ("en", DATA_DIR / "en_eval"),
}
"""Evaluation corpus name → (language, directory holding ``dev.tsv`` and ``test.tsv``)."""
SPLITS = ("dev", "test")
"""dev is for choices (voices, blends, front-end fixes); test only for the final figures."""
AUDIT_SPLITS = (*SPLITS, "g2p_holdout")
"""``g2p_holdout``: polyphone sentences written after the G2P fixes, for the G2P audit only."""

_READING = re.compile(r"\[([a-z]+[1-5])\]")


@dataclass(frozen=True, slots=True)
class EvalSentence:
    """One line of an evaluation corpus.

    Attributes:
        id: stable sentence id (``news-03``).
        register: what kind of text it is (news, dialogue, ivr, prose, numbers, ...).
        text: the sentence as synthesised, reading annotations removed.
        readings: (index in ``text``, TONE3 pinyin) for each annotated character: its lexical
            reading in this context, before tone sandhi (the G2P audit's gold).
    """

    id: str
    register: str
    text: str
    readings: tuple[tuple[int, str], ...]


def parse_annotated(raw: str) -> tuple[str, tuple[tuple[int, str], ...]]:
    """Split ``字[pinyin]`` annotations from a sentence.

    Args:
        raw: a sentence in which ``[hang2]`` right after a character gives that character's reading.

    Returns:
        The plain sentence and the (character index, pinyin) pairs.

    Raises:
        ValueError: an annotation follows nothing, or a bracket is not a valid annotation.
    """
    text: list[str] = []
    readings: list[tuple[int, str]] = []
    pos = 0
    for m in _READING.finditer(raw):
        text.append(raw[pos : m.start()])
        pos = m.end()
        length = sum(len(t) for t in text)
        if length == 0:
            raise ValueError(f"reading {m.group(0)} follows no character in {raw!r}")
        readings.append((length - 1, m.group(1)))
    text.append(raw[pos:])
    plain = "".join(text)
    if "[" in plain or "]" in plain:
        raise ValueError(f"malformed reading annotation in {raw!r}")
    return plain, tuple(readings)


def load_eval(name: str, split: str, limit: int | None = None) -> list[EvalSentence]:
    """Read one split of an evaluation corpus.

    Args:
        name: a key of :data:`EVAL_CORPORA`.
        split: ``dev``, ``test`` or ``g2p_holdout``.
        limit: keep only the first ``limit`` sentences.

    Returns:
        The sentences in file order.

    Raises:
        KeyError: unknown corpus.
        ValueError: unknown split, or a malformed line.
    """
    if split not in AUDIT_SPLITS:
        raise ValueError(f"split must be one of {', '.join(AUDIT_SPLITS)}, got {split!r}")
    _language, directory = EVAL_CORPORA[name]
    sentences = []
    for line in (directory / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"expected id, register and sentence separated by tabs: {line!r}")
        text, readings = parse_annotated(fields[2].strip())
        sentences.append(EvalSentence(fields[0], fields[1], text, readings))
    return sentences[:limit] if limit is not None else sentences
