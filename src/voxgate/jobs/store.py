"""Jobs, chapters and segments in SQLite (WAL mode, one transaction per state change).

Durability: ``synchronous=FULL``, so a committed state change survives kill -9 and power loss.
A failed COMMIT (disk full, I/O error) is rolled back, so the connection is usable again and
the change is not half-applied. One process per database runs its jobs: see :mod:`voxgate.jobs.lock`.

A segment is only committed DONE after its audio file was written, fsynced and renamed into
place (the runner's job), so a DONE row always has its audio.

Threads: the store is synchronous; one connection guarded by a lock, usable from any thread
(the runner calls it through ``asyncio.to_thread`` so the event loop never waits on a fsync).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from voxgate.jobs.errors import DiskBudgetExceeded, IdempotencyKeyReused, TooManyActiveJobs
from voxgate.jobs.models import (
    ChapterRecord,
    JobRecord,
    JobState,
    JobStateChanged,
    NewJob,
    SegmentRecord,
    SegmentState,
    SegmentTiming,
    check_transition,
)
from voxgate.types import AudioFormat, Prosody

__all__ = ["JobStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, idempotency_key TEXT, request_hash TEXT NOT NULL,
    title TEXT NOT NULL, state TEXT NOT NULL, voice TEXT NOT NULL, speed REAL NOT NULL,
    format TEXT NOT NULL, sample_rate INTEGER NOT NULL, engine TEXT NOT NULL, error TEXT,
    created_at REAL NOT NULL, finished_at REAL, book_ready INTEGER NOT NULL DEFAULT 0,
    UNIQUE (owner, idempotency_key)
);
CREATE TABLE IF NOT EXISTS chapters (
    job_id TEXT NOT NULL REFERENCES jobs(id), n INTEGER NOT NULL, title TEXT NOT NULL,
    ready INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (job_id, n)
);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL REFERENCES jobs(id), seq INTEGER NOT NULL, chapter INTEGER NOT NULL,
    text TEXT NOT NULL, chars INTEGER NOT NULL, language TEXT NOT NULL, paragraph_end INTEGER NOT NULL,
    state TEXT NOT NULL, samples INTEGER NOT NULL DEFAULT 0, engine TEXT,
    degraded INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, done_at REAL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, state);
CREATE INDEX IF NOT EXISTS segments_by_chapter ON segments (job_id, chapter);
CREATE INDEX IF NOT EXISTS segments_by_state ON segments (job_id, state, done_at);
"""

_MIGRATIONS = {  # columns added after the first release: (table, column) -> definition
    ("jobs", "est_bytes"): "INTEGER NOT NULL DEFAULT 0",
    ("jobs", "disk_bytes"): "INTEGER",
    ("segments", "voice"): "TEXT",  # a script's speaker; NULL = the job's voice
    ("segments", "pause_before"): "REAL",  # exact pause before it (a script's turn); NULL = usual
    ("segments", "words"): "TEXT",  # JSON [[word, start s, end s], ...] for word captions
    ("segments", "source"): "TEXT",  # the user's words it speaks; NULL = text
    ("segments", "prosody"): "TEXT",  # JSON [rate, pitch st, volume dB]; NULL = the voice's own
    ("segments", "phonemes"): "TEXT",  # SSML <phoneme> or a lexicon's ipa / pinyin; NULL = none
    ("segments", "alphabet"): "TEXT",  # of phonemes: ipa, pinyin
    ("segments", "ignored"): "TEXT",  # JSON [...] what the engine that spoke it did not act on
    ("jobs", "ignored"): "TEXT",  # JSON [...] SSML elements and attributes dropped at submission
}
_ACTIVE = ("queued", "running")
_RESERVED = "COALESCE(SUM(CASE WHEN disk_bytes IS NULL THEN est_bytes ELSE disk_bytes END), 0)"
"""Disk a job holds: its estimate while it may still write, what it left on disk once it is finished."""

_JOB_COLUMNS = """
    j.id, j.owner, j.title, j.state, j.voice, j.speed, j.format, j.sample_rate, j.engine, j.error,
    j.created_at, j.finished_at,
    (SELECT COUNT(*) FROM chapters c WHERE c.job_id = j.id),
    (SELECT COUNT(*) FROM segments s WHERE s.job_id = j.id),
    (SELECT COALESCE(SUM(chars), 0) FROM segments s WHERE s.job_id = j.id),
    j.book_ready
"""


def _words_json(words: Sequence[tuple[str, float, float]]) -> str | None:
    return (
        json.dumps([[w, round(a, 3), round(b, 3)] for w, a, b in words], ensure_ascii=False)
        if words
        else None
    )


def _words(raw: str | None) -> tuple[tuple[str, float, float], ...]:
    if not raw:
        return ()
    return tuple((str(w), float(a), float(b)) for w, a, b in json.loads(raw))


def _prosody_json(prosody: Prosody) -> str | None:
    if prosody == Prosody():
        return None
    return json.dumps([prosody.rate, prosody.pitch_st, prosody.volume_db])  # -inf (silent) as -Infinity


def _prosody(raw: str | None) -> Prosody:
    if not raw:
        return Prosody()
    rate, pitch, volume = json.loads(raw)
    return Prosody(float(rate), float(pitch), float(volume))


def _job(row: tuple[Any, ...]) -> JobRecord:
    id_, owner, title, state, voice, speed, fmt, rate, engine, error, created, finished = row[:12]
    return JobRecord(
        id_, owner, title, JobState(state), voice, speed, AudioFormat(fmt), rate, engine, error,
        created, finished, chapters=row[12], segments=row[13], chars=row[14], book_ready=bool(row[15]),
    )  # fmt: skip


class JobStore:
    """The jobs database.

    Args:
        path: the SQLite file (created with its parent directory if missing).
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        for (table, column), definition in _MIGRATIONS.items():
            columns = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in columns:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # a failed COMMIT leaves the transaction open
                    self._db.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ---- jobs ----------------------------------------------------------------------------------
    def create(
        self,
        job: NewJob,
        *,
        owner: str,
        idempotency_key: str | None,
        now: float,
        max_active: int | None = None,
        est_bytes: int = 0,
        max_disk_bytes: int | None = None,
    ) -> tuple[JobRecord, bool]:
        """Insert a job with its chapters and segments, QUEUED, in one transaction.

        The limits are checked in the same transaction, so two racing submissions cannot both
        take the last place; a retried submission (same key) returns its job without checks.

        Args:
            job: the planned job.
            owner: the submitting client.
            idempotency_key: the client's key; a second submission with it returns the first job.
            now: wall time.
            max_active: most active (queued or running) jobs ``owner`` may have; ``None``: no cap.
            est_bytes: the job's estimated peak disk use, reserved until it finishes.
            max_disk_bytes: budget of every job's disk use together; ``None``: no budget.

        Returns:
            The job, and whether it was created (False: the key named an existing job).

        Raises:
            IdempotencyKeyReused: the key names a job created from a different request.
            TooManyActiveJobs: ``owner`` already has ``max_active`` active jobs.
            DiskBudgetExceeded: the estimate does not fit in what is left of the budget.
        """
        with self._tx() as db:
            found = db.execute(
                "SELECT id, request_hash FROM jobs WHERE owner = ? AND idempotency_key = ?",
                (owner, idempotency_key),
            ).fetchone()  # never matches a NULL key
            if found is not None and found[1] != job.request_hash:
                raise IdempotencyKeyReused(str(idempotency_key))
            job_id, created = (str(found[0]), False) if found is not None else ("", True)
            if created:
                self._check_limits(db, owner, max_active, est_bytes, max_disk_bytes)
                job_id = uuid.uuid4().hex
                columns = (job_id, owner, idempotency_key, job.request_hash, job.title, JobState.QUEUED.value)
                options = (job.voice, job.speed, job.format.value, job.sample_rate, job.engine, now)
                ignored = json.dumps(list(job.ignored)) if job.ignored else None
                db.execute(
                    "INSERT INTO jobs (id, owner, idempotency_key, request_hash, title, state, voice, speed, "
                    "format, sample_rate, engine, created_at, est_bytes, ignored) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*columns, *options, est_bytes, ignored),
                )
                seq = 0
                for n, chapter in enumerate(job.chapters, start=1):
                    db.execute(
                        "INSERT INTO chapters (job_id, n, title) VALUES (?, ?, ?)", (job_id, n, chapter.title)
                    )
                    pending = SegmentState.PENDING.value
                    rows = [
                        (
                            *(job_id, seq + i, n, s.text, len(s.text), s.language, int(s.paragraph_end)),
                            *(pending, s.voice, s.pause_before_s),
                            *(s.source, _prosody_json(s.prosody), s.phonemes, s.alphabet),
                        )
                        for i, s in enumerate(chapter.segments)
                    ]
                    seq += len(rows)
                    db.executemany(
                        "INSERT INTO segments (job_id, seq, chapter, text, chars, language, paragraph_end, "
                        "state, voice, pause_before, source, prosody, phonemes, alphabet) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
        record = self.get(job_id)
        assert record is not None
        return record, created

    @staticmethod
    def _check_limits(
        db: sqlite3.Connection, owner: str, max_active: int | None, est_bytes: int, max_disk_bytes: int | None
    ) -> None:
        if max_active is not None:
            (active,) = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE owner = ? AND state IN (?, ?)", (owner, *_ACTIVE)
            ).fetchone()
            if active >= max_active:
                raise TooManyActiveJobs(owner, max_active)
        if max_disk_bytes is not None:
            (reserved,) = db.execute(f"SELECT {_RESERVED} FROM jobs").fetchone()
            if reserved + est_bytes > max_disk_bytes:
                raise DiskBudgetExceeded(est_bytes, max_disk_bytes - reserved)

    def by_key(self, owner: str, idempotency_key: str) -> bool:
        """Whether ``owner`` already has a job submitted with this idempotency key."""
        return bool(
            self._read("SELECT 1 FROM jobs WHERE owner = ? AND idempotency_key = ?", (owner, idempotency_key))
        )

    def outstanding_chars(self, owner: str) -> int:
        """Characters of ``owner``'s active jobs not spoken yet (what their quota must still cover)."""
        rows = self._read(
            "SELECT COALESCE(SUM(s.chars), 0) FROM jobs j JOIN segments s ON s.job_id = j.id "
            "WHERE j.owner = ? AND j.state IN (?, ?) AND s.state != ?",
            (owner, *_ACTIVE, SegmentState.DONE.value),
        )
        return int(rows[0][0])

    def reserved_bytes(self) -> int:
        """Disk every job holds: estimates of unfinished jobs, measured use of finished ones."""
        return int(self._read(f"SELECT {_RESERVED} FROM jobs")[0][0])

    def set_disk_bytes(self, job_id: str, size: int) -> None:
        """Record what a finished job left on disk (replaces its estimate in the budget)."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET disk_bytes = ? WHERE id = ?", (size, job_id))

    def expired(self, finished_before: float, *, limit: int = 100) -> list[str]:
        """Ids of DONE, FAILED or CANCELLED jobs that finished before ``finished_before``, oldest first."""
        rows = self._read(
            "SELECT id FROM jobs WHERE state NOT IN (?, ?) AND finished_at < ? ORDER BY finished_at LIMIT ?",
            (*_ACTIVE, finished_before, limit),
        )
        return [str(r[0]) for r in rows]

    def finished(self) -> list[str]:
        """Ids of every DONE, FAILED or CANCELLED job (whose segment files may be left over from a crash)."""
        return [str(r[0]) for r in self._read("SELECT id FROM jobs WHERE state NOT IN (?, ?)", _ACTIVE)]

    def delete(self, job_id: str) -> bool:
        """Delete a finished job's record, chapters and segments.

        Returns:
            Whether it was deleted (False: no such job, or it is still active).
        """
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or not JobState(row[0]).terminal:
                return False
            db.execute("DELETE FROM segments WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM chapters WHERE job_id = ?", (job_id,))
            db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
        return True

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or ``None``."""
        rows = self._read(f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def list_jobs(self, owner: str | None = None, *, limit: int = 100) -> list[JobRecord]:
        """Jobs, newest first; only ``owner``'s when given."""
        where, params = ("WHERE j.owner = ?", (owner, limit)) if owner is not None else ("", (limit,))
        rows = self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs j {where} ORDER BY j.created_at DESC LIMIT ?", params
        )
        return [_job(r) for r in rows]

    def active(self) -> list[JobRecord]:
        """QUEUED and RUNNING jobs, oldest first (what the runner must work on)."""
        rows = self._read(
            f"SELECT {_JOB_COLUMNS} FROM jobs j WHERE j.state IN (?, ?) ORDER BY j.created_at",
            (JobState.QUEUED.value, JobState.RUNNING.value),
        )
        return [_job(r) for r in rows]

    def transition(
        self, job_id: str, to: JobState, *, now: float, error: str | None = None
    ) -> JobStateChanged:
        """Move a job to another state.

        Args:
            job_id: the job.
            to: the new state.
            now: wall time (recorded as the finish time of a terminal state).
            error: why (for FAILED).

        Returns:
            The event describing the transition.

        Raises:
            KeyError: no such job.
            IllegalJobTransition: the state machine has no such edge.
        """
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            current = JobState(row[0])
            check_transition(f"job {job_id}", current, to)
            db.execute(
                "UPDATE jobs SET state = ?, error = COALESCE(?, error), finished_at = ? WHERE id = ?",
                (to.value, error, now if to.terminal else None, job_id),
            )
        return JobStateChanged(job_id, current, to, error)

    def fail(self, job_id: str, seq: int, error: str, *, now: float) -> JobStateChanged:
        """Give up on a segment and fail its job, in one transaction (the segment's attempts count one more).

        Args:
            job_id: the job.
            seq: the segment that could not be spoken.
            error: why; becomes the job's error.
            now: wall time.

        Returns:
            The job's transition event.

        Raises:
            KeyError: no such job or segment.
            IllegalJobTransition: the job is not running or the segment not pending.
        """
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise KeyError(job_id)
            current = JobState(row[0])
            check_transition(f"job {job_id}", current, JobState.FAILED)
            self._segment_transition(db, job_id, seq, SegmentState.FAILED)
            db.execute(
                "UPDATE segments SET attempts = attempts + 1, error = ?, state = ? "
                "WHERE job_id = ? AND seq = ?",
                (error, SegmentState.FAILED.value, job_id, seq),
            )
            db.execute(
                "UPDATE jobs SET state = ?, error = ?, finished_at = ? WHERE id = ?",
                (JobState.FAILED.value, error, now, job_id),
            )
        return JobStateChanged(job_id, current, JobState.FAILED, error)

    def set_book_ready(self, job_id: str) -> None:
        """Record that the whole-book file is in place."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET book_ready = 1 WHERE id = ?", (job_id,))

    # ---- chapters ------------------------------------------------------------------------------
    def chapters(self, job_id: str) -> list[ChapterRecord]:
        """The job's chapters with their progress, in order."""
        rows = self._read(
            "SELECT c.n, c.title, COUNT(s.seq), SUM(s.state = ?), COALESCE(SUM(s.chars), 0), "
            "COALESCE(SUM(CASE WHEN s.state = ? THEN s.chars ELSE 0 END), 0), c.ready "
            "FROM chapters c LEFT JOIN segments s ON s.job_id = c.job_id AND s.chapter = c.n "
            "WHERE c.job_id = ? GROUP BY c.n ORDER BY c.n",
            (SegmentState.DONE.value, SegmentState.DONE.value, job_id),
        )
        return [ChapterRecord(r[0], r[1], r[2], r[3] or 0, r[4], r[5], bool(r[6])) for r in rows]

    def set_chapter_ready(self, job_id: str, n: int) -> None:
        """Record that chapter ``n``'s audio file is in place."""
        with self._tx() as db:
            db.execute("UPDATE chapters SET ready = 1 WHERE job_id = ? AND n = ?", (job_id, n))

    # ---- segments ------------------------------------------------------------------------------
    def segments(self, job_id: str, state: SegmentState | None = None) -> list[SegmentRecord]:
        """The job's segments in order, optionally only those in ``state``."""
        sql = (
            "SELECT seq, chapter, text, language, paragraph_end, state, samples, engine, degraded, attempts, "
            "error, done_at, voice, source, prosody, phonemes, alphabet FROM segments WHERE job_id = ?"
        )
        params: tuple[Any, ...] = (job_id,)
        if state is not None:
            sql, params = sql + " AND state = ?", (job_id, state.value)
        rows = self._read(sql + " ORDER BY seq", params)
        return [
            SegmentRecord(
                r[0],
                r[1],
                r[2],
                r[3],
                bool(r[4]),
                SegmentState(r[5]),
                r[6],
                r[7],
                bool(r[8]),
                r[9],
                r[10],
                r[11],
                r[12],
                r[13],
                _prosody(r[14]),
                r[15],
                r[16] or "ipa",
            )
            for r in rows
        ]

    def timings(self, job_id: str) -> list[SegmentTiming]:
        """Per segment in order: chapter, text, length and paragraph mark (for assembly and captions)."""
        rows = self._read(
            "SELECT chapter, text, samples, paragraph_end, pause_before, words, source FROM segments "
            "WHERE job_id = ? ORDER BY seq",
            (job_id,),
        )
        return [SegmentTiming(r[0], r[1], r[2], bool(r[3]), r[4], _words(r[5]), r[6]) for r in rows]

    def _segment_transition(self, db: sqlite3.Connection, job_id: str, seq: int, to: SegmentState) -> None:
        row = db.execute("SELECT state FROM segments WHERE job_id = ? AND seq = ?", (job_id, seq)).fetchone()
        if row is None:
            raise KeyError(f"{job_id}/{seq}")
        check_transition(f"segment {job_id}/{seq}", SegmentState(row[0]), to)

    def complete_segment(
        self,
        job_id: str,
        seq: int,
        *,
        samples: int,
        engine: str,
        degraded: bool,
        now: float,
        words: Sequence[tuple[str, float, float]] = (),
        ignored: Sequence[str] = (),
    ) -> None:
        """Commit a segment DONE (call only once its audio file is fsynced in place), with its
        words' times (seconds from its start) for word captions and what the engine that spoke
        it did not act on (``ssml:pitch``, ``speed``).

        Raises:
            KeyError: no such segment.
            IllegalJobTransition: the segment is not PENDING.
        """
        with self._tx() as db:
            self._segment_transition(db, job_id, seq, SegmentState.DONE)
            db.execute(
                "UPDATE segments SET state = ?, samples = ?, engine = ?, degraded = ?, done_at = ?, "
                "error = NULL, words = ?, ignored = ? WHERE job_id = ? AND seq = ?",
                (
                    SegmentState.DONE.value,
                    samples,
                    engine,
                    int(degraded),
                    now,
                    _words_json(words),
                    json.dumps(list(ignored)) if ignored else None,
                    job_id,
                    seq,
                ),
            )

    def record_attempt(self, job_id: str, seq: int, error: str) -> None:
        """Count a failed attempt at a segment that will be retried."""
        with self._tx() as db:
            db.execute(
                "UPDATE segments SET attempts = attempts + 1, error = ? WHERE job_id = ? AND seq = ?",
                (error, job_id, seq),
            )

    def reset_segment(self, job_id: str, seq: int) -> None:
        """Send a DONE segment back to PENDING (its audio file was found missing or damaged)."""
        with self._tx() as db:
            self._segment_transition(db, job_id, seq, SegmentState.PENDING)
            db.execute(
                "UPDATE segments SET state = ?, samples = 0, engine = NULL, degraded = 0, done_at = NULL "
                "WHERE job_id = ? AND seq = ?",
                (SegmentState.PENDING.value, job_id, seq),
            )
            db.execute(
                "UPDATE chapters SET ready = 0 WHERE job_id = ? AND n = "
                "(SELECT chapter FROM segments WHERE job_id = ? AND seq = ?)",
                (job_id, job_id, seq),
            )
            db.execute("UPDATE jobs SET book_ready = 0 WHERE id = ?", (job_id,))

    def usage(self, job_id: str) -> tuple[dict[str, int], int]:
        """Which engines spoke how many segments, and how many segments were degraded."""
        rows = self._read(
            "SELECT engine, COUNT(*), SUM(degraded) FROM segments WHERE job_id = ? AND state = ? "
            "GROUP BY engine",
            (job_id, SegmentState.DONE.value),
        )
        return {r[0]: r[1] for r in rows}, sum(r[2] or 0 for r in rows)

    def ignored(self, job_id: str) -> list[str]:
        """What the job asked for and did not get: SSML dropped at submission, then what the engines
        that spoke its segments did not act on, each once, in order of first appearance."""
        found: dict[str, None] = {}
        for (raw,) in self._read("SELECT ignored FROM jobs WHERE id = ?", (job_id,)):
            found.update(dict.fromkeys(json.loads(raw) if raw else ()))
        rows = self._read(
            "SELECT ignored FROM segments WHERE job_id = ? AND ignored IS NOT NULL ORDER BY seq",
            (job_id,),
        )
        for (raw,) in rows:
            found.update(dict.fromkeys(json.loads(raw)))
        return list(found)

    def recent(self, job_id: str, limit: int = 50) -> list[tuple[int, float]]:
        """The last ``limit`` committed segments as (characters, wall time), newest first (for the ETA)."""
        rows = self._read(
            "SELECT chars, done_at FROM segments WHERE job_id = ? AND state = ? "
            "ORDER BY done_at DESC LIMIT ?",
            (job_id, SegmentState.DONE.value, limit),
        )
        return [(int(r[0]), float(r[1])) for r in rows]
