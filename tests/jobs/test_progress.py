"""Job progress: the ETA from the pace of recent segments, and the status document."""

from __future__ import annotations

import pytest

from voxgate.jobs.models import ChapterRecord, JobRecord, JobState
from voxgate.jobs.progress import Waiting, estimate_eta, job_status
from voxgate.types import AudioFormat


def _job(state: JobState, chars: int = 1000) -> JobRecord:
    return JobRecord(
        "j",
        "me",
        "Book",
        state,
        "joe",
        1.0,
        AudioFormat.MP3,
        22050,
        "piper",
        None,
        0.0,
        None,
        2,
        10,
        chars,
        False,
    )


def test_eta_follows_the_recent_pace() -> None:
    """At 100 characters per second, 500 remaining characters take 5 s; too little data gives None."""
    recent = [(100, 13.0), (100, 12.0), (100, 11.0), (100, 10.0)]  # newest first; 300 chars in 3 s
    assert estimate_eta(500, recent) == pytest.approx(5.0)
    assert estimate_eta(500, recent[:1]) is None
    assert estimate_eta(0, []) == 0.0
    assert estimate_eta(500, [(100, 10.0), (100, 10.0)]) is None


def test_status_sums_chapters_and_adds_a_pause_to_the_eta() -> None:
    """Progress adds the chapters up; a job paused by admission shows why and its ETA includes the wait."""
    chapters = [ChapterRecord(1, "One", 5, 5, 400, 400, True), ChapterRecord(2, "Two", 5, 1, 600, 100, False)]
    status = job_status(
        _job(JobState.RUNNING),
        chapters,
        engines={"piper": 5, "espeak": 1},
        degraded=1,
        recent=[(100, 11.0), (100, 10.0)],
        waiting=Waiting("rate_limit", until=110.0),
        now=100.0,
    )
    assert status["progress"] == {
        "chapters_total": 2,
        "chapters_done": 1,
        "segments_total": 10,
        "segments_done": 6,
        "chars_total": 1000,
        "chars_done": 500,
        "fraction": 0.5,
    }
    assert status["eta_s"] == pytest.approx(5.0 + 10.0)
    assert status["waiting"] == {"reason": "rate_limit", "retry_in_s": 10.0}
    assert (status["engines"], status["degraded_segments"]) == ({"piper": 5, "espeak": 1}, 1)
    assert [c["audio_ready"] for c in status["chapters"]] == [True, False]


def test_finished_jobs_have_no_eta() -> None:
    """Only a running job has an ETA."""
    for state in (JobState.QUEUED, JobState.DONE, JobState.FAILED, JobState.CANCELLED):
        status = job_status(
            _job(state), [], engines={}, degraded=0, recent=[(1, 2.0), (1, 1.0)], waiting=None, now=0.0
        )
        assert status["eta_s"] is None
