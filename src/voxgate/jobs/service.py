"""The jobs facade every client uses (HTTP routes, the CLI): submit, follow, fetch, cancel, delete.

Bounds, checked at submission before anything runs: ``jobs.max_active_per_owner`` active jobs
per client (429), the client's remaining daily character quota must cover the whole text after
its other active jobs (429 with ``Retry-After``), and the job's estimated audio must fit in what
is left of ``jobs.max_disk_bytes`` (413). Finished jobs are deleted by ``DELETE`` or, after
``jobs.retention_days``, by a periodic sweep.

One process per data directory runs the jobs: the first takes ``<database>.lock``; a second
logs why and serves the jobs read-only (submit, cancel and delete answer 503).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voxgate.audio.formats import format_spec
from voxgate.clock import Clock
from voxgate.jobs.assemble import Timeline, timeline
from voxgate.jobs.captions import book_file_name, chapter_file_name, chapter_index, srt, webvtt, word_webvtt
from voxgate.jobs.errors import (
    DiskBudgetExceeded,
    JobNotFound,
    JobNotReady,
    JobQuotaExceeded,
    JobsUnavailable,
)
from voxgate.jobs.files import JobFiles, estimate_bytes
from voxgate.jobs.lock import JobsLock
from voxgate.jobs.models import IllegalJobTransition, JobRecord, JobState, JobStateChanged
from voxgate.jobs.plan import JobSpec, plan_job
from voxgate.jobs.progress import job_status
from voxgate.jobs.runner import JobRunner
from voxgate.jobs.store import JobStore
from voxgate.qos.admission import Shed, ShedReason
from voxgate.service import Synthesizer
from voxgate.settings import JobsSettings, Settings
from voxgate.text.lexicon import Lexicon
from voxgate.types import Priority

__all__ = ["AudioFile", "JobService", "open_jobs"]

log = logging.getLogger(__name__)

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class AudioFile:
    """A finished audio file of a job, ready to send."""

    path: Path
    media_type: str
    filename: str


class JobService:
    """Long-form jobs: a store, a runner, and the rules for who sees what.

    ``viewer`` arguments: the client asking, or ``None`` when every client may see every job
    (a server without API keys). A job of another client is reported as not found.

    Args:
        runner: works on the jobs.
        config: job limits.
        max_segment_chars: longest segment handed to an engine.
        clock: wall time (retention ages, quota days).
        lock: the data directory's jobs lock; default: ``<database>.lock`` beside the database.
    """

    def __init__(
        self,
        runner: JobRunner,
        config: JobsSettings,
        max_segment_chars: int,
        clock: Clock,
        lock: JobsLock | None = None,
    ) -> None:
        self.runner = runner
        self.store: JobStore = runner.store
        self._config = config
        self._max_segment_chars = max_segment_chars
        self._clock = clock
        self._lock = lock or JobsLock(self.store.path.with_name(self.store.path.name + ".lock"))
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def max_total_chars(self) -> int:
        """The most characters one job may have."""
        return self._config.max_total_chars

    @property
    def running_jobs(self) -> bool:
        """Whether this process runs the jobs (it holds the data directory's jobs lock)."""
        return self._lock.held

    def _check_running(self) -> None:
        if not self._lock.held:
            raise JobsUnavailable(str(self._lock.path))

    async def start(self) -> None:
        """Take the jobs lock, resume the jobs the database says are unfinished, start the retention sweep.

        Without the lock (another process runs this data directory's jobs) nothing runs: the jobs
        can be read here, and submitting, cancelling or deleting raises ``JobsUnavailable``.
        """
        if not await asyncio.to_thread(self._lock.acquire):
            log.error(
                "another voxgate process holds %s: this one will not run jobs (it still serves synthesis "
                "and reads jobs); give each server its own data_dir or jobs.database",
                self._lock.path,
            )
            return
        await self.runner.start()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="jobs-retention")

    async def stop(self) -> None:
        """Stop working (unfinished jobs resume at the next start), close the database, drop the lock."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.runner.stop()
        await asyncio.to_thread(self.store.close)
        self._lock.release()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # a failed sweep (disk trouble) must not end the sweeping
                log.exception("jobs retention sweep failed; trying again later")
            await asyncio.sleep(self._config.retention_sweep_s)

    async def sweep(self) -> list[str]:
        """Delete jobs finished more than ``jobs.retention_days`` ago; drop segment files left behind.

        Returns:
            The ids of the jobs deleted.
        """
        if not self._config.keep_segments:  # a crash between finishing and removing them leaves them behind
            for job_id in await asyncio.to_thread(self.store.finished):
                if (JobFiles(self.runner.audio_dir, job_id).dir / "segments").is_dir():
                    await self.runner.tidy(job_id)
        if self._config.retention_days <= 0:
            return []
        cutoff = self._clock.wall() - self._config.retention_days * SECONDS_PER_DAY
        deleted: list[str] = []
        while batch := await asyncio.to_thread(self.store.expired, cutoff):
            for job_id in batch:
                await self._purge(job_id)
                deleted.append(job_id)
        if deleted:
            log.info("retention: deleted %d finished jobs", len(deleted), extra={"jobs": deleted})
        return deleted

    async def _purge(self, job_id: str) -> int:
        """Delete a finished job's files, then its record; return the bytes freed."""
        files = JobFiles(self.runner.audio_dir, job_id)
        size = await asyncio.to_thread(files.size)
        await asyncio.to_thread(files.remove_all)
        await asyncio.to_thread(self.store.delete, job_id)
        self.runner.space_freed()
        return size

    async def submit(
        self,
        spec: JobSpec,
        *,
        owner: str,
        idempotency_key: str | None = None,
        field: str = "text",
        lexicon: Lexicon | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Plan and store a job, and start it.

        Args:
            spec: the submission.
            owner: the submitting client.
            idempotency_key: a retried submission with the same key gets the same job.
            field: the input to blame for problems with the text.
            lexicon: the owner's pronunciation lexicon (see :func:`plan_job`).

        Returns:
            The job's status, and whether it was created (False: the key named an existing job).

        Raises:
            InvalidInput: empty or too long text, unknown voice, bad format or speed, a reused key.
            DiskBudgetExceeded: the job's estimated audio does not fit in what is left of the budget.
            TooManyActiveJobs: the owner has ``jobs.max_active_per_owner`` active jobs.
            JobQuotaExceeded: the owner's daily quota left cannot cover the whole text.
            JobsUnavailable: another process runs this data directory's jobs.
        """
        self._check_running()
        synth = self.runner.synth
        job = await asyncio.to_thread(
            plan_job,
            spec,
            catalog=synth.catalog,
            chains=synth.chains,
            max_total_chars=self._config.max_total_chars,
            max_segment_chars=self._max_segment_chars,
            field=field,
            lexicon=lexicon,
        )
        retried = idempotency_key is not None and await asyncio.to_thread(
            self.store.by_key, owner, idempotency_key
        )
        if not retried:
            await self._check_quota(job.chars, owner)
            await asyncio.to_thread(self._check_free_space, estimate_bytes(job), field)
        record, created = await asyncio.to_thread(
            self.store.create,
            job,
            owner=owner,
            idempotency_key=idempotency_key,
            now=self._clock.wall(),
            max_active=self._config.max_active_per_owner,
            est_bytes=estimate_bytes(job),
            max_disk_bytes=self._config.max_disk_bytes or None,
        )
        if created:
            synth.bus.publish(JobStateChanged(record.id, None, JobState.QUEUED))
            self.runner.launch(record.id)
        return await self._status(record), created

    def _check_free_space(self, needed: int, field: str) -> None:
        """Refuse a job whose estimated audio is more than the disk has free right now."""
        self.runner.audio_dir.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.runner.audio_dir).free
        if needed > free:
            raise DiskBudgetExceeded(needed, free, field, free_space=True)

    async def _check_quota(self, chars: int, owner: str) -> None:
        """Refuse a job whose characters the owner's quota left today cannot cover (with its other jobs)."""
        admission = self.runner.synth.admission
        left = await admission.quota_left(owner)
        if left is None:
            return
        left -= await asyncio.to_thread(self.store.outstanding_chars, owner)
        if chars > left:
            retry_after = admission.quota_resets_in()
            self.runner.synth.bus.publish(Shed(owner, Priority.BATCH, ShedReason.QUOTA, retry_after))
            raise JobQuotaExceeded(chars, left, retry_after)

    async def _job(self, job_id: str, viewer: str | None) -> JobRecord:
        job = await asyncio.to_thread(self.store.get, job_id)
        if job is None or (viewer is not None and job.owner != viewer):
            raise JobNotFound(job_id)
        return job

    async def _status(self, job: JobRecord) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            engines, degraded = self.store.usage(job.id)
            return job_status(
                job,
                self.store.chapters(job.id),
                engines=engines,
                degraded=degraded,
                recent=self.store.recent(job.id),
                waiting=self.runner.waiting.get(job.id),
                now=self._clock.wall(),
                ignored=self.store.ignored(job.id),
            )

        return await asyncio.to_thread(read)

    async def status(self, job_id: str, viewer: str | None) -> dict[str, Any]:
        """A job's status and progress.

        Raises:
            JobNotFound: no such job for this viewer.
        """
        return await self._status(await self._job(job_id, viewer))

    async def list_jobs(self, viewer: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest jobs (the viewer's own, or all), with their progress."""
        jobs = await asyncio.to_thread(self.store.list_jobs, viewer, limit=limit)
        return [await self._status(job) for job in jobs]

    async def cancel(self, job_id: str, viewer: str | None) -> dict[str, Any]:
        """Cancel a queued or running job; a finished job is left as it is.

        Returns:
            The job's status afterwards.

        Raises:
            JobNotFound: no such job for this viewer.
        """
        job = await self._job(job_id, viewer)
        if not job.state.terminal:
            self._check_running()
            await self.runner.halt(job_id)
            try:
                event = await asyncio.to_thread(
                    self.store.transition, job_id, JobState.CANCELLED, now=self._clock.wall()
                )
            except IllegalJobTransition:
                pass  # it finished (or failed) just before we stopped it
            else:
                self.runner.synth.bus.publish(event)
                await self.runner.tidy(job_id)
        return await self.status(job_id, viewer)

    async def delete(self, job_id: str, viewer: str | None) -> dict[str, Any]:
        """Cancel an active job; delete a finished, failed or cancelled one with all its files.

        Returns:
            The cancelled job's status, or ``{"id", "status": "deleted", "freed_bytes"}``.

        Raises:
            JobNotFound: no such job for this viewer.
            JobsUnavailable: another process runs this data directory's jobs.
        """
        job = await self._job(job_id, viewer)
        self._check_running()
        if not job.state.terminal:
            return await self.cancel(job_id, viewer)
        await self.runner.wait(job_id)  # its task may still be tidying up after the last transition
        freed = await self._purge(job_id)
        log.info("job deleted", extra={"job_id": job_id, "freed_bytes": freed})
        return {"id": job_id, "status": "deleted", "freed_bytes": freed}

    async def audio(self, job_id: str, viewer: str | None, chapter: int | None = None) -> AudioFile:
        """The whole book's file, or one chapter's.

        Raises:
            JobNotFound: no such job or chapter for this viewer.
            JobNotReady: the file has not been rendered.
        """
        job = await self._job(job_id, viewer)
        spec = format_spec(job.format)
        files = JobFiles(self.runner.audio_dir, job_id)
        if chapter is None:
            if not job.book_ready:
                raise JobNotReady(job_id, "the book's audio", job.state.value)
            return AudioFile(files.book(spec.extension), spec.mime_type, book_file_name(spec.extension))
        if not 1 <= chapter <= job.chapters:
            raise JobNotFound(job_id, f"job {job_id!r} has no chapter {chapter} (it has {job.chapters})")
        chapters = await asyncio.to_thread(self.store.chapters, job_id)
        if not chapters[chapter - 1].ready:
            raise JobNotReady(job_id, f"chapter {chapter}", job.state.value)
        return AudioFile(
            files.chapter(chapter, spec.extension), spec.mime_type, chapter_file_name(chapter, spec.extension)
        )

    async def _timeline(self, job_id: str, viewer: str | None) -> tuple[JobRecord, Timeline]:
        job = await self._job(job_id, viewer)
        if job.state is not JobState.DONE:
            raise JobNotReady(job_id, "the chapter index", job.state.value)
        line = timeline(await asyncio.to_thread(self.store.timings, job_id), job.sample_rate)
        return job, line

    async def index(self, job_id: str, viewer: str | None) -> dict[str, Any]:
        """The chapter index of a finished job: titles, start times, lengths, file names.

        Raises:
            JobNotFound: no such job for this viewer.
            JobNotReady: the job is not done.
        """
        job, line = await self._timeline(job_id, viewer)
        return chapter_index(job, await asyncio.to_thread(self.store.chapters, job_id), line)

    async def captions(
        self, job_id: str, viewer: str | None, kind: Literal["vtt", "srt"], *, words: bool = False
    ) -> str:
        """Per-sentence captions of a finished job's book, as WebVTT or SRT; with ``words``, WebVTT
        with one cue per word.

        Raises:
            JobNotFound: no such job for this viewer.
            JobNotReady: the job is not done.
        """
        _job, line = await self._timeline(job_id, viewer)
        if words:
            return word_webvtt(line)
        return webvtt(line) if kind == "vtt" else srt(line)


def open_jobs(settings: Settings, synth: Synthesizer, clock: Clock) -> JobService:
    """Open the jobs database and build the runner from settings (nothing runs until ``start``).

    Args:
        settings: the configuration (``jobs`` block and ``data_dir``).
        synth: the Synthesizer the segments go through.
        clock: wall time.

    Returns:
        The jobs facade.
    """
    config = settings.jobs
    store = JobStore(config.database or settings.data_dir / "jobs.sqlite3")
    audio_dir = config.audio_dir or settings.data_dir / "jobs"
    runner = JobRunner(synth, store, config, audio_dir, clock)
    return JobService(runner, config, settings.text.max_segment_chars, clock)
