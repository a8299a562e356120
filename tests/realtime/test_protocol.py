"""Client frames: commands parsed, bad frames refused with the field at fault."""

from __future__ import annotations

import pytest

from voxgate.realtime.protocol import Command, CommandType, FrameError, parse_command


@pytest.mark.parametrize(
    ("frame", "command"),
    [
        ('{"type": "speak", "text": " Hello"}', Command(CommandType.SPEAK, " Hello")),
        ('{"type": "Flush"}', Command(CommandType.FLUSH)),
        ('{"type": "CLEAR", "extra": 1}', Command(CommandType.CLEAR)),
        ('{"type": "close"}', Command(CommandType.CLOSE)),
    ],
)
def test_commands_parse_in_any_case(frame: str, command: Command) -> None:
    """speak/flush/clear/close parse (Deepgram's capitalised names too); unknown fields are ignored."""
    assert parse_command(frame, 1024) == command


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        (b"\x00\x01", "binary_frame", "frame"),
        ("{not json", "invalid_json", "frame"),
        ("[1, 2]", "invalid_frame", "frame"),
        ('{"text": "hi"}', "invalid_frame", "type"),
        ('{"type": "dance"}', "unknown_type", "type"),
        ('{"type": "speak"}', "invalid_frame", "text"),
        ('{"type": "speak", "text": 5}', "invalid_frame", "text"),
        ('{"type": "speak", "text": "' + "x" * 2000 + '"}', "frame_too_large", "frame"),
    ],
)
def test_bad_frames_name_the_field(frame: str | bytes, code: str, field: str) -> None:
    """Each malformed frame raises FrameError with its code and the field at fault."""
    with pytest.raises(FrameError) as caught:
        parse_command(frame, 1024)
    assert (caught.value.code, caught.value.field) == (code, field)
