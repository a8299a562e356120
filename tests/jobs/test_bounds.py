"""Bounded jobs on real engines and files: active cap, quota, disk budget, delete, retention, ENOSPC, lock."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from voxgate.api.errors import response_for
from voxgate.clock import Clock, SystemClock
from voxgate.jobs import JobService, JobSpec, open_jobs
from voxgate.jobs.chapters import ChapterText
from voxgate.jobs.errors import (
    DiskBudgetExceeded,
    JobNotFound,
    JobQuotaExceeded,
    JobsUnavailable,
    TooManyActiveJobs,
)
from voxgate.jobs.files import JobFiles
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, FakeClock, with_jobs

SENTENCES = HARVARD_SENTENCES[:6]
DAY = 86_400.0
RETRY_S = 8.0


def _settings(data_dir: Path, tmp: Path, jobs: dict[str, Any] | None = None, **qos: Any) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"workers": 1}, "espeak": {"workers": 1}},
        jobs={"database": tmp / "jobs.sqlite3", "audio_dir": tmp / "audio", **(jobs or {})},
        qos=qos,
    )


def _run(
    settings: Settings, body: Callable[[JobService], Awaitable[None]], clock: Clock | None = None
) -> None:
    with_jobs(settings, body, clock=clock)


async def _until(
    jobs: JobService, job_id: str, check: Callable[[dict[str, Any]], bool], limit_s: float = 60
) -> dict[str, Any]:
    give_up = time.monotonic() + limit_s
    while not check(status := await jobs.status(job_id, None)):
        assert time.monotonic() < give_up, status
        await asyncio.sleep(0.02)
    return status


def _spec(sentences: int, fmt: str = "wav") -> JobSpec:
    return JobSpec((ChapterText("", " ".join((SENTENCES * 10)[:sentences])),), voice="joe", format=fmt)


def test_active_jobs_per_owner_and_the_disk_budget_are_refused_before_a_job_starts(
    data_dir: Path, tmp_path: Path
) -> None:
    """One active job per owner (429 naming the setting); a book whose audio cannot fit the budget: 413."""

    async def body(jobs: JobService) -> None:
        with pytest.raises(DiskBudgetExceeded) as too_big:
            await jobs.submit(_spec(40), owner="me")
        response = response_for(too_big.value)
        assert response.status_code == 413
        assert b"jobs.max_disk_bytes" in response.body
        assert b"disk_budget_exceeded" in response.body
        first, _ = await jobs.submit(_spec(12), owner="me")
        with pytest.raises(TooManyActiveJobs) as busy:
            await jobs.submit(_spec(1), owner="me")
        response = response_for(busy.value)
        assert response.status_code == 429
        assert response.headers["Retry-After"]
        assert b"jobs.max_active_per_owner" in response.body
        other, _ = await jobs.submit(_spec(1), owner="you")  # the cap is per owner
        await jobs.cancel(first["id"], None)
        assert not (JobFiles(jobs.runner.audio_dir, first["id"]).dir / "segments").exists()  # runs no more
        again, created = await jobs.submit(_spec(1), owner="me")
        assert created
        for job_id in (other["id"], again["id"]):
            await _until(jobs, job_id, lambda s: s["status"] == "done")

    budget = {"max_active_per_owner": 1, "max_disk_bytes": 10_000_000}
    _run(_settings(data_dir, tmp_path, budget), body)


def test_the_owners_own_quota_covers_its_jobs(data_dir: Path, tmp_path: Path) -> None:
    """Checked for the whole text at submission (with other active jobs), charged per segment to the owner."""

    async def body(jobs: JobService) -> None:
        admission = jobs.runner.synth.admission
        first, _ = await jobs.submit(_spec(2), owner="me")
        with pytest.raises(JobQuotaExceeded) as refused:  # 150 - 85 owed by the first job < 85
            await jobs.submit(_spec(2), owner="me")
        assert 0 < refused.value.retry_after <= DAY
        response = response_for(refused.value)
        assert response.status_code == 429
        assert response.headers["Retry-After"]
        assert b'"quota"' in response.body
        done = await _until(jobs, first["id"], lambda s: s["status"] == "done")
        chars = done["progress"]["chars_total"]
        assert await admission.quota_left("me") == 150 - chars  # charged to the owner itself
        # and not to a separate job client
        assert await admission.quota_left("job:me") == Settings().qos.limits.daily_chars
        second, created = await jobs.submit(_spec(1), owner="me")
        assert created
        await _until(jobs, second["id"], lambda s: s["status"] == "done")

    _run(_settings(data_dir, tmp_path, limits={"daily_chars_per_client": {"me": 150}}), body)


def test_done_jobs_lose_segments_are_deleted_on_request_and_expire(data_dir: Path, tmp_path: Path) -> None:
    """Done: segments gone, chapters/index/captions still served; DELETE frees the files; old jobs swept."""
    clock = FakeClock()

    async def body(jobs: JobService) -> None:
        kept, _ = await jobs.submit(_spec(3, "mp3"), owner="me")
        purged, _ = await jobs.submit(_spec(1, "mp3"), owner="me")
        for job_id in (kept["id"], purged["id"]):
            await _until(jobs, job_id, lambda s: s["status"] == "done")
            await jobs.runner.wait(job_id)
        files = JobFiles(jobs.runner.audio_dir, kept["id"])
        assert not (files.dir / "segments").exists()
        assert (await jobs.audio(kept["id"], None, 1)).path.is_file()
        assert (await jobs.index(kept["id"], None))["duration_s"] > 2
        assert (await jobs.captions(kept["id"], None, "vtt")).count(" --> ") == 3
        other = JobFiles(jobs.runner.audio_dir, purged["id"])
        assert jobs.store.reserved_bytes() == files.size() + other.size()

        deleted = await jobs.delete(purged["id"], None)
        assert deleted["status"] == "deleted"
        assert deleted["freed_bytes"] > 0
        assert not JobFiles(jobs.runner.audio_dir, purged["id"]).dir.exists()
        with pytest.raises(JobNotFound):
            await jobs.status(purged["id"], None)

        clock.advance(7 * DAY - 60)
        assert await jobs.sweep() == []
        clock.advance(120)
        assert await jobs.sweep() == [kept["id"]]
        assert not files.dir.exists()
        assert jobs.store.get(kept["id"]) is None

    _run(_settings(data_dir, tmp_path), body, clock)


def test_keep_segments_keeps_them(data_dir: Path, tmp_path: Path) -> None:
    """With jobs.keep_segments the segment files stay after the job is done."""

    async def body(jobs: JobService) -> None:
        status, _ = await jobs.submit(_spec(2), owner="me")
        await _until(jobs, status["id"], lambda s: s["status"] == "done")
        await jobs.runner.wait(status["id"])
        segments = JobFiles(jobs.runner.audio_dir, status["id"]).dir / "segments"
        assert len(list(segments.glob("*.wav"))) == 2

    _run(_settings(data_dir, tmp_path, {"keep_segments": True}), body)


class _Disk:
    """A directory whose disk can be filled and freed: a 4 MiB tmpfs (as root), else ENOSPC at fsync.

    The fallback is fault injection at the OS edge: ``os.fsync`` raises ENOSPC for files under the
    directory while it is "full", as it does on a full disk with delayed allocation.
    """

    def __init__(self, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.path = path
        self._monkeypatch = monkeypatch
        self._full = False
        path.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(path)], capture_output=True, check=False
        )
        self.tmpfs = mounted.returncode == 0
        if not self.tmpfs:
            real_fsync = os.fsync

            def fsync(fd: int) -> None:
                if self._full and os.readlink(f"/proc/self/fd/{fd}").startswith(str(path)):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                real_fsync(fd)

            monkeypatch.setattr(os, "fsync", fsync)

    def fill(self) -> None:
        """Leave (almost) no space."""
        self._full = True
        if self.tmpfs:
            fd = os.open(self.path / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, bytes(4096)):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            finally:
                os.close(fd)

    def free(self) -> None:
        """Give the space back."""
        self._full = False
        (self.path / "filler").unlink(missing_ok=True)

    def close(self) -> None:
        """Unmount the tmpfs."""
        if self.tmpfs:
            subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Disk]:
    """A disk for the jobs' audio that a test can fill up and free again."""
    disk = _Disk(tmp_path / "disk", monkeypatch)
    try:
        yield disk
    finally:
        disk.close()


@pytest.mark.long
def test_a_full_disk_pauses_the_job_which_resumes_when_space_returns(
    data_dir: Path, tmp_path: Path, small_disk: _Disk
) -> None:
    """ENOSPC: the job waits ("disk full"), keeps its audio, resumes once there is space (DELETE wakes it)."""

    async def body(jobs: JobService) -> None:
        admission = jobs.runner.synth.admission
        before = await admission.quota_left("me")
        assert before is not None
        status, _ = await jobs.submit(_spec(6), owner="me")  # refused if the disk were full already
        small_disk.fill()
        waiting = await _until(jobs, status["id"], lambda s: s["waiting"] is not None)
        assert waiting["waiting"]["reason"] == "disk full"
        assert waiting["status"] == "running"
        await asyncio.sleep(0.5)  # it retries and still waits; it does not fail
        assert (await jobs.status(status["id"], None))["status"] == "running"
        small_disk.free()  # the next retry (disk_full_retry_s later) finds space
        done = await _until(jobs, status["id"], lambda s: s["status"] == "done")
        assert done["progress"]["segments_done"] == 6
        assert await admission.quota_left("me") == before - done["progress"]["chars_total"]  # charged once

        second, _ = await jobs.submit(_spec(6), owner="me")
        small_disk.fill()
        await _until(jobs, second["id"], lambda s: s["waiting"] is not None)
        small_disk.free()
        await jobs.delete(status["id"], None)  # deleting a job wakes the jobs waiting for space
        await _until(jobs, second["id"], lambda s: s["waiting"] is None, limit_s=RETRY_S / 2)
        await _until(jobs, second["id"], lambda s: s["status"] == "done")
        if small_disk.tmpfs:  # a job whose audio cannot fit in the free space is refused up front
            small_disk.fill()
            with pytest.raises(DiskBudgetExceeded, match="free on the"):
                await jobs.submit(_spec(1), owner="me")

    settings = Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"workers": 1}, "espeak": {"workers": 1}},
        jobs={"database": tmp_path / "db", "audio_dir": small_disk.path, "disk_full_retry_s": RETRY_S},
    )
    _run(settings, body)


def test_a_second_service_on_the_same_database_does_not_run_its_jobs(data_dir: Path, tmp_path: Path) -> None:
    """The jobs lock: the second service reads jobs but refuses to submit, cancel or delete (503)."""
    settings = _settings(data_dir, tmp_path)

    async def body(jobs: JobService) -> None:
        other = open_jobs(settings, jobs.runner.synth, SystemClock())
        await other.start()
        try:
            assert jobs.running_jobs
            assert not other.running_jobs
            with pytest.raises(JobsUnavailable) as refused:
                await other.submit(_spec(1), owner="me")
            assert response_for(refused.value).status_code == 503
            status, _ = await jobs.submit(_spec(1), owner="me")
            assert (await other.status(status["id"], None))["id"] == status["id"]
            with pytest.raises(JobsUnavailable):
                await other.cancel(status["id"], None)
            assert not other.runner.is_working(status["id"])
            await _until(jobs, status["id"], lambda s: s["status"] == "done")
        finally:
            await other.stop()

    _run(settings, body)
