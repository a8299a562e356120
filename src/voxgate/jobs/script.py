"""Scripts: a chapter whose lines ``Name: text`` are dialogue turns, each speaker in its own voice.

Rules (a job with ``script: true`` and a ``speakers`` map of name → voice id):

- A line ``Name: text`` starts a turn in that speaker's voice when ``Name`` is in the
  ``speakers`` map (ignoring case). A line that looks like one (at most three words of at most
  40 characters, no digits, none starting with a lower-case letter, then ``:`` or ``：``) but
  names no speaker refuses the job at submission, naming the name, chapter and line; so a
  misspelt speaker is caught while ``It was 10:30`` or ``He said: go`` stay narration.
- Any other line continues the turn before it (a blank line inside a turn is a paragraph
  break). Lines before the chapter's first speaker line, and the chapter title, are read by the
  narrator: the ``speakers`` entry ``narrator`` if there is one, else the job's voice.
- Turns are separated by an exact pause (:data:`voxgate.text.dialogue.DEFAULT_TURN_PAUSE_S`).

Pure functions, linear in the text (the speaker pattern reads at most 42 characters of a line).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from voxgate.errors import InvalidInput
from voxgate.text import is_speakable
from voxgate.text.dialogue import DialogueTurn

__all__ = ["NARRATOR", "script_turns"]

NARRATOR = "narrator"
"""The ``speakers`` name whose voice reads lines outside any turn (and chapter titles)."""
_SPEAKER = re.compile(r"[ \t]*+([^\W\d_][\w .'’-]{0,39}?)[ \t]*[:：][ \t]*+")


def _looks_like_name(name: str) -> bool:
    words = name.split()
    return len(words) <= 3 and not any(c.isdigit() for c in name) and not any(w[0].islower() for w in words)


def script_turns(
    text: str,
    speakers: Mapping[str, str],
    *,
    narrator: str,
    title: str = "",
    chapter: int = 1,
    field: str = "text",
) -> list[DialogueTurn]:
    """Split one chapter of a script into turns.

    Args:
        text: the chapter text.
        speakers: speaker name → voice id (names compared ignoring case).
        narrator: the voice of lines before the first speaker line, and of ``title``.
        title: a chapter title to read first ("" = none).
        chapter: the chapter's number, for errors.
        field: the request field to name in errors.

    Returns:
        The turns in order (empty if nothing in the chapter is speakable).

    Raises:
        InvalidInput: a speaker line whose name is not in ``speakers`` (naming it, the chapter
            and the line, counted from 1 in the chapter's text).
    """
    voices = {name.casefold(): voice for name, voice in speakers.items()}
    turns: list[tuple[str, list[str]]] = []
    if title and is_speakable(title):
        turns.append((narrator, [title]))
    current: tuple[str, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SPEAKER.match(line)
        name = match.group(1).strip() if match is not None else ""
        voice = voices.get(name.casefold()) if name else None
        if match is not None and (voice is not None or _looks_like_name(name)):
            if voice is None:
                raise InvalidInput(
                    field,
                    f"chapter {chapter}, line {number}: unknown speaker {name!r}; "
                    f"add it to speakers (known: {', '.join(sorted(speakers)) or 'none'})",
                )
            current = (voice, [line[match.end() :]])
            turns.append(current)
        elif current is not None:
            current[1].append(line)
        elif is_speakable(line):
            current = (narrator, [line])
            turns.append(current)
    return [
        DialogueTurn(voice, "\n".join(lines).strip())
        for voice, lines in turns
        if is_speakable("\n".join(lines))
    ]
