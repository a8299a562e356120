"""Scripts: lines ``Name: text`` become turns in the speaker's voice; everything else is narration."""

from __future__ import annotations

import time

import pytest

from voxgate.errors import InvalidInput
from voxgate.jobs.script import script_turns
from voxgate.text.dialogue import DialogueTurn

SPEAKERS = {"Alice": "joe", "Bob": "espeak-en-us"}


def test_lines_become_turns_and_other_lines_continue_or_narrate() -> None:
    """Narration before the first speaker, continuation lines, case-insensitive names, colons in narration."""
    text = "Once upon a time.\nIt was 10:30.\nALICE: Hello Bob.\nHow are you?\n\nbob: Fine. He said: go."
    turns = script_turns(text, SPEAKERS, narrator="N", title="Chapter 1")
    assert turns == [
        DialogueTurn("N", "Chapter 1"),
        DialogueTurn("N", "Once upon a time.\nIt was 10:30."),
        DialogueTurn("joe", "Hello Bob.\nHow are you?"),
        DialogueTurn("espeak-en-us", "Fine. He said: go."),
    ]


def test_an_unknown_speaker_is_named_with_chapter_and_line() -> None:
    """A line that looks like a speaker line but names nobody → InvalidInput with name, chapter and line."""
    with pytest.raises(InvalidInput) as caught:
        script_turns("Alice: Hi.\n\nCarol: Who?", SPEAKERS, narrator="N", chapter=2, field="file")
    assert caught.value.field == "file"
    assert "'Carol'" in caught.value.message
    assert "chapter 2, line 3" in caught.value.message


def test_adversarial_lines_are_linear() -> None:
    """200 000 characters of near-speaker lines are split in well under a second (a huge margin)."""
    text = ("A" * 39 + " x" * 30 + "\n") * 2000
    started = time.perf_counter()
    script_turns(text, SPEAKERS, narrator="N")
    assert time.perf_counter() - started < 2.0
