"""A job's progress as JSON-ready data: status, chapters, characters, ETA, engines, degraded count."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voxgate.jobs.models import ChapterRecord, JobRecord, JobState

__all__ = ["Waiting", "estimate_eta", "job_status"]


@dataclass(frozen=True, slots=True)
class Waiting:
    """A job paused by admission (rate limit, quota, overload) until a wall time."""

    reason: str
    until: float


def estimate_eta(remaining_chars: int, recent: Sequence[tuple[int, float]]) -> float | None:
    """Seconds until the remaining characters are spoken, at the pace of the recent segments.

    Args:
        remaining_chars: characters not yet committed.
        recent: (characters, commit wall time) of recently committed segments, newest first.

    Returns:
        The estimate, or ``None`` while fewer than two segments give a pace.
    """
    if remaining_chars <= 0:
        return 0.0
    if len(recent) < 2:
        return None
    span = recent[0][1] - recent[-1][1]
    chars = sum(c for c, _ in recent[:-1])  # the oldest commit only opens the window
    if span <= 0 or chars <= 0:
        return None
    return remaining_chars / (chars / span)


def job_status(
    job: JobRecord,
    chapters: Sequence[ChapterRecord],
    *,
    engines: Mapping[str, int],
    degraded: int,
    recent: Sequence[tuple[int, float]],
    waiting: Waiting | None,
    now: float,
    ignored: Sequence[str] = (),
) -> dict[str, Any]:
    """Everything a client wants to know about a job.

    Args:
        job: the job.
        chapters: its chapters with their progress.
        engines: segments spoken per engine.
        degraded: segments spoken by a fallback engine.
        recent: recent commits (see :func:`estimate_eta`).
        waiting: why the job is paused, if it is.
        now: wall time.
        ignored: what the job asked for and did not get (SSML dropped at submission, what an
            engine did not act on: ``ssml:pitch``, ``speed``).

    Returns:
        JSON-ready data.
    """
    chars_done = sum(c.chars_done for c in chapters)
    segments_done = sum(c.segments_done for c in chapters)
    eta = estimate_eta(job.chars - chars_done, recent) if job.state is JobState.RUNNING else None
    if eta is not None and waiting is not None:
        eta += max(0.0, waiting.until - now)
    return {
        "id": job.id,
        "title": job.title,
        "status": job.state.value,
        "error": job.error,
        "voice": job.voice,
        "speed": job.speed,
        "format": job.format.value,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "progress": {
            "chapters_total": job.chapters,
            "chapters_done": sum(1 for c in chapters if c.ready),
            "segments_total": job.segments,
            "segments_done": segments_done,
            "chars_total": job.chars,
            "chars_done": chars_done,
            "fraction": round(chars_done / job.chars, 4) if job.chars else 1.0,
        },
        "eta_s": round(eta, 1) if eta is not None else None,
        "waiting": (
            {"reason": waiting.reason, "retry_in_s": round(max(0.0, waiting.until - now), 1)}
            if waiting is not None
            else None
        ),
        "engines": dict(engines),
        "degraded_segments": degraded,
        "ignored": list(ignored),
        "audio_ready": job.book_ready,
        "chapters": [
            {
                "n": c.n,
                "title": c.title,
                "segments_total": c.segments,
                "segments_done": c.segments_done,
                "chars_total": c.chars,
                "chars_done": c.chars_done,
                "audio_ready": c.ready,
            }
            for c in chapters
        ],
    }
