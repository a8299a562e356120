"""The job runner on real engines in real worker processes: done, capacity, retries, admission, cancel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S
from voxgate.audio.decode import decode
from voxgate.jobs import JobService, JobSpec, JobState, JobStateChanged, SegmentDone
from voxgate.jobs.assemble import CHAPTER_PAUSE_S
from voxgate.jobs.chapters import ChapterText
from voxgate.jobs.files import JobFiles
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, with_jobs
from voxgate.types import AudioFormat, Priority

SENTENCES = HARVARD_SENTENCES[:6]
BOOK = (
    ChapterText("Chapter 1", f"{SENTENCES[0]} {SENTENCES[1]}"),
    ChapterText("Chapter 2", f"{SENTENCES[2]}\n\n{SENTENCES[3]} {SENTENCES[4]}"),
)


def _settings(
    data_dir: Path, tmp: Path, *, chaos: bool = False, piper_workers: int = 1, **qos: Any
) -> Settings:
    failing = {"chaos": {"enabled": True, "error_rate": 1.0}} if chaos else {}
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"workers": piper_workers, **failing},
            "espeak": {"workers": 1, **failing},
        },
        jobs={"database": tmp / "jobs.sqlite3", "audio_dir": tmp / "audio", "retry_backoff_s": 0.05,
              "segment_retries": 1},
        qos=qos,
    )  # fmt: skip


def _run(settings: Settings, body: Callable[[JobService], Awaitable[None]]) -> None:
    with_jobs(settings, body, timeout_s=90)


async def _until(
    jobs: JobService, job_id: str, check: Callable[[dict[str, Any]], bool], limit_s: float = 30
) -> None:
    give_up = time.monotonic() + limit_s
    while not check(await jobs.status(job_id, None)):
        assert time.monotonic() < give_up, await jobs.status(job_id, None)
        await asyncio.sleep(0.02)


def test_job_renders_chapters_and_book_within_its_capacity_share(data_dir: Path, tmp_path: Path) -> None:
    """A job runs at most one segment at a time (half of piper's 2 workers); its audio fits its segments."""

    async def body(jobs: JobService) -> None:
        synth = jobs.runner.synth
        with synth.bus.capture() as events:
            status, created = await jobs.submit(JobSpec(BOOK, voice="joe", format="flac"), owner="me")
            peak = 0
            while (await jobs.status(status["id"], None))["status"] not in ("done", "failed"):
                peak = max(peak, synth.scheduler.in_flight("piper"))
                await asyncio.sleep(0.005)
        assert created
        assert peak == 1
        final = await jobs.status(status["id"], None)
        assert final["status"] == "done", final
        assert final["engines"] == {"piper": 7}
        assert final["degraded_segments"] == 0
        assert final["progress"]["chars_done"] == final["progress"]["chars_total"] > 0
        states = [e.to_state for e in events if isinstance(e, JobStateChanged)]
        assert states == [JobState.QUEUED, JobState.RUNNING, JobState.DONE]
        done = [e for e in events if isinstance(e, SegmentDone)]
        assert sorted(e.seq for e in done) == list(range(7))
        # Title paragraphs and the paragraph in chapter 2 get long pauses, the rest short ones.
        pauses = 3 * PARAGRAPH_PAUSE_S + 2 * SENTENCE_PAUSE_S + CHAPTER_PAUSE_S
        book = await jobs.audio(status["id"], None)
        audio, rate = decode(book.path.read_bytes(), AudioFormat.FLAC)
        assert len(audio) / rate == pytest.approx(sum(e.duration_s for e in done) + pauses, abs=0.01)
        index = await jobs.index(status["id"], None)
        assert index["duration_s"] == pytest.approx(len(audio) / rate, abs=0.01)
        for chapter in index["chapters"]:
            path = (await jobs.audio(status["id"], None, chapter["n"])).path
            chapter_audio, chapter_rate = decode(path.read_bytes(), AudioFormat.FLAC)
            assert len(chapter_audio) / chapter_rate == pytest.approx(chapter["duration_s"], abs=0.01)

    _run(_settings(data_dir, tmp_path, piper_workers=2), body)


def test_a_job_waits_while_interactive_work_holds_its_share(data_dir: Path, tmp_path: Path) -> None:
    """Piper (2 workers, job share 1) holds an interactive lease: the job waits holding nothing, then runs."""

    async def body(jobs: JobService) -> None:
        synth = jobs.runner.synth
        lease = synth.scheduler.slot("piper", priority=Priority.INTERACTIVE, deadline=time.monotonic() + 60)
        async with lease:
            status, _ = await jobs.submit(JobSpec(BOOK[:1], voice="joe", format="wav"), owner="me")
            await _until(jobs, status["id"], lambda s: s["status"] == "running")
            await asyncio.sleep(1.0)
            now = await jobs.status(status["id"], None)
            assert now["progress"]["segments_done"] == 0
            assert synth.scheduler.in_flight("piper") == 1  # the interactive lease alone
            assert synth.scheduler.queued("piper") == 0  # no job segment waits for a worker either
        await _until(jobs, status["id"], lambda s: s["status"] == "done", limit_s=10)

    _run(_settings(data_dir, tmp_path, piper_workers=2), body)


def test_segment_failing_on_every_engine_fails_the_job_after_retries(data_dir: Path, tmp_path: Path) -> None:
    """Every engine erring: the segment is tried 1 + retries times, then the job fails naming it and why."""

    async def body(jobs: JobService) -> None:
        status, _ = await jobs.submit(JobSpec(BOOK[:1], voice="joe"), owner="me")
        await _until(jobs, status["id"], lambda s: s["status"] == "failed")
        final = await jobs.status(status["id"], None)
        assert final["error"].startswith("segment 0 (chapter 1) failed: no engine could answer")
        failed = [s for s in jobs.store.segments(status["id"]) if s.state.value == "failed"]
        assert [(s.seq, s.attempts) for s in failed] == [(0, 2)]

    _run(_settings(data_dir, tmp_path, chaos=True), body)


def test_a_failed_resume_keeps_what_was_done(data_dir: Path, tmp_path: Path) -> None:
    """Stopped after chapter 1, resumed with all engines failing: the job fails, chapter 1 stays available."""
    job_id = ""

    async def first(jobs: JobService) -> None:
        nonlocal job_id
        status, _ = await jobs.submit(JobSpec(BOOK, voice="joe"), owner="me")
        job_id = status["id"]
        await _until(jobs, job_id, lambda s: s["chapters"][0]["audio_ready"])
        await jobs.runner.halt(job_id)

    async def second(jobs: JobService) -> None:
        await _until(jobs, job_id, lambda s: s["status"] == "failed")
        final = await jobs.status(job_id, None)
        assert final["chapters"][0]["audio_ready"]
        assert final["progress"]["segments_done"] >= 3
        chapter = await jobs.audio(job_id, None, 1)
        audio, rate = decode(chapter.path.read_bytes(), AudioFormat.MP3)
        assert len(audio) / rate > 2.0

    _run(_settings(data_dir, tmp_path), first)
    _run(_settings(data_dir, tmp_path, chaos=True), second)


def test_rejected_segments_wait_instead_of_failing(data_dir: Path, tmp_path: Path) -> None:
    """A refusal from admission (the owner spent its daily quota elsewhere meanwhile) makes segments wait."""

    async def body(jobs: JobService) -> None:
        admission = jobs.runner.synth.admission
        spec = JobSpec((ChapterText("", " ".join(SENTENCES[:3])),), voice="joe", format="wav")
        status, _ = await jobs.submit(spec, owner="me")  # the whole text fits in the quota left
        left = await admission.quota_left("me")
        assert left is not None
        await admission.admit("me", Priority.API, left, 60.0, lambda _p, _c: 0.0, queued=0)  # spent elsewhere
        give_up = time.monotonic() + 30
        while not (now := await jobs.status(status["id"], None))["waiting"]:
            assert time.monotonic() < give_up, now
            assert now["status"] in ("queued", "running"), now
            await asyncio.sleep(0.05)
        assert now["waiting"]["reason"] == "quota"
        assert now["status"] == "running"
        assert now["progress"]["segments_done"] < now["progress"]["segments_total"]
        await jobs.cancel(status["id"], None)

    _run(_settings(data_dir, tmp_path, limits={"daily_chars_per_client": {"me": 200}}), body)


def test_cancel_stops_the_job_and_keeps_it_cancelled(data_dir: Path, tmp_path: Path) -> None:
    """Cancelling a running job stops it: no segment is committed afterwards and its state stays cancelled."""

    async def body(jobs: JobService) -> None:
        long = JobSpec((ChapterText("", " ".join(SENTENCES * 5)),), voice="joe")
        status, _ = await jobs.submit(long, owner="me")
        await _until(jobs, status["id"], lambda s: s["progress"]["segments_done"] >= 2)
        cancelled = await jobs.cancel(status["id"], None)
        assert cancelled["status"] == "cancelled"
        done = cancelled["progress"]["segments_done"]
        assert done < cancelled["progress"]["segments_total"]
        await asyncio.sleep(0.5)
        later = await jobs.status(status["id"], None)
        assert later["status"] == "cancelled"
        assert (
            later["progress"]["segments_done"] <= done + 1
        )  # at most the segment whose commit was in flight
        assert not jobs.runner.is_working(status["id"])
        files = JobFiles(jobs.runner.audio_dir, status["id"])
        assert not files.book("mp3").exists()

    _run(_settings(data_dir, tmp_path), body)
