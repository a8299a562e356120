"""The chapter index (JSON) and per-sentence captions (WebVTT, SRT) of a rendered book."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voxgate.audio.formats import format_spec
from voxgate.jobs.assemble import Timeline
from voxgate.jobs.models import ChapterRecord, JobRecord

__all__ = ["book_file_name", "chapter_file_name", "chapter_index", "srt", "webvtt", "word_webvtt"]


def chapter_file_name(n: int, extension: str) -> str:
    """The download name of chapter ``n`` (the CLI writes the same names)."""
    return f"chapter-{n:03d}.{extension}"


def book_file_name(extension: str) -> str:
    """The download name of the whole book."""
    return f"book.{extension}"


def chapter_index(job: JobRecord, chapters: Sequence[ChapterRecord], line: Timeline) -> dict[str, Any]:
    """The chapter index: per chapter its title, start in the book, length and file name.

    Args:
        job: the job.
        chapters: its chapters.
        line: its timeline (segments placed in time).

    Returns:
        JSON-ready data.
    """
    extension = format_spec(job.format).extension
    titles = {c.n: c.title for c in chapters}
    return {
        "job_id": job.id,
        "title": job.title,
        "voice": job.voice,
        "format": job.format.value,
        "file": book_file_name(extension),
        "duration_s": round(line.duration_s, 3),
        "chapters": [
            {
                "n": span.n,
                "title": titles.get(span.n, ""),
                "start_s": round(span.start_s, 3),
                "duration_s": round(span.duration_s, 3),
                "sentences": sum(1 for seq, _ in span.pieces if seq >= 0),
                "file": chapter_file_name(span.n, extension),
            }
            for span in line.chapters
        ],
    }


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def webvtt(line: Timeline) -> str:
    """WebVTT captions of the whole book, one cue per sentence.

    Args:
        line: the book's timeline.

    Returns:
        The file's text.
    """
    parts = ["WEBVTT", ""]
    for i, cue in enumerate(line.cues, start=1):
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        parts += [str(i), f"{_clock(cue.start_s, '.')} --> {_clock(cue.end_s, '.')}", text, ""]
    return "\n".join(parts)


def word_webvtt(line: Timeline) -> str:
    """WebVTT captions of the whole book, one cue per word (a sentence made before word timing
    was recorded is one cue of its own).

    Args:
        line: the book's timeline.

    Returns:
        The file's text.
    """
    parts = ["WEBVTT", ""]
    n = 0
    for cue in line.cues:
        words = cue.words or ((cue.text, cue.start_s, cue.end_s),)
        for text, start, end in words:
            n += 1
            escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            parts += [str(n), f"{_clock(start, '.')} --> {_clock(max(start, end), '.')}", escaped, ""]
    return "\n".join(parts)


def srt(line: Timeline) -> str:
    """SubRip captions of the whole book, one cue per sentence.

    Args:
        line: the book's timeline.

    Returns:
        The file's text.
    """
    parts: list[str] = []
    for i, cue in enumerate(line.cues, start=1):
        parts += [str(i), f"{_clock(cue.start_s, ',')} --> {_clock(cue.end_s, ',')}", cue.text, ""]
    return "\n".join(parts)
