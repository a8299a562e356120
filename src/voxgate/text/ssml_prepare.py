"""The text front end for SSML: a parsed document becomes a :class:`PreparedText` whose
segments carry their own voice, prosody, exact pauses and phonemes.

Text in one style between two breaks or style changes is a *block*; each block goes through
the ordinary front end (clean, normalise, segment), so numbers, dates and sentences are read
as in plain text. ``say-as`` content is read by :func:`voxgate.text.say_as.say_as` first.

Pauses between segments:
- after ``<break>``: exactly its time (consecutive breaks add up);
- after ``</s>`` / ``</p>``, or inside a block between sentences: the usual sentence / paragraph pause;
- where the voice changes: the usual sentence pause;
- where only the style changes mid-sentence (``I am <emphasis>very</emphasis> sure``): none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from voxgate.errors import EmptyText, TextTooLong
from voxgate.text import PreparedSegment, PreparedText
from voxgate.text.clean import clean_text, is_speakable
from voxgate.text.language import detect_language, split_language_runs
from voxgate.text.normalize import NORMALIZERS, normalize, normalize_run
from voxgate.text.say_as import say_as
from voxgate.text.segment import segment
from voxgate.text.ssml import SsmlBoundary, SsmlBreak, SsmlDocument, SsmlMark, SsmlText, Style
from voxgate.types import LanguageCode

__all__ = ["prepare_ssml"]

_SENTENCE_END = ".!?。！？…;；:：,，"
_WIDE_START = "\u2e80"
_NO_SPACE_BEFORE = ".,;:!?)]}…"


@dataclass(slots=True)
class _Block:
    style: Style
    parts: list[str]
    pause_before_s: float | None
    phonemes: str | None = None
    alphabet: str = "ipa"
    paragraph_end: bool = False
    marks: list[str] = field(default_factory=list)


def _join(parts: list[str]) -> str:
    """Join pieces of one block; no space is added between two CJK characters."""
    out = ""
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if (
            out
            and part[0] not in _NO_SPACE_BEFORE
            and not (out[-1] >= _WIDE_START and part[0] >= _WIDE_START)
        ):
            out += " "
        out += part
    return out


def _blocks(document: SsmlDocument, doc_language: LanguageCode) -> tuple[list[_Block], float, list[str]]:
    """Group the document's items into blocks; returns them, the trailing silence and end marks."""
    blocks: list[_Block] = []
    exact: float | None = None  # breaks since the last block
    boundary = False  # a </s> or </p> since the last block
    marks: list[str] = []
    for item in document.items:
        if isinstance(item, SsmlBreak):
            exact = (exact or 0.0) + item.seconds
        elif isinstance(item, SsmlBoundary):
            boundary = True
            if item.paragraph and blocks:
                blocks[-1].paragraph_end = True
        elif isinstance(item, SsmlMark):
            marks.append(item.name)
        elif isinstance(item, SsmlText):
            text = item.text
            if item.say_as is not None:
                language = item.style.language or doc_language
                text = say_as(item.say_as[0], text.strip(), language, date_format=item.say_as[1])
            last = blocks[-1] if blocks else None
            if (
                last is not None
                and exact is None
                and not boundary
                and not marks
                and last.style == item.style
                and last.phonemes is None
                and item.phonemes is None
            ):
                last.parts.append(text)
                continue
            if exact is not None:
                pause: float | None = exact
            elif boundary or last is None or last.style.voice != item.style.voice:
                pause = None
            else:  # a style change: mid-sentence, no pause; after a sentence's end, the usual one
                tail = _join(last.parts)
                pause = None if tail and tail[-1] in _SENTENCE_END else 0.0
            blocks.append(
                _Block(item.style, [text], pause, item.phonemes, item.alphabet or "ipa", marks=marks)
            )
            exact, boundary, marks = None, False, []
    return blocks, exact or 0.0, marks


def prepare_ssml(
    document: SsmlDocument,
    *,
    max_chars: int,
    max_segment_chars: int,
    default_language: LanguageCode = "en",
    field: str = "text",
    voice_languages: Callable[[str], tuple[LanguageCode, ...]] | None = None,
) -> PreparedText:
    """The front end for a parsed SSML document.

    Args:
        document: from :func:`voxgate.text.ssml.parse_ssml`.
        max_chars: the request's limit on spoken characters (after cleaning), markup not counted.
        max_segment_chars: the longest segment to hand to an engine.
        default_language: the language of text with no letters and no ``xml:lang``.
        field: the request field to name in errors.
        voice_languages: the languages a voice reads: text in a ``<voice>`` without ``xml:lang``
            whose detected language the voice cannot read is taken to be in the voice's first
            language (script-based detection calls any Latin text English).

    Returns:
        The prepared text; its segments carry voice, prosody, pauses and phonemes.

    Raises:
        TextTooLong: more than ``max_chars`` spoken characters.
        EmptyText: nothing speakable.
    """
    raw = " ".join(i.text for i in document.items if isinstance(i, SsmlText))
    doc_language = detect_language(raw, default_language=default_language) if raw.strip() else "en"
    blocks, trailing_s, end_marks = _blocks(document, doc_language)
    segments: list[PreparedSegment] = []
    texts: list[str] = []
    marks: list[tuple[str, int]] = []
    total = 0
    carried: float | None = None  # pause of a block that had nothing to say
    for block in blocks:
        text = _join(block.parts)
        if not is_speakable(text):
            if block.paragraph_end and segments:  # "<p>A <phoneme>word</phoneme>.</p>": the "." ends it
                segments[-1] = replace(segments[-1], paragraph_end=True)
            if block.pause_before_s is not None:
                carried = (carried or 0.0) + block.pause_before_s
            marks.extend((name, len(segments)) for name in block.marks)
            continue
        cleaned = clean_text(text, max_chars=max_chars, field=field)
        total += len(cleaned)
        if total > max_chars:
            raise TextTooLong(total, max_chars, field=field)
        hint = block.style.language
        forced = hint is not None and hint not in NORMALIZERS
        language = (
            hint if forced and hint else detect_language(cleaned, default_language=hint or doc_language)
        )
        spoken = voice_languages(block.style.voice) if block.style.voice and voice_languages else ()
        if hint is None and spoken and language not in spoken:  # <voice name="espeak-de">Guten Tag
            language, forced = spoken[0], spoken[0] not in NORMALIZERS
        normalised = (
            normalize_run(cleaned, language) if forced else normalize(cleaned, default_language=language)
        )
        if block.phonemes is not None:
            pieces = [(normalised, False)]
        else:
            pieces = [(s.text, s.paragraph_end) for s in segment(normalised, max_segment_chars)]
        if not pieces:
            continue
        pause = block.pause_before_s
        if carried is not None:
            pause, carried = (pause or 0.0) + carried, None
        marks.extend((name, len(segments)) for name in block.marks)
        for index, (piece, paragraph_end) in enumerate(pieces):
            piece_language = language if forced else detect_language(piece, default_language=language)
            segments.append(
                PreparedSegment(
                    text=piece,
                    language=piece_language,
                    paragraph_end=paragraph_end,
                    runs=tuple(split_language_runs(piece, default_language=piece_language)),
                    voice=block.style.voice,
                    prosody=block.style.prosody,
                    pause_before_s=pause if index == 0 else None,
                    phonemes=block.phonemes,
                    alphabet=block.alphabet,
                )
            )
        if block.paragraph_end:
            segments[-1] = replace(segments[-1], paragraph_end=True)
        texts.append(normalised)
    if not segments:
        raise EmptyText(field=field)
    segments[-1] = replace(segments[-1], paragraph_end=False)
    marks.extend((name, len(segments)) for name in end_marks)
    return PreparedText(
        text="\n\n".join(texts),
        language=detect_language(" ".join(texts), default_language=doc_language),
        segments=tuple(segments),
        trailing_s=trailing_s + (carried or 0.0),
        ignored=document.ignored,
        marks=tuple(marks),
        ssml=True,
    )
