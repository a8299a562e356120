"""The resumable job runner: segments through the Synthesizer at batch priority, then chapters and book.

One asyncio task per active job. A job walks its chapters in order; each chapter's pending
segments go to :meth:`Synthesizer.synthesize` at ``Priority.BATCH`` (interactive and API
requests are scheduled first) and only start in capacity interactive and API work leave idle
(see :mod:`voxgate.jobs.share`: within ``jobs.capacity_share``, after a grace period of quiet).
A segment's WAV answer is
written and fsynced to its file before its row is committed DONE, so after a crash (kill -9)
the job resumes at its first unfinished segment with nothing lost, repeated or torn. When a
chapter's segments are all done its file is rendered; after the last chapter, the book.

Segments are admitted under the job owner's own client id, so the owner's daily character quota
covers its jobs as it covers its requests (a segment is charged when it is synthesised; the
Synthesizer refunds a segment that fails). Once the job is DONE its segment files are removed
(unless ``jobs.keep_segments``): the chapter and book files, the index and the captions need
only the segment lengths, which are in the database.

Disk full (ENOSPC) is not a failure either: the job waits ``jobs.disk_full_retry_s`` with the
reason ``disk full`` (shown in its status) and writes again, keeping the audio it already has; deleting a
job (``DELETE`` or the retention sweep) wakes it at once.

Failures: ``Rejected`` (admission: rate limit, quota, overload) is not a failure; the segment
waits ``retry_after`` and tries again. ``NoEngineAvailable`` is retried with exponential backoff
``jobs.segment_retries`` times, then the job is FAILED with the reason, keeping what was done.
Any other voxgate error (the voice is gone) fails the job at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, ParamSpec, TypeVar

from voxgate.audio.formats import format_spec
from voxgate.clock import Clock
from voxgate.errors import NoEngineAvailable, Rejected, VoxgateError
from voxgate.jobs.assemble import render, timeline
from voxgate.jobs.files import WAV_HEADER_BYTES, JobFiles, atomic_writer, disk_full, wav_samples
from voxgate.jobs.models import JobRecord, JobState, SegmentDone, SegmentRecord, SegmentState
from voxgate.jobs.progress import Waiting
from voxgate.jobs.share import JobShare
from voxgate.jobs.store import JobStore
from voxgate.qos.events import EventBus
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import JobsSettings
from voxgate.text import PreparedSegment, PreparedText
from voxgate.text.language import split_language_runs
from voxgate.types import AudioFormat, Priority, Prosody

__all__ = ["DISK_FULL", "JobRunner", "SegmentGaveUp"]

DISK_FULL = "disk full"
"""The waiting reason of a job that could not write for lack of space."""

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class SegmentGaveUp(Exception):  # noqa: N818 (an outcome, not a bug)
    """A segment could not be spoken within its retries; its job fails with this reason.

    Args:
        seq: the segment.
        reason: the job's error message.
    """

    def __init__(self, seq: int, reason: str) -> None:
        super().__init__(reason)
        self.seq = seq
        self.reason = reason


class JobRunner:
    """Runs every queued and running job until it is done, failed or cancelled.

    Args:
        synth: the started Synthesizer.
        store: the jobs database.
        config: capacity share, retries and backoff.
        audio_dir: where segment, chapter and book files go.
        clock: wall time for commits and the ETA.
        bus: receives ``JobStateChanged`` and ``SegmentDone`` events (default: the Synthesizer's).
    """

    def __init__(
        self,
        synth: Synthesizer,
        store: JobStore,
        config: JobsSettings,
        audio_dir: Path,
        clock: Clock,
        *,
        bus: EventBus | None = None,
    ) -> None:
        self.synth = synth
        self.store = store
        self.audio_dir = audio_dir
        self._config = config
        self._clock = clock
        self._bus = bus if bus is not None else synth.bus
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.share = JobShare(synth, config, clock)
        self.waiting: dict[str, Waiting] = {}
        self._space_freed = asyncio.Event()

    # ---- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Resume every job the database says is queued or running."""
        self.share.attach()
        for job in await self._db(self.store.active):
            self.launch(job.id)
        if self._tasks:
            log.info("resuming jobs", extra={"jobs": list(self._tasks)})

    async def stop(self) -> None:
        """Stop working (jobs stay queued or running in the database, to resume on the next start)."""
        self.share.detach()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def launch(self, job_id: str) -> None:
        """Start working on a job unless it is already being worked on."""
        if job_id not in self._tasks:
            # A fresh context: the job must not carry the submitting request's log context.
            task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}", context=contextvars.Context())
            self._tasks[job_id] = task
            task.add_done_callback(lambda t: self._forget(job_id, t))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    def is_working(self, job_id: str) -> bool:
        """Whether a task is working on the job right now."""
        return job_id in self._tasks

    async def halt(self, job_id: str) -> None:
        """Stop working on a job (to cancel it) and wait until its task has ended."""
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def wait(self, job_id: str) -> None:
        """Wait until the task working on the job ends (returns at once if none is)."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    # ---- one job -------------------------------------------------------------------------------
    async def _db(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def _transition(self, job_id: str, to: JobState, error: str | None = None) -> None:
        event = await self._db(self.store.transition, job_id, to, now=self._clock.wall(), error=error)
        self._bus.publish(event)
        log.info("job %s", to.value, extra={"job_id": job_id, **({"error": error} if error else {})})

    async def _run(self, job_id: str) -> None:
        try:
            job = await self._db(self.store.get, job_id)
            if job is None or job.state.terminal:
                return
            if job.state is JobState.QUEUED:
                await self._transition(job_id, JobState.RUNNING)
            files = JobFiles(self.audio_dir, job_id)
            await asyncio.to_thread(files.remove_partial)
            await self._verify(job, files)
            await self._work(job, files)
            await self._transition(job_id, JobState.DONE)
            await self.tidy(job_id)
        except SegmentGaveUp as exc:  # one transaction: the segment and its job fail together
            event = await self._db(self.store.fail, job_id, exc.seq, exc.reason, now=self._clock.wall())
            self._bus.publish(event)
            log.info("job failed", extra={"job_id": job_id, "error": exc.reason})
            await self.tidy(job_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # disk full, a damaged file: fail the job visibly rather than stall
            log.exception("job %s broke", job_id)
            await self._transition(job_id, JobState.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            with contextlib.suppress(OSError):  # best effort: the trouble may be the disk itself
                await self.tidy(job_id)
        finally:
            self.waiting.pop(job_id, None)

    async def tidy(self, job_id: str) -> None:
        """After a job finished (done, failed, cancelled): drop its segment files unless
        ``jobs.keep_segments`` (it never runs again; its chapter files, index and captions do not need
        them), and record what it holds on disk in place of its estimate."""
        files = JobFiles(self.audio_dir, job_id)
        if not self._config.keep_segments:
            await asyncio.to_thread(files.remove_segments)
        await self._db(self.store.set_disk_bytes, job_id, await asyncio.to_thread(files.size))

    async def _until_written(self, job_id: str, what: str, write: Callable[[], Awaitable[R]]) -> R:
        """Run ``write``; while the disk is full, wait ``jobs.disk_full_retry_s`` ("disk full"), retry."""
        while True:
            try:
                return await write()
            except (OSError, sqlite3.OperationalError) as exc:
                if not disk_full(exc):
                    raise
                log.warning(
                    "disk full writing %s; the job waits %.0f s and tries again",
                    what,
                    self._config.disk_full_retry_s,
                    extra={"job_id": job_id},
                )
                await self._pause(job_id, DISK_FULL, self._config.disk_full_retry_s, self._space_freed)

    async def _verify(self, job: JobRecord, files: JobFiles) -> None:
        """Send DONE segments whose file is missing or of the wrong size back to PENDING."""
        done = await self._db(self.store.segments, job.id, SegmentState.DONE)

        def damaged() -> list[int]:
            bad = []
            for segment in done:
                path = files.segment(segment.seq)
                expected = WAV_HEADER_BYTES + 2 * segment.samples
                if not path.is_file() or path.stat().st_size != expected:
                    bad.append(segment.seq)
            return bad

        for seq in await asyncio.to_thread(damaged):
            log.warning("segment audio missing or damaged; redoing it", extra={"job_id": job.id, "seq": seq})
            await self._db(self.store.reset_segment, job.id, seq)

    async def _work(self, job: JobRecord, files: JobFiles) -> None:
        extension = format_spec(job.format).extension
        segments = await self._db(self.store.segments, job.id)
        for chapter in await self._db(self.store.chapters, job.id):
            pending = [s for s in segments if s.chapter == chapter.n and s.state is not SegmentState.DONE]
            if pending:
                await self._speak(job, pending, files)
            path = files.chapter(chapter.n, extension)
            if pending or not chapter.ready or not path.is_file():
                render_chapter = functools.partial(self._render, job, files, chapter.n)
                await self._until_written(job.id, f"chapter {chapter.n}", render_chapter)
        if not job.book_ready or not files.book(extension).is_file():
            await self._until_written(job.id, "the book", lambda: self._render(job, files, None))

    async def _render(self, job: JobRecord, files: JobFiles, chapter: int | None) -> None:
        extension = format_spec(job.format).extension
        line = timeline(await self._db(self.store.timings, job.id), job.sample_rate)
        segment_files = [files.segment(seq) for seq in range(job.segments)]
        if chapter is None:
            pieces, out = line.book_pieces(segment_files), files.book(extension)
        else:
            pieces, out = line.chapter_pieces(chapter, segment_files), files.chapter(chapter, extension)
        await asyncio.to_thread(render, pieces, job.sample_rate, job.format, out)
        if chapter is None:
            await self._db(self.store.set_book_ready, job.id)
        else:
            await self._db(self.store.set_chapter_ready, job.id, chapter)

    async def _speak(self, job: JobRecord, pending: list[SegmentRecord], files: JobFiles) -> None:
        slots = self.share.slots(job.engine)
        try:
            async with asyncio.TaskGroup() as group:
                for segment in pending:
                    await slots.acquire()
                    task = group.create_task(self._segment(job, segment, files))
                    task.add_done_callback(lambda _t: slots.release())
        except* SegmentGaveUp as group:
            raise group.exceptions[0] from None

    async def _segment(self, job: JobRecord, segment: SegmentRecord, files: JobFiles) -> None:
        request = SynthesisRequest(
            segment.source or segment.text,  # the words its captions name
            voice=segment.voice or job.voice,
            speed=job.speed,
            format=AudioFormat.WAV,
            # a script's speakers may have other native rates: every segment at the job's rate
            sample_rate=job.sample_rate if segment.voice else None,
            priority=Priority.BATCH,
            client_id=job.owner,  # the owner's own quota covers its jobs
            rate_limited=False,
            use_cache=False,
            timestamps=True,  # for word captions
            prepared=_prepared(segment),
        )
        attempts = segment.attempts
        while True:
            try:
                result = await self.synth.synthesize(request)
                break
            except Rejected as exc:  # admission said later, not never
                await self._pause(job.id, exc.reason, exc.retry_after)
            except NoEngineAvailable as exc:
                attempts += 1
                if attempts > self._config.segment_retries:
                    await self._give_up(segment, exc)
                await self._db(self.store.record_attempt, job.id, segment.seq, str(exc))
                log.warning("segment failed; will retry", extra={"job_id": job.id, "seq": segment.seq})
                backoff = self._config.retry_backoff_s * 2 ** (attempts - 1)
                await self._pause(job.id, "retry", min(backoff, self._config.retry_backoff_max_s))
            except VoxgateError as exc:  # the voice or language is gone: retrying cannot help
                await self._give_up(segment, exc)
        rate, samples = wav_samples(result.audio)
        if rate != job.sample_rate:
            reason = f"segment {segment.seq}: audio at {rate} Hz, the job is at {job.sample_rate} Hz"
            raise SegmentGaveUp(segment.seq, reason)
        path = files.segment(segment.seq)
        # The audio is kept while the disk is full: it is written later, not synthesised (and charged) again.
        await self._until_written(
            job.id, f"segment {segment.seq}", lambda: asyncio.to_thread(self._write, path, result.audio)
        )
        await self._until_written(
            job.id,
            f"segment {segment.seq} (database)",
            lambda: self._db(
                self.store.complete_segment,
                job.id,
                segment.seq,
                samples=samples,
                engine=result.meta.engine,
                degraded=result.meta.degraded,
                now=self._clock.wall(),
                words=[(w.text, w.start, w.end) for w in result.timestamps.words]
                if result.timestamps
                else (),
                ignored=result.meta.ignored,
            ),
        )
        self._bus.publish(
            SegmentDone(job.id, segment.seq, result.meta.engine, result.meta.degraded, samples / rate)
        )

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        with atomic_writer(path) as file:
            file.write(data)

    @staticmethod
    async def _give_up(segment: SegmentRecord, exc: Exception) -> NoReturn:
        reason = f"segment {segment.seq} (chapter {segment.chapter}) failed: {exc}"
        raise SegmentGaveUp(segment.seq, reason) from exc

    async def _pause(
        self, job_id: str, reason: str, seconds: float, wake: asyncio.Event | None = None
    ) -> None:
        self.waiting[job_id] = Waiting(reason, self._clock.wall() + seconds)
        try:
            if wake is None:
                await asyncio.sleep(seconds)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), seconds)
        finally:
            self.waiting.pop(job_id, None)

    def space_freed(self) -> None:
        """Wake the jobs waiting for disk space now (a job was deleted), not at their next retry."""
        self._space_freed.set()
        self._space_freed = asyncio.Event()


def _prepared(segment: SegmentRecord) -> PreparedText:
    """A stored segment as the front end made it at submission: spoken as it is, not prepared again."""
    marked = segment.phonemes is not None or segment.prosody != Prosody()
    piece = PreparedSegment(
        text=segment.text,
        language=segment.language,
        paragraph_end=False,
        runs=tuple(split_language_runs(segment.text, default_language=segment.language)),
        prosody=segment.prosody,
        phonemes=segment.phonemes,
        alphabet=segment.alphabet,
    )
    return PreparedText(segment.text, segment.language, (piece,), ssml=marked)
