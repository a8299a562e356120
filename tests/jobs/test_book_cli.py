"""`voxgate book` in-process: chapters, book, index and captions in OUTDIR; a rerun picks up the same job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from voxgate.audio.decode import decode

BOOK = """Chapter 1

The birch canoe slid on the smooth planks.

Chapter 2

Glue the sheet to the dark blue background.
"""


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
    """Chapter files, book, index and captions are written; running again reuses the stored job."""
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
        "chapter-001.wav",
        "chapter-002.wav",
        "index.json",
    ]
    index = json.loads((out / "index.json").read_text())
    assert [c["title"] for c in index["chapters"]] == ["Chapter 1", "Chapter 2"]
    audio, rate = decode((out / "book.wav").read_bytes(), "wav")
    assert abs(len(audio) / rate - index["duration_s"]) < 0.01

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
