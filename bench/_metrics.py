"""Text normalisation and error rates for the ASR round trip.

English is scored by word error rate after lower-casing, spelling numbers out and dropping
punctuation; Chinese by character error rate after converting traditional characters to
simplified ones, Chinese numerals to digits, and dropping punctuation and whitespace. The same
normalisation is applied to the reference and to the transcript, so a recogniser writing
"4 hours" for "Four hours" or "兩點" for "两点" is not penalised.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cn2an
import jiwer
import opencc
from num2words import num2words

_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_APOSTROPHES = re.compile(r"['’‘`]")
_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True, slots=True)
class ErrorRate:
    """Edit-distance errors summed over a corpus.

    Attributes:
        errors: substitutions + deletions + insertions.
        reference_length: words (English) or characters (Chinese) in the normalised references.
    """

    errors: int
    reference_length: int

    @property
    def rate(self) -> float:
        """Errors per reference unit (0.0 is perfect; may exceed 1.0 with many insertions)."""
        return self.errors / self.reference_length if self.reference_length else 0.0

    @classmethod
    def total(cls, parts: Iterable[ErrorRate]) -> ErrorRate:
        """Pool error counts: errors and reference lengths summed (``ErrorRate(0, 0)`` for none)."""
        errors = length = 0
        for part in parts:
            errors += part.errors
            length += part.reference_length
        return cls(errors, length)


def metric_name(language: str) -> str:
    """Name the metric used for ``language``: ``CER`` for Chinese, ``WER`` otherwise."""
    return "CER" if language == "zh" else "WER"


class Scorer:
    """Normalises text and computes WER (English) or CER (Chinese)."""

    def __init__(self) -> None:
        self._t2s = opencc.OpenCC("t2s")

    def normalise(self, text: str, language: str) -> str:
        """Reduce ``text`` to the form that is compared.

        Args:
            text: a reference sentence or an ASR transcript.
            language: ``en`` or ``zh``.

        Returns:
            Space-separated lower-case words (English) or a run of characters (Chinese).

        Raises:
            ValueError: if the language is neither ``en`` nor ``zh``.
        """
        if language == "en":
            return self._normalise_en(text)
        if language == "zh":
            return self._normalise_zh(text)
        raise ValueError(f"no scoring rules for language {language!r}")

    def error_rate(self, references: Sequence[str], hypotheses: Sequence[str], language: str) -> ErrorRate:
        """Corpus-level WER/CER of ``hypotheses`` against ``references`` after normalisation.

        Args:
            references: the sentences that were synthesised.
            hypotheses: what the recogniser heard, one per reference.
            language: ``en`` (word level) or ``zh`` (character level).

        Returns:
            The summed edit distance and reference length.

        Raises:
            ValueError: if the lists differ in length, a reference normalises to nothing,
                or the language is unknown.
        """
        output = self._align(references, hypotheses, language)
        if output is None:
            return ErrorRate(0, 0)
        return ErrorRate(
            output.substitutions + output.deletions + output.insertions,
            output.substitutions + output.deletions + output.hits,
        )

    def sentence_errors(
        self, references: Sequence[str], hypotheses: Sequence[str], language: str
    ) -> list[ErrorRate]:
        """WER/CER counts of each sentence; they sum to :meth:`error_rate` of the same lists.

        Args:
            references: the sentences that were synthesised.
            hypotheses: what the recogniser heard, one per reference.
            language: ``en`` (word level) or ``zh`` (character level).

        Returns:
            One entry per reference, in order: its edit distance and normalised length.

        Raises:
            ValueError: if the lists differ in length, a reference normalises to nothing,
                or the language is unknown.
        """
        output = self._align(references, hypotheses, language)
        if output is None:
            return []
        per_sentence = []
        for reference, chunks in zip(output.references, output.alignments, strict=True):
            errors = 0
            for chunk in chunks:
                if chunk.type == "insert":
                    errors += chunk.hyp_end_idx - chunk.hyp_start_idx
                elif chunk.type != "equal":  # substitute, delete
                    errors += chunk.ref_end_idx - chunk.ref_start_idx
            per_sentence.append(ErrorRate(errors, len(reference)))
        return per_sentence

    def _align(
        self, references: Sequence[str], hypotheses: Sequence[str], language: str
    ) -> jiwer.WordOutput | jiwer.CharacterOutput | None:
        """jiwer's alignment of the normalised lists (words or characters), ``None`` if empty."""
        if len(references) != len(hypotheses):
            raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
        refs = [self.normalise(r, language) for r in references]
        hyps = [self.normalise(h, language) for h in hypotheses]
        if not refs:
            return None
        if not all(refs):
            raise ValueError("a reference sentence normalises to nothing")
        if language == "zh":
            return jiwer.process_characters(refs, hyps)
        return jiwer.process_words(refs, hyps)

    @staticmethod
    def _normalise_en(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        text = _THOUSANDS.sub("", text)
        text = _ORDINAL.sub(lambda m: f" {num2words(int(m.group(1)), to='ordinal')} ", text)
        text = _DECIMAL.sub(lambda m: f" {num2words(_number(m.group()))} ", text)
        text = _APOSTROPHES.sub("", text)
        text = _NOT_WORD.sub(" ", text.replace("_", " "))
        return " ".join(text.split())

    def _normalise_zh(self, text: str) -> str:
        text = unicodedata.normalize("NFKC", self._t2s.convert(text)).lower()
        text = cn2an.transform(text, "cn2an")
        return "".join(ch for ch in text if ch.isalnum())


def _number(token: str) -> int | float:
    return float(token) if "." in token else int(token)
