"""`voxgate say --ssml`: an SSML document spoken, breaks and all; bad SSML exits 2 with the position."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from voxgate.audio.decode import decode
from voxgate.cli import app


@pytest.fixture
def say(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VOXGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, ["say", "--ssml", "-v", "espeak-en-us", *args])

    return run


def test_say_ssml_speaks_breaks_and_reports_what_it_ignored(say, tmp_path: Path) -> None:
    """A 1 s break makes the file 1 s longer than a 0 s one; an unknown tag is reported as ignored."""
    seconds = []
    for pause in ("0ms", "1s"):
        out = tmp_path / f"{pause}.wav"
        done = say("-o", str(out), f'<speak>One <break time="{pause}"/> two <foo>three</foo></speak>')
        assert done.exit_code == 0, done.output
        assert "ignored: ssml:foo" in " ".join(done.output.split())
        audio, rate = decode(out.read_bytes(), "wav")
        seconds.append(len(audio) / rate)
    assert abs(seconds[1] - seconds[0] - 1.0) < 0.01


def test_say_ssml_with_malformed_xml_exits_2_naming_the_position(say, tmp_path: Path) -> None:
    """Malformed SSML is an error message with line and column, exit code 2, no file."""
    done = say("-o", str(tmp_path / "x.wav"), "<speak>One <b>two</speak>")
    assert done.exit_code == 2
    assert "line 1, column" in " ".join(done.output.split())
    assert not (tmp_path / "x.wav").exists()
