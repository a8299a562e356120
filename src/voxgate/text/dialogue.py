"""The text front end for a dialogue: turns, each with its own voice, become one :class:`PreparedText`.

A dialogue is the SSML front end's output built without markup: every turn is one block in
its voice (``<voice name>``), and a turn's pause is an exact silence before the next turn
(``<break time>``). Each turn's text goes through the ordinary front end (clean, normalise,
segment), so the cache key, the chains per voice, assembly and streaming are SSML's.

Every segment carries the index of the turn it belongs to (``PreparedSegment.turn``), so the
answer can say which turns were degraded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from voxgate.errors import InvalidInput, TextTooLong
from voxgate.text import PreparedSegment, PreparedText
from voxgate.text.language import detect_language
from voxgate.text.lexicon import Lexicon
from voxgate.text.ssml import MAX_BREAK_S, SsmlDocument, SsmlItem, SsmlText, Style
from voxgate.text.ssml_prepare import prepare_ssml
from voxgate.types import LanguageCode

__all__ = ["DEFAULT_TURN_PAUSE_S", "MAX_TURNS", "DialogueTurn", "prepare_dialogue"]

DEFAULT_TURN_PAUSE_S = 0.3
"""Silence between two turns when a turn does not say (``pause_ms``)."""
MAX_TURNS = 500
"""Most turns in one dialogue."""


@dataclass(frozen=True, slots=True)
class DialogueTurn:
    """One turn of a dialogue.

    Attributes:
        voice: a voxgate voice id (checked by the caller).
        text: plain text (not SSML).
        pause_s: exact silence after this turn, before the next; ``None`` = the default.
    """

    voice: str
    text: str
    pause_s: float | None = None


def prepare_dialogue(
    turns: Sequence[DialogueTurn],
    *,
    max_chars: int,
    max_segment_chars: int,
    known_voice: Callable[[str], bool],
    voice_languages: Callable[[str], tuple[LanguageCode, ...]] | None = None,
    default_pause_s: float = DEFAULT_TURN_PAUSE_S,
    field: str = "dialogue",
    max_turns: int = MAX_TURNS,
    lexicon: Lexicon | None = None,
) -> PreparedText:
    """The front end for a dialogue.

    Args:
        turns: the turns in order (at least one).
        max_chars: the limit on all turns' characters together.
        max_segment_chars: the longest segment to hand to an engine.
        known_voice: whether a voice id exists.
        voice_languages: the languages a voice reads (text a voice cannot read is taken to be
            in its first language, as in SSML's ``<voice>``).
        default_pause_s: the pause after a turn that does not give one.
        field: the request field to name in errors (``dialogue[3].voice``).
        max_turns: the most turns accepted (a book's script chapter may have more than a request).
        lexicon: a pronunciation lexicon to apply to every turn.

    Returns:
        The prepared text: every segment has its turn's voice and turn index; the first segment of
        every turn but the first has the previous turn's pause as its exact pause; the last
        turn's pause is not added (nothing follows it).

    Raises:
        InvalidInput: no turns, too many, an unknown voice, a pause out of range (naming the turn).
        TextTooLong: more than ``max_chars`` characters in all turns together.
        EmptyText: a turn with nothing speakable (naming ``dialogue[i].text``).
    """
    if not turns:
        raise InvalidInput(field, "give at least one turn")
    if len(turns) > max_turns:
        raise InvalidInput(field, f"{len(turns)} turns; at most {max_turns}")
    total = sum(len(t.text) for t in turns)
    if total > max_chars:
        raise TextTooLong(total, max_chars, field=field)
    for i, turn in enumerate(turns):
        if not known_voice(turn.voice):
            raise InvalidInput(f"{field}[{i}].voice", f"unknown voice {turn.voice!r}")
        if turn.pause_s is not None and not 0 <= turn.pause_s <= MAX_BREAK_S:
            limit_ms = round(MAX_BREAK_S * 1000)
            raise InvalidInput(f"{field}[{i}].pause_ms", f"pause must be between 0 and {limit_ms} ms")
    segments: list[PreparedSegment] = []
    texts: list[str] = []
    pause: float | None = None
    changed = False
    for i, turn in enumerate(turns):
        items: tuple[SsmlItem, ...] = (SsmlText(turn.text, Style(voice=turn.voice)),)
        if lexicon is not None and lexicon.matches(turn.text):
            items, changed = tuple(lexicon.rewrite(items, paragraphs=True)), True
        document = SsmlDocument(items, ())
        prepared = prepare_ssml(
            document,
            max_chars=max_chars,
            max_segment_chars=max_segment_chars,
            field=f"{field}[{i}].text",
            voice_languages=voice_languages,
        )
        own = [replace(s, turn=i) for s in prepared.segments]
        own[0] = replace(own[0], pause_before_s=pause)
        if segments:
            segments[-1] = replace(segments[-1], paragraph_end=False)
        segments.extend(own)
        texts.append(prepared.text)
        pause = default_pause_s if turn.pause_s is None else turn.pause_s
    joined = "\n\n".join(texts)
    return PreparedText(
        text=joined,
        language=detect_language(joined),
        segments=tuple(segments),
        ssml=True,
        lexicon=lexicon.version if changed and lexicon is not None else "",
    )
