"""The text front end: clean, normalise (per language run) and segment text for the engines.

Pure, fast and deterministic: no I/O, no global state. The one entry point most callers need is
:func:`prepare`; the steps are public for callers that need only one of them.

Example:
    >>> prepared = prepare("It costs $3.50. Then we go.", max_chars=5000, max_segment_chars=200)
    >>> [s.text for s in prepared.segments]
    ['It costs three dollars and fifty cents.', 'Then we go.']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxgate.errors import EmptyText
from voxgate.text.clean import clean_text, is_speakable
from voxgate.text.language import LanguageRun, detect_language, split_language_runs
from voxgate.text.normalize import normalize, normalize_run
from voxgate.text.segment import Segment, segment, split_sentences
from voxgate.types import LanguageCode, Prosody

__all__ = [
    "LanguageRun",
    "PreparedSegment",
    "PreparedText",
    "Segment",
    "clean_text",
    "detect_language",
    "is_speakable",
    "normalize",
    "normalize_run",
    "prepare",
    "segment",
    "split_language_runs",
    "split_sentences",
]


@dataclass(frozen=True, slots=True)
class PreparedSegment:
    """One normalised segment, ready for an engine.

    Attributes:
        text: the segment text (normalised; no digits in en/zh/ja runs).
        language: the segment's dominant language.
        paragraph_end: a paragraph break follows (insert a longer pause); False for the last.
        runs: the segment split into language runs, for engines that read one language per call.
        voice: the voice that speaks it (SSML ``<voice>``); ``None`` = the request's.
        prosody: SSML rate, pitch and volume.
        pause_before_s: exact silence before it (SSML ``<break>``); ``None`` = the usual pause
            (a sentence or paragraph pause; nothing before the first segment).
        phonemes: SSML ``<phoneme ph>``: what engines with phoneme input say instead of ``text``.
        alphabet: the alphabet of ``phonemes`` (``ipa``, ``pinyin``).
        turn: the index of the dialogue turn it belongs to (see :mod:`voxgate.text.dialogue`).
    """

    text: str
    language: LanguageCode
    paragraph_end: bool
    runs: tuple[LanguageRun, ...]
    voice: str | None = None
    prosody: Prosody = field(default_factory=Prosody)
    pause_before_s: float | None = None
    phonemes: str | None = None
    alphabet: str = "ipa"
    turn: int | None = None


@dataclass(frozen=True, slots=True)
class PreparedText:
    """A request's text after the whole front end.

    Attributes:
        text: the cleaned, normalised text (paragraphs separated by ``"\\n\\n"``); hash this for
            cache keys.
        language: the dominant language of the whole text.
        segments: the segments to synthesise, in order (never empty).
        trailing_s: exact silence after the last segment (SSML ``<break>`` at the end).
        ignored: SSML elements and attributes that were dropped (``ssml:foo``, ``ssml:prosody@contour``).
        marks: SSML ``<mark>`` names, each with the index of the segment it precedes.
        ssml: the text was an SSML document.
        lexicon: the version of the pronunciation lexicon that changed it ("" = none did).
    """

    text: str
    language: LanguageCode
    segments: tuple[PreparedSegment, ...]
    trailing_s: float = 0.0
    ignored: tuple[str, ...] = ()
    marks: tuple[tuple[str, int], ...] = ()
    ssml: bool = False
    lexicon: str = ""

    def key_text(self) -> str:
        """What the audio cache key hashes: the text, or for SSML every segment's controls too;
        and the version of a lexicon that changed it."""
        prefix = f"lexicon:{self.lexicon}\x1e" if self.lexicon else ""
        if not self.ssml:
            return prefix + self.text
        parts = [
            f"{s.text}\x1f{s.language}\x1f{s.paragraph_end}\x1f{s.voice}\x1f{s.prosody!r}\x1f"
            f"{s.pause_before_s!r}\x1f{s.phonemes}\x1f{s.alphabet}"
            for s in self.segments
        ]
        return prefix + "ssml\x1e" + "\x1e".join(parts) + f"\x1e{self.trailing_s!r}"


def prepare(
    text: str,
    *,
    max_chars: int,
    max_segment_chars: int,
    default_language: LanguageCode = "en",
) -> PreparedText:
    """Clean, normalise and segment a request's text.

    Args:
        text: the text as the client sent it.
        max_chars: the request's length limit, counted after cleaning.
        max_segment_chars: the longest segment to hand to an engine in one call.
        default_language: the language of text with no letters at all (``"123"``).

    Returns:
        The normalised text, its dominant language and its segments.

    Raises:
        InvalidInput: the text is not valid Unicode (a lone surrogate).
        TextTooLong: the cleaned text is longer than ``max_chars``.
        EmptyText: nothing speakable remains after cleaning.
        ValueError: ``max_chars`` or ``max_segment_chars`` is below 1.
    """
    cleaned = clean_text(text, max_chars=max_chars)
    language = detect_language(cleaned, default_language=default_language)
    normalised = normalize(cleaned, default_language=language)
    segments = tuple(
        PreparedSegment(
            text=piece.text,
            language=detect_language(piece.text, default_language=language),
            paragraph_end=piece.paragraph_end,
            runs=tuple(split_language_runs(piece.text, default_language=language)),
        )
        for piece in segment(normalised, max_segment_chars)
    )
    if not segments:
        raise EmptyText()
    return PreparedText(text=normalised, language=language, segments=segments)
