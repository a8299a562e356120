"""Sentence segmentation for English, Chinese and mixed text, with a hard length bound.

A text is split into paragraphs, each paragraph into sentences, and any sentence longer than
``max_chars`` (symbols that engines spell out, such as ``*``, count :data:`SPELLED_WEIGHT` each)
into pieces at clause punctuation, then between words, then (for a single word
that is still too long) at ``max_chars``. Pieces with nothing speakable (stray punctuation)
join the piece before them, or are dropped when that would break the bound.

Paragraphs: if the text has a blank line anywhere, blank lines separate paragraphs and single
line breaks are only wrapping (joined with a space, or with nothing between CJK characters);
otherwise every line is a paragraph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from voxgate.text.clean import is_speakable

_CJK_STOPS = "。！？；"
_ASCII_STOPS = ".!?"
_STOPS = _CJK_STOPS + _ASCII_STOPS + "…"
_CLOSERS = "\"'”’」』）)】》]}〉»›"
_OPENERS = "\"'“‘「『（(【《[{〈«‹"
_CLAUSE_RE = re.compile(r"(?<=[，、；：—])|(?<=[,;:])(?![0-9])")
_WIDE = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f"
_WIDE_RE = re.compile(f"[{_WIDE}]")
_TOKEN_RE = re.compile(rf"(?:[^\W_{_WIDE}]+(?:['’\-.][^\W_{_WIDE}]+)*|\S)\s*")
"""A word (letters or digits, with inner apostrophes, hyphens, periods) or any other single
character; CJK characters are wide, so each of them is a token of its own."""
_WORD_BEFORE_RE = re.compile(r"([A-Za-z.]+)$")
_BLANK_LINE_RE = re.compile(r"\n[^\S\n]*\n")
SPELLED_WEIGHT = 8
"""What a symbol that engines spell out counts towards a segment's length (``*`` is read
"asterisk": a 250-character segment of ``**a **a ...`` was 1 286 phonemes, 77 s of audio and
1.7 GB of piper memory)."""
_SPELLED = frozenset("*#_~=+^|@&%/\\<>{}[]`$€£¥°§¶©®™")
_NO_BREAK_AFTER = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "mt", "rev", "gen", "capt", "sgt", "lt", "col", "gov", "sen"}
    | {"rep", "jr", "sr", "vs", "cf", "fig", "approx", "al", "jan", "feb", "mar", "apr", "jun", "jul"}
    | {"aug", "sep", "sept", "oct", "nov", "dec"}
)
"""Words whose period does not end a sentence (``Dr. Smith``, ``Nov. 24``)."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A sentence, or a piece of one, short enough to synthesise in one call.

    Attributes:
        text: the segment text, stripped, without line breaks.
        paragraph_end: a paragraph break follows this segment (a longer pause belongs here);
            False for the last segment of the text.
    """

    text: str
    paragraph_end: bool = False


def spoken_length(text: str) -> int:
    """A text's length as a segment limit counts it: symbols engines spell out weigh more.

    Args:
        text: any text.

    Returns:
        ``len(text)``, plus ``SPELLED_WEIGHT - 1`` for each symbol such as ``*``, ``#`` or ``_``.
    """
    extra = sum(1 for c in text if c in _SPELLED)
    return len(text) + (SPELLED_WEIGHT - 1) * extra if extra else len(text)


def _is_wide(char: str) -> bool:
    """Whether ``char`` is a CJK character or CJK/fullwidth punctuation (written without spaces)."""
    return _WIDE_RE.match(char) is not None


def _paragraphs(text: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not _BLANK_LINE_RE.search(text):
        return [line.strip() for line in text.split("\n") if line.strip()]
    paragraphs = []
    for block in _BLANK_LINE_RE.split(text):
        parts: list[str] = []  # joined once at the end: linear however many lines a block has
        for line in (part.strip() for part in block.split("\n")):
            if line:
                if parts and not (_is_wide(parts[-1][-1]) and _is_wide(line[0])):
                    parts.append(" ")
                parts.append(line)
        if parts:
            paragraphs.append("".join(parts))
    return paragraphs


def _starts_sentence(text: str, index: int) -> bool:
    """Whether the first non-space character from ``index`` can open a sentence."""
    rest = text[index : index + 8].lstrip()
    if not rest:
        return True
    first = rest[0]
    return first.isupper() or first.isdigit() or first in _OPENERS or _is_wide(first)


def _is_boundary(text: str, start: int, stop: int, end: int) -> bool:
    """Whether the stop characters ``text[start:stop]`` (closers up to ``end``) end a sentence."""
    stops = text[start:stop]
    if end >= len(text):
        return True
    if any(c in _CJK_STOPS for c in stops):
        return True
    following = text[end]
    if "…" in stops or stops.startswith(".."):
        return following.isspace() and _starts_sentence(text, end)
    if _is_wide(following):
        return True
    if not following.isspace():
        return False
    rest = text[end : end + 8].lstrip()
    if rest and rest[0].islower():
        return False
    if stops == ".":
        match = _WORD_BEFORE_RE.search(text, max(0, start - 20), start)
        word = match.group(1) if match else ""
        if word.lower() in _NO_BREAK_AFTER or "." in word or (len(word) == 1 and word.isupper()):
            return False
    return True


def split_sentences(paragraph: str) -> list[str]:
    """Split one paragraph into sentences at 。！？；!?. and ellipses.

    Closing quotes and brackets stay with the sentence they close; stray punctuation with
    nothing speakable stays with the sentence before it. A period does not end a sentence
    inside a number (``3.14``), after an abbreviation or initial (``Dr. Smith``, ``e.g.``,
    ``U.S.``, ``J. Smith``) or before a lowercase word; an ellipsis ends one only before
    whitespace and a capital, digit or CJK character.

    Args:
        paragraph: text without line breaks.

    Returns:
        The sentences, stripped, in order (empty pieces are dropped).
    """
    # Linear time (issue 11): a sentence is kept as a list of parts (stray punctuation appended to
    # it) and joined once; speakability is tracked as the text is read, never re-checked from
    # ``begin`` (". . . . ." used to re-read the whole growing piece at every period).
    sentences: list[list[str]] = []
    begin = index = checked = 0
    speakable = False  # paragraph[begin:checked] has a letter or digit
    while index < len(paragraph):
        if paragraph[index] not in _STOPS:
            index += 1
            continue
        stop = index
        while stop < len(paragraph) and paragraph[stop] in _STOPS:
            stop += 1
        end = stop
        while end < len(paragraph) and paragraph[end] in _CLOSERS:
            end += 1
        if _is_boundary(paragraph, index, stop, end):
            speakable = speakable or is_speakable(paragraph[checked:end])
            checked = end
            if speakable:
                sentences.append([paragraph[begin:end]])
                begin, speakable = end, False
            elif sentences:  # stray punctuation stays with the sentence before it
                sentences[-1].append(paragraph[begin:end])
                begin = end
        index = end
    tail = paragraph[begin:]
    if sentences and not (speakable or is_speakable(paragraph[checked:])):
        sentences[-1].append(tail)
    else:
        sentences.append([tail])
    return [s for s in ("".join(parts).strip() for parts in sentences) if s]


def _pack(pieces: list[str], max_chars: int, refine: Callable[[str, int], list[str]]) -> list[str]:
    """Greedily join consecutive pieces into chunks of at most ``max_chars`` (after stripping).

    A piece that is too long on its own is split by ``refine``; a chunk with nothing speakable
    (stray punctuation) is appended to the chunk before it when that still fits.
    """
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if spoken_length(piece.strip()) > max_chars:
            chunks.append(current)
            refined = refine(piece.strip(), max_chars)
            chunks.extend(refined[:-1])
            current = refined[-1] + piece[len(piece.rstrip()) :]
        elif spoken_length((current + piece).strip()) <= max_chars:
            current += piece
        else:
            chunks.append(current)
            current = piece
    chunks.append(current)
    merged: list[str] = []
    for chunk in (c for c in chunks if c.strip()):
        if merged and not is_speakable(chunk) and spoken_length((merged[-1] + chunk).strip()) <= max_chars:
            merged[-1] += chunk
        else:
            merged.append(chunk)
    return [chunk.strip() for chunk in merged]


def _hard_cut(text: str, max_chars: int) -> list[str]:
    """Cut ``text`` into pieces whose :func:`spoken_length` is at most ``max_chars``."""
    pieces: list[str] = []
    start = weight = 0
    for index, char in enumerate(text):
        step = SPELLED_WEIGHT if char in _SPELLED else 1
        if weight + step > max_chars and index > start:
            pieces.append(text[start:index])
            start, weight = index, 0
        weight += step
    pieces.append(text[start:])
    return pieces


def _by_words(text: str, max_chars: int) -> list[str]:
    return _pack(_TOKEN_RE.findall(text), max_chars, _hard_cut)


def fit(sentence: str, max_chars: int) -> list[str]:
    """Split a sentence into pieces of at most ``max_chars`` (as :func:`spoken_length` counts).

    Args:
        sentence: one sentence.
        max_chars: the largest piece length; a symbol engines spell out (``*``) counts
            :data:`SPELLED_WEIGHT`, so no piece makes an engine read dozens of "asterisk"s.

    Returns:
        The sentence itself if it fits; otherwise pieces cut at clause punctuation (，、,;:),
        then between words (a CJK character counts as a word), then every ``max_chars``.
    """
    if spoken_length(sentence) <= max_chars:
        return [sentence]
    return _pack(_CLAUSE_RE.split(sentence), max_chars, _by_words)


def segment(text: str, max_chars: int) -> list[Segment]:
    """Split text into sentence segments no longer than ``max_chars``.

    Args:
        text: cleaned (and preferably normalised) text; ``"\\n\\n"`` marks paragraphs.
        max_chars: the largest segment length in characters.

    Returns:
        The segments in order; empty if the text has nothing speakable.

    Raises:
        ValueError: ``max_chars`` is below 1.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, not {max_chars}")
    segments: list[Segment] = []
    for paragraph in _paragraphs(text):
        pieces = [p for s in split_sentences(paragraph) for p in fit(s, max_chars) if is_speakable(p)]
        segments.extend(Segment(p, paragraph_end=i == len(pieces) - 1) for i, p in enumerate(pieces))
    if segments:
        segments[-1] = Segment(segments[-1].text, paragraph_end=False)
    return segments
