"""The SQLite job store: WAL, idempotent creation, state machines, durable commits, progress queries."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from voxgate.jobs.errors import DiskBudgetExceeded, IdempotencyKeyReused, TooManyActiveJobs
from voxgate.jobs.lock import JobsLock
from voxgate.jobs.models import (
    JOB_TRANSITIONS,
    IllegalJobTransition,
    JobState,
    NewChapter,
    NewJob,
    NewSegment,
    SegmentState,
)
from voxgate.jobs.store import _SCHEMA, JobStore
from voxgate.types import AudioFormat, Prosody


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


def test_a_failed_commit_is_rolled_back_and_the_store_stays_usable(store: JobStore) -> None:
    """COMMIT refused (fault injected with an authorizer): the change is undone and the next one commits."""
    job, _ = store.create(_job(), owner="alice", idempotency_key=None, now=100.0)
    refuse = {"commit": True}

    def authorizer(action: int, arg1: str | None, *_: object) -> int:
        if action == sqlite3.SQLITE_TRANSACTION and arg1 == "COMMIT" and refuse["commit"]:
            refuse["commit"] = False
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK

    store._db.set_authorizer(authorizer)
    with pytest.raises(sqlite3.DatabaseError):
        store.transition(job.id, JobState.RUNNING, now=101.0)
    assert not store._db.in_transaction
    assert store.get(job.id).state is JobState.QUEUED  # type: ignore[union-attr]
    store.transition(job.id, JobState.RUNNING, now=102.0)  # before the fix: "cannot start a transaction"
    assert store.get(job.id).state is JobState.RUNNING  # type: ignore[union-attr]


def test_the_progress_polls_use_the_segment_indexes(store: JobStore) -> None:
    """EXPLAIN QUERY PLAN: per-chapter progress and the ETA's recent segments search an index, not the job."""
    job, _ = store.create(_job(chapters=3, per_chapter=50), owner="alice", idempotency_key=None, now=100.0)
    plans: list[str] = []
    store._db.set_trace_callback(
        lambda sql: (
            plans.extend(
                str(row[3]) for row in sqlite3.connect(store.path).execute(f"EXPLAIN QUERY PLAN {sql}")
            )
            if sql.lstrip().upper().startswith("SELECT")
            else None
        )
    )
    try:
        store.chapters(job.id)
        store.recent(job.id)
    finally:
        store._db.set_trace_callback(None)
    assert any("USING INDEX segments_by_chapter (job_id=? AND chapter=?)" in p for p in plans), plans
    assert any("USING INDEX segments_by_state (job_id=? AND state=?)" in p for p in plans), plans


def test_active_jobs_per_owner_and_the_disk_budget_are_checked_when_a_job_is_created(store: JobStore) -> None:
    """The cap counts queued and running jobs of one owner; the budget counts estimates, then what is left."""
    first, _ = store.create(_job("a"), owner="alice", idempotency_key="k1", now=1.0, max_active=2)
    store.create(_job("b"), owner="alice", idempotency_key=None, now=2.0, max_active=2)
    with pytest.raises(TooManyActiveJobs, match=r"jobs\.max_active_per_owner"):
        store.create(_job("c"), owner="alice", idempotency_key=None, now=3.0, max_active=2)
    again, created = store.create(_job("a"), owner="alice", idempotency_key="k1", now=4.0, max_active=2)
    assert (again.id, created) == (first.id, False)  # a retried submission is not a new job
    store.create(_job("d"), owner="bob", idempotency_key=None, now=5.0, max_active=2)
    store.transition(first.id, JobState.CANCELLED, now=6.0)
    store.create(_job("e"), owner="alice", idempotency_key=None, now=7.0, max_active=2)

    budget = 1000
    big, _ = store.create(
        _job("f"), owner="carol", idempotency_key=None, now=8.0, est_bytes=800, max_disk_bytes=budget
    )
    with pytest.raises(DiskBudgetExceeded, match=r"jobs\.max_disk_bytes") as refused:
        store.create(
            _job("g"), owner="carol", idempotency_key=None, now=9.0, est_bytes=300, max_disk_bytes=budget
        )
    assert (refused.value.needed, refused.value.left, refused.value.field) == (300, 200, "text")
    store.transition(big.id, JobState.CANCELLED, now=10.0)
    store.set_disk_bytes(big.id, 100)  # what it left on disk replaces its estimate
    assert store.reserved_bytes() == 100
    store.create(
        _job("g"), owner="carol", idempotency_key=None, now=11.0, est_bytes=300, max_disk_bytes=budget
    )


def test_delete_and_expiry_concern_finished_jobs_only(store: JobStore) -> None:
    """A finished job is listed as expired after its time and deleted with its rows; an active one never."""
    done, _ = store.create(_job("a"), owner="alice", idempotency_key=None, now=1.0)
    active, _ = store.create(_job("b"), owner="alice", idempotency_key=None, now=1.0)
    store.transition(done.id, JobState.RUNNING, now=2.0)
    store.transition(done.id, JobState.DONE, now=3.0)
    assert store.expired(3.0) == []
    assert store.expired(3.5) == [done.id]
    assert store.outstanding_chars("alice") == active.chars  # the done job's text is no longer owed
    assert not store.delete(active.id)
    assert store.delete(done.id)
    assert store.get(done.id) is None
    assert store.segments(done.id) == []
    assert store.chapters(done.id) == []
    assert store.get(active.id) is not None


def test_an_older_database_gains_the_new_columns(tmp_path: Path) -> None:
    """A database made before est_bytes/disk_bytes existed opens, and its jobs count as reserving nothing."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, idempotency_key TEXT, "
        "request_hash TEXT NOT NULL, title TEXT NOT NULL, state TEXT NOT NULL, voice TEXT NOT NULL, "
        "speed REAL NOT NULL, format TEXT NOT NULL, sample_rate INTEGER NOT NULL, engine TEXT NOT NULL, "
        "error TEXT, created_at REAL NOT NULL, finished_at REAL, book_ready INTEGER NOT NULL DEFAULT 0, "
        "UNIQUE (owner, idempotency_key));"
        "INSERT INTO jobs VALUES ('x', 'a', NULL, 'h', 't', 'done', 'joe', 1.0, 'mp3', 22050, 'piper', "
        "NULL, 1.0, 2.0, 1);"
    )
    old.close()
    store = JobStore(path)
    try:
        assert store.reserved_bytes() == 0
        assert store.get("x") is not None
    finally:
        store.close()


def test_a_second_open_of_the_jobs_lock_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    """flock: two opens conflict (in one process as in two); releasing lets the next holder in."""
    first, second = JobsLock(tmp_path / "jobs.lock"), JobsLock(tmp_path / "jobs.lock")
    assert first.acquire()
    assert first.held
    assert not second.acquire()
    assert not second.held
    probe = "import sys; from pathlib import Path; from voxgate.jobs.lock import JobsLock; "
    probe += "print(JobsLock(Path(sys.argv[1])).acquire())"
    other = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "jobs.lock")], capture_output=True, text=True, timeout=60
    )
    assert other.stdout.strip() == "False", other.stderr  # another process is refused too
    first.release()
    assert second.acquire()
    second.release()


def test_segment_controls_round_trip_and_an_old_database_gains_the_columns(tmp_path: Path) -> None:
    """Source words, prosody (silent volume too), phonemes and ignored SSML survive the database; a
    database made before those columns opens with them empty (its segments read as before)."""
    old = tmp_path / "old.sqlite3"
    with sqlite3.connect(old) as db:
        db.executescript(_SCHEMA)
        db.execute(
            "INSERT INTO jobs (id, owner, request_hash, title, state, voice, speed, format, sample_rate, "
            "engine, created_at) "
            "VALUES ('j', 'me', 'h', 'T', 'queued', 'joe', 1.0, 'mp3', 22050, 'piper', 1.0)"
        )
        db.execute(
            "INSERT INTO segments (job_id, seq, chapter, text, chars, language, paragraph_end, state) "
            "VALUES ('j', 0, 1, 'Hi.', 3, 'en', 0, 'pending')"
        )
    reopened = JobStore(old)
    (segment,) = reopened.segments("j")
    assert (segment.source, segment.prosody, segment.phonemes, segment.alphabet) == (
        None,
        Prosody(),
        None,
        "ipa",
    )
    assert reopened.ignored("j") == []
    reopened.close()

    store = JobStore(tmp_path / "new.sqlite3")
    marked = NewSegment(
        "Doctor Who.",
        "en",
        False,
        source="Dr. Who.",
        prosody=Prosody(0.8, 2.0, float("-inf")),
        phonemes="huː",
    )
    job = NewJob(
        "B", "joe", 1.0, AudioFormat.WAV, 22050, "piper", (NewChapter("", (marked,)),), "h", ("ssml:foo",)
    )
    record, _ = store.create(job, owner="me", idempotency_key=None, now=1.0)
    (segment,) = store.segments(record.id)
    assert (segment.source, segment.prosody, segment.phonemes) == ("Dr. Who.", marked.prosody, "huː")
    store.complete_segment(
        record.id, 0, samples=10, engine="piper", degraded=False, now=2.0, ignored=["ssml:pitch"]
    )
    assert store.ignored(record.id) == ["ssml:foo", "ssml:pitch"]
    assert store.timings(record.id)[0].source == "Dr. Who."
    store.close()
