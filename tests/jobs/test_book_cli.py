"""`voxgate book` in-process: chapters, book, index and captions in OUTDIR; a rerun picks up the same job."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from voxgate.audio.decode import decode

BOOK = """Chapter 1

The birch canoe slid on the smooth planks.

Chapter 2

Glue the sheet to the dark blue background.
"""


def _check_word_captions(vtt: str, index: dict[str, Any]) -> None:
    """Valid WebVTT, one cue per word in order (the titles are spoken too),
    times ascending, the second chapter's words inside it."""
    header, *blocks = vtt.strip().split("\n\n")
    assert header == "WEBVTT"
    words, times = [], []
    for n, block in enumerate(blocks, start=1):
        number, timing, text = block.split("\n")
        assert number == str(n)
        match = re.fullmatch(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})", timing)
        assert match is not None, timing
        h1, m1, s1, f1, h2, m2, s2, f2 = (int(g) for g in match.groups())
        start, end = h1 * 3600 + m1 * 60 + s1 + f1 / 1000, h2 * 3600 + m2 * 60 + s2 + f2 / 1000
        assert start <= end
        words.append(text)
        times.append((start, end))
    first = ["The", "birch", "canoe", "slid", "on", "the", "smooth", "planks"]
    second_words = ["Glue", "the", "sheet", "to", "the", "dark", "blue", "background"]
    assert words[0] == words[10] == "Chapter"  # the titles are spoken too ("Chapter one")
    assert words[2:10] == first
    assert words[12:] == second_words
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(times))
    second = index["chapters"][1]
    end = second["start_s"] + second["duration_s"] + 1e-3
    assert second["start_s"] <= times[10][0] <= times[-1][1] <= end


def _book(source: Path, out: Path, data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VOXGATE_DATA_DIR": str(data_dir),
        "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
        "VOXGATE_ENGINES__PIPER__WORKERS": "1",
        "VOXGATE_ENGINES__ESPEAK__WORKERS": "1",
        "COLUMNS": "120",
    }
    command = [
        sys.executable,
        "-m",
        "voxgate.cli",
        "book",
        str(source),
        "-o",
        str(out),
        "--voice",
        "joe",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_book_in_process_writes_every_file_and_a_rerun_resumes_the_same_job(tmp_path: Path) -> None:
    """Chapter files, book, index, captions and word captions are written; a rerun reuses the stored job."""
    source, out = tmp_path / "tale.txt", tmp_path / "out"
    source.write_text(BOOK)
    first = _book(source, out, tmp_path / "data", "--format", "wav")
    assert first.returncode == 0, first.stderr
    assert "2/2" in first.stderr
    assert "chars" in first.stderr
    names = sorted(p.name for p in out.iterdir() if p.is_file())
    assert names == [
        "book.wav",
        "captions.srt",
        "captions.vtt",
        "captions.words.vtt",
        "chapter-001.wav",
        "chapter-002.wav",
        "index.json",
    ]
    index = json.loads((out / "index.json").read_text())
    assert [c["title"] for c in index["chapters"]] == ["Chapter 1", "Chapter 2"]
    audio, rate = decode((out / "book.wav").read_bytes(), "wav")
    assert abs(len(audio) / rate - index["duration_s"]) < 0.01
    _check_word_captions((out / "captions.words.vtt").read_text(), index)

    second = _book(source, out, tmp_path / "data", "--format", "wav")
    assert second.returncode == 0, second.stderr
    assert f"job {index['job_id']}" in second.stderr


def test_book_refuses_a_binary_file(tmp_path: Path) -> None:
    """A binary input file is refused with exit code 2 and a message naming the problem; no engine starts."""
    source = tmp_path / "image.txt"
    source.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    done = _book(source, tmp_path / "out", tmp_path / "data")
    assert done.returncode == 2
    assert "binary file" in done.stderr


def test_book_ssml_keeps_its_breaks_and_is_refused_with_markdown_or_a_bad_speaker(tmp_path: Path) -> None:
    """--ssml: a 3 s <break> is in the chapter's audio; with a .md file or a malformed --speaker: exit 2."""
    source, out = tmp_path / "pause.txt", tmp_path / "out"
    source.write_text('<speak>Hello there.<break time="3s"/>Goodbye.</speak>\n')
    done = _book(source, out, tmp_path / "data", "--format", "wav", "--ssml")
    assert done.returncode == 0, done.stderr
    index = json.loads((out / "index.json").read_text())
    assert index["duration_s"] > 3.0 + 1.0  # the break, plus two short sentences
    words = (out / "captions.words.vtt").read_text()
    assert "speak" not in words
    assert "break" not in words

    markdown = tmp_path / "pause.md"
    markdown.write_text(source.read_text())
    refused = _book(markdown, tmp_path / "out-md", tmp_path / "data", "--ssml")
    assert refused.returncode == 2
    assert "SSML chapters cannot be Markdown" in refused.stderr
    bad = _book(source, tmp_path / "out-bad", tmp_path / "data", "--speaker", "Alice")
    assert bad.returncode == 2
    assert "NAME=VOICE" in bad.stderr


def test_book_script_gives_each_speaker_their_voice(tmp_path: Path) -> None:
    """--speaker NAME=VOICE: a script's lines are spoken by each speaker's voice (piper and espeak)."""
    source, out = tmp_path / "play.txt", tmp_path / "out"
    source.write_text("Alice: Good morning, how are you?\nBob: Very well, thank you.\n")
    done = _book(source, out, tmp_path / "data", "--speaker", "Alice=joe", "--speaker", "Bob=espeak-en-us")
    assert done.returncode == 0, done.stderr
    assert "piper" in done.stderr
    assert "espeak" in done.stderr
