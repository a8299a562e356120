"""The SQLite job store: WAL, idempotent creation, state machines, durable commits, progress queries."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxgate.jobs.errors import IdempotencyKeyReused
from voxgate.jobs.models import (
    JOB_TRANSITIONS,
    IllegalJobTransition,
    JobState,
    NewChapter,
    NewJob,
    NewSegment,
    SegmentState,
)
from voxgate.jobs.store import JobStore
from voxgate.types import AudioFormat


def _job(request_hash: str = "h1", chapters: int = 2, per_chapter: int = 3) -> NewJob:
    return NewJob(
        title="Book",
        voice="joe",
        speed=1.0,
        format=AudioFormat.MP3,
        sample_rate=22050,
        engine="piper",
        chapters=tuple(
            NewChapter(
                f"Chapter {c}",
                tuple(NewSegment(f"Sentence {c}.{i}.", "en", i == 0) for i in range(per_chapter)),
            )
            for c in range(1, chapters + 1)
        ),
        request_hash=request_hash,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    """A fresh store in a temporary directory."""
    db = JobStore(tmp_path / "sub" / "jobs.sqlite3")
    yield db
    db.close()


def test_database_is_in_wal_mode_and_a_job_is_created_queued(store: JobStore) -> None:
    """The file uses WAL; a new job is QUEUED with its chapters and segments numbered in order."""
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    job, created = store.create(_job(), owner="alice", idempotency_key=None, now=100.0)
    assert created
    assert job.state is JobState.QUEUED
    assert (job.chapters, job.segments, job.owner) == (2, 6, "alice")
    assert job.chars == sum(len(f"Sentence {c}.{i}.") for c in (1, 2) for i in range(3))
    segments = store.segments(job.id)
    assert [s.seq for s in segments] == list(range(6))
    assert [s.chapter for s in segments] == [1, 1, 1, 2, 2, 2]
    assert all(s.state is SegmentState.PENDING for s in segments)


def test_idempotency_key_returns_the_same_job_or_refuses_another_request(store: JobStore) -> None:
    """Same key and request: same job; same key, other request: refused; keys are per owner."""
    first, created = store.create(_job(), owner="alice", idempotency_key="k", now=1.0)
    again, created_again = store.create(_job(), owner="alice", idempotency_key="k", now=2.0)
    assert created
    assert not created_again
    assert again.id == first.id
    with pytest.raises(IdempotencyKeyReused):
        store.create(_job(request_hash="other"), owner="alice", idempotency_key="k", now=3.0)
    bob, bob_created = store.create(_job(), owner="bob", idempotency_key="k", now=4.0)
    assert bob_created
    assert bob.id != first.id
    assert len(store.list_jobs()) == 2
    assert [j.id for j in store.list_jobs("bob")] == [bob.id]


def test_job_transitions_follow_the_table(store: JobStore) -> None:
    """Legal edges move the job and return an event; anything else raises and changes nothing."""
    job, _ = store.create(_job(), owner="a", idempotency_key=None, now=1.0)
    with pytest.raises(IllegalJobTransition):
        store.transition(job.id, JobState.DONE, now=2.0)
    event = store.transition(job.id, JobState.RUNNING, now=2.0)
    assert (event.from_state, event.to_state) == (JobState.QUEUED, JobState.RUNNING)
    assert [j.id for j in store.active()] == [job.id]
    store.transition(job.id, JobState.FAILED, now=3.0, error="boom")
    done = store.get(job.id)
    assert done is not None
    assert (done.state, done.error, done.finished_at) == (JobState.FAILED, "boom", 3.0)
    assert store.active() == []
    for target in JobState:
        assert (JobState.FAILED, target) not in JOB_TRANSITIONS
        with pytest.raises(IllegalJobTransition):
            store.transition(job.id, target, now=4.0)


def test_segment_commits_survive_reopening_and_drive_progress(tmp_path: Path) -> None:
    """Committed segments are there after the database is reopened; chapter progress and usage add up."""
    path = tmp_path / "jobs.sqlite3"
    store = JobStore(path)
    job, _ = store.create(_job(), owner="a", idempotency_key=None, now=1.0)
    store.complete_segment(job.id, 0, samples=22050, engine="piper", degraded=False, now=10.0)
    store.complete_segment(job.id, 1, samples=11025, engine="espeak", degraded=True, now=11.0)
    with pytest.raises(IllegalJobTransition):
        store.complete_segment(job.id, 1, samples=1, engine="piper", degraded=False, now=12.0)
    store.close()

    reopened = JobStore(path)
    try:
        done = reopened.segments(job.id, SegmentState.DONE)
        assert [(s.seq, s.samples, s.engine, s.degraded) for s in done] == [
            (0, 22050, "piper", False),
            (1, 11025, "espeak", True),
        ]
        chapter = reopened.chapters(job.id)[0]
        assert (chapter.segments, chapter.segments_done) == (3, 2)
        assert chapter.chars_done == len("Sentence 1.0.") + len("Sentence 1.1.")
        assert reopened.usage(job.id) == ({"piper": 1, "espeak": 1}, 1)
        assert [t for _, t in reopened.recent(job.id)] == [11.0, 10.0]
    finally:
        reopened.close()


def test_failed_attempts_are_counted_and_a_reset_segment_is_pending_again(store: JobStore) -> None:
    """Attempts add up; fail() marks segment and job FAILED at once; a DONE segment can go back to PENDING."""
    job, _ = store.create(_job(), owner="a", idempotency_key=None, now=1.0)
    store.transition(job.id, JobState.RUNNING, now=1.0)
    store.complete_segment(job.id, 0, samples=10, engine="piper", degraded=False, now=2.0)
    store.set_chapter_ready(job.id, 1)
    store.reset_segment(job.id, 0)
    assert store.segments(job.id)[0].state is SegmentState.PENDING
    assert not store.chapters(job.id)[0].ready
    store.record_attempt(job.id, 2, "no engine")
    event = store.fail(job.id, 2, "no engine again", now=3.0)
    assert (event.from_state, event.to_state, event.reason) == (
        JobState.RUNNING,
        JobState.FAILED,
        "no engine again",
    )
    failed = store.segments(job.id, SegmentState.FAILED)
    assert [(s.seq, s.attempts, s.error) for s in failed] == [(2, 2, "no engine again")]
    record = store.get(job.id)
    assert record is not None
    assert (record.state, record.error) == (JobState.FAILED, "no engine again")
    with pytest.raises(IllegalJobTransition):
        store.fail(job.id, 3, "again", now=4.0)
    assert store.segments(job.id)[3].state is SegmentState.PENDING
