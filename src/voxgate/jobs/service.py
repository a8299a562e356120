"""The jobs facade every client uses (HTTP routes, the CLI): submit, follow, fetch, cancel."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voxgate.audio.formats import format_spec
from voxgate.clock import Clock
from voxgate.jobs.assemble import Timeline, timeline
from voxgate.jobs.captions import book_file_name, chapter_file_name, chapter_index, srt, webvtt
from voxgate.jobs.errors import JobNotFound, JobNotReady
from voxgate.jobs.files import JobFiles
from voxgate.jobs.models import IllegalJobTransition, JobRecord, JobState, JobStateChanged
from voxgate.jobs.plan import JobSpec, plan_job
from voxgate.jobs.progress import job_status
from voxgate.jobs.runner import JobRunner
from voxgate.jobs.store import JobStore
from voxgate.service import Synthesizer
from voxgate.settings import JobsSettings, Settings

__all__ = ["AudioFile", "JobService", "open_jobs"]


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
        clock: wall time.
    """

    def __init__(self, runner: JobRunner, config: JobsSettings, max_segment_chars: int, clock: Clock) -> None:
        self.runner = runner
        self.store: JobStore = runner.store
        self._config = config
        self._max_segment_chars = max_segment_chars
        self._clock = clock

    @property
    def max_total_chars(self) -> int:
        """The most characters one job may have."""
        return self._config.max_total_chars

    async def start(self) -> None:
        """Resume the jobs the database says are unfinished."""
        await self.runner.start()

    async def stop(self) -> None:
        """Stop working (unfinished jobs resume at the next start) and close the database."""
        await self.runner.stop()
        await asyncio.to_thread(self.store.close)

    async def submit(
        self, spec: JobSpec, *, owner: str, idempotency_key: str | None = None, field: str = "text"
    ) -> tuple[dict[str, Any], bool]:
        """Plan and store a job, and start it.

        Args:
            spec: the submission.
            owner: the submitting client.
            idempotency_key: a retried submission with the same key gets the same job.
            field: the input to blame for problems with the text.

        Returns:
            The job's status, and whether it was created (False: the key named an existing job).

        Raises:
            InvalidInput: empty or too long text, unknown voice, bad format or speed, a reused key.
        """
        synth = self.runner.synth
        job = await asyncio.to_thread(
            plan_job,
            spec,
            catalog=synth.catalog,
            chains=synth.chains,
            max_total_chars=self._config.max_total_chars,
            max_segment_chars=self._max_segment_chars,
            field=field,
        )
        record, created = await asyncio.to_thread(
            self.store.create, job, owner=owner, idempotency_key=idempotency_key, now=self._clock.wall()
        )
        if created:
            synth.bus.publish(JobStateChanged(record.id, None, JobState.QUEUED))
            self.runner.launch(record.id)
        return await self._status(record), created

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
            await self.runner.halt(job_id)
            try:
                event = await asyncio.to_thread(
                    self.store.transition, job_id, JobState.CANCELLED, now=self._clock.wall()
                )
            except IllegalJobTransition:
                pass  # it finished (or failed) just before we stopped it
            else:
                self.runner.synth.bus.publish(event)
        return await self.status(job_id, viewer)

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

    async def captions(self, job_id: str, viewer: str | None, kind: Literal["vtt", "srt"]) -> str:
        """Per-sentence captions of a finished job's book, as WebVTT or SRT.

        Raises:
            JobNotFound: no such job for this viewer.
            JobNotReady: the job is not done.
        """
        _job, line = await self._timeline(job_id, viewer)
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
