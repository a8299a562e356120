"""Text normalisation and error rates for the ASR round trip.

English is scored by word error rate (WER), Chinese by character error rate (CER), both after the
same normalisation of the reference and of the transcript, so that notation is not counted as
speech: a recogniser writing "4 hours" for "Four hours", "兩點三十分" for "2:30" or "20平方米" for
"20m²" is not penalised.

The default scheme compares **spoken forms**: both sides go through voxgate's own text normaliser
(:func:`voxgate.text.normalize.normalize`, the one whose output the engine reads), which spells
digits, times, money, percentages and units out in the sentence's language; then Chinese is mapped
to simplified characters, a few orthographic variants are folded (:data:`ZH_FOLD`), and case,
punctuation and whitespace are dropped. What this hides: a wrong reading by the normaliser itself
(the reference *is* its reading); that is what ``tests/text`` checks, sentence by sentence. The
``written`` scheme (the scoring before session 8: Chinese numerals to digits with cn2an) is kept to
compare figures; cn2an parses only well-formed numerals, so a mis-heard numeral stayed in characters
while the reference became digits.

For Chinese a second, diagnostic metric: the **pinyin syllable error rate** (PER), toneless or
with tones, from pypinyin with jieba's word context on both spoken forms, so a homophone written
with another character by the recogniser (性/姓, 著/着) is not the voice's error.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import cn2an
import jiwer
import opencc
from num2words import num2words

from voxgate.errors import EmptyText
from voxgate.text.clean import clean_text
from voxgate.text.normalize import normalize

_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")
_DECIMAL = re.compile(r"\d+(?:\.\d+)?")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_APOSTROPHES = re.compile(r"['’‘`]")
_NOT_WORD = re.compile(r"[^\w]+")
_ZH_SPACE = re.compile(r"(?<![A-Za-z])\s+|\s+(?![A-Za-z])")
"""Whitespace in Chinese text not between two Latin letters: it means nothing there, and the
recogniser puts it around Latin words and numbers at will ("部署 在 AWS 上")."""
_DOTTED_CLOCK = re.compile(r"(?<![0-9.])([0-9]{1,2})\.([0-5][0-9])分")
"""whisper's way of writing a time (``7.30分`` for 七点三十分): a clock, not a decimal number."""
_EN_DOTTED_CLOCK = re.compile(r"(?<![0-9.])([0-9]{1,2})\.([0-5][0-9])(?=\s?[ap]\.?m\b)", re.IGNORECASE)
"""The same in English (``2.30 p.m.``)."""
_HAN_OR_OTHER = re.compile(r"([\u3400-\u9fff\uf900-\ufaff]+)|([^\u3400-\u9fff\uf900-\ufaff]+)")
_LATIN_WORD = re.compile(r"[^\W_]+")

ZH_FOLD = str.maketrans({"著": "着", "她": "他", "它": "他", "牠": "他", "祂": "他", "地": "的", "得": "的"})
"""Characters that are the same speech written differently, folded on both sides of a CER.

著/着: one word written two ways (opencc's t2s keeps 著, a simplified character too, and
whisper writes it for 着 — 12 of the substitutions in the first 644 zh_eval readings).
她/它/牠/祂 → 他: all tā; no voice can say which one is meant.
地/得 → 的: the structural particle de (whisper-base writes 的 for all three: 36 substitutions).
Folding merges only these characters' other uses too (土地 and 土的 compare equal), which a
recogniser never confuses by ear.
"""

Scheme = Literal["spoken", "written"]
"""How notation is evened out before comparing: see the module docstring."""


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
    """Normalises text and computes WER (English) or CER (Chinese), and pinyin PER (Chinese).

    Args:
        scheme: ``spoken`` (default: voxgate's normaliser on both sides, see the module
            docstring) or ``written`` (the earlier scoring, for comparison).
    """

    def __init__(self, scheme: Scheme = "spoken") -> None:
        if scheme not in ("spoken", "written"):
            raise ValueError(f"unknown scoring scheme {scheme!r}")
        self.scheme: Scheme = scheme
        self._t2s = opencc.OpenCC("t2s")
        self._jieba: object | None = None

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
        return [] if output is None else _per_sentence(output)

    def syllables(self, text: str, *, tones: bool = False) -> list[str]:
        """The pinyin syllables of a Chinese text's spoken form (a Latin word or number is one unit).

        Args:
            text: a reference sentence or a transcript.
            tones: keep the lexical tone (TONE3 digits, neutral tone 5, no sandhi).

        Returns:
            One item per syllable, in order; punctuation dropped.
        """
        import jieba
        from pypinyin import Style, lazy_pinyin

        if self._jieba is None:
            jieba.setLogLevel(60)
            self._jieba = jieba
        text = self._spoken_zh(text).translate(ZH_FOLD)
        style = Style.TONE3 if tones else Style.NORMAL
        units: list[str] = []
        for han, other in _HAN_OR_OTHER.findall(text):
            if han:
                words = list(jieba.cut(han))
                units.extend(lazy_pinyin(words, style=style, neutral_tone_with_five=True))
            else:
                units.extend(w.lower() for w in _LATIN_WORD.findall(other))
        return units

    def syllable_errors(
        self, references: Sequence[str], hypotheses: Sequence[str], *, tones: bool = False
    ) -> list[ErrorRate]:
        """Pinyin syllable errors (PER) of each Chinese sentence, toneless unless ``tones``.

        Args:
            references: the sentences that were synthesised.
            hypotheses: what the recogniser heard, one per reference.
            tones: count a tone difference as an error.

        Returns:
            One entry per reference: syllable edits and the reference's syllable count.

        Raises:
            ValueError: if the lists differ in length or a reference has no syllables.
        """
        if len(references) != len(hypotheses):
            raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
        if not references:
            return []
        refs = [" ".join(self.syllables(r, tones=tones)) for r in references]
        hyps = [" ".join(self.syllables(h, tones=tones)) for h in hypotheses]
        if not all(refs):
            raise ValueError("a reference sentence has no syllables")
        return _per_sentence(jiwer.process_words(refs, hyps))

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

    def _normalise_en(self, text: str) -> str:
        if self.scheme == "spoken":
            text = spoken_form(_EN_DOTTED_CLOCK.sub(r"\1:\2", text), "en")
        text = unicodedata.normalize("NFKC", text).lower()
        text = _THOUSANDS.sub("", text)
        text = _ORDINAL.sub(lambda m: f" {num2words(int(m.group(1)), to='ordinal')} ", text)
        text = _DECIMAL.sub(lambda m: f" {num2words(_number(m.group()))} ", text)
        text = _APOSTROPHES.sub("", text)
        text = _NOT_WORD.sub(" ", text.replace("_", " "))
        return " ".join(text.split())

    def _normalise_zh(self, text: str) -> str:
        if self.scheme == "spoken":
            text = self._spoken_zh(text).translate(ZH_FOLD).lower()
        else:
            text = unicodedata.normalize("NFKC", self._t2s.convert(text)).lower()
            with warnings.catch_warnings():  # cn2an warns on every numeral it cannot parse
                warnings.simplefilter("ignore")
                text = cn2an.transform(text, "cn2an")
        return "".join(ch for ch in text if ch.isalnum())

    def _spoken_zh(self, text: str) -> str:
        """Simplified characters, numbers and symbols spelled out as voxgate reads them, then NFKC."""
        text = _ZH_SPACE.sub("", self._t2s.convert(text))
        text = spoken_form(_DOTTED_CLOCK.sub(r"\1:\2", text), "zh")
        return unicodedata.normalize("NFKC", text)


def spoken_form(text: str, language: str) -> str:
    """``text`` as voxgate's front end hands it to an engine: cleaned, then normalised.

    Args:
        text: a reference sentence or a transcript (may be empty).
        language: ``en`` or ``zh``, the language of text without letters.

    Returns:
        The spoken form; ``""`` for a text with nothing speakable.
    """
    try:
        cleaned = clean_text(text, max_chars=8 * len(text) + 16)  # folding may lengthen (½ → 1/2)
    except EmptyText:
        return ""
    return normalize(cleaned, default_language="zh" if language == "zh" else "en")


def _per_sentence(output: jiwer.WordOutput | jiwer.CharacterOutput) -> list[ErrorRate]:
    """Each sentence's substitutions + deletions + insertions over its reference length."""
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


def _number(token: str) -> int | float:
    return float(token) if "." in token else int(token)
