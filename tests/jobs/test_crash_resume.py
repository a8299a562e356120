"""kill -9 the real server and its workers mid-job, restart it: the job resumes, nothing lost or doubled."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S
from voxgate.audio.decode import decode
from voxgate.jobs.assemble import CHAPTER_PAUSE_S
from voxgate.testing import HARVARD_SENTENCES, free_port

pytestmark = pytest.mark.long  # fault drills: run by CI after the default suite (`-m long`)

SENTENCES = HARVARD_SENTENCES[:9]
CHAPTERS = [
    {"title": f"Chapter {n}", "text": " ".join(SENTENCES)} for n in (1, 2)
]  # 2 × (1 + 9) = 20 segments


@contextlib.contextmanager
def _server(data_dir: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`voxgate serve` in its own process group (workers included); killed with the group on exit."""
    port = free_port()
    env = {
        **os.environ,
        "VOXGATE_DATA_DIR": str(data_dir),
        "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
        "VOXGATE_ENGINES__PIPER__WORKERS": "1",
        "VOXGATE_ENGINES__ESPEAK__WORKERS": "1",
        "VOXGATE_JOBS__KEEP_SEGMENTS": "true",  # to check every segment file once the job is done
    }
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "voxgate.cli", "serve", "--port", str(port)],
            env=env, stdout=sink, stderr=sink, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        give_up = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < give_up, "server not ready in 60 s"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        yield process, url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _segments(data_dir: Path, job_id: str) -> dict[int, tuple[str, int, float | None]]:
    """seq → (state, samples, done_at), read straight from the database."""
    with contextlib.closing(sqlite3.connect(data_dir / "jobs.sqlite3")) as db:
        rows = db.execute("SELECT seq, state, samples, done_at FROM segments WHERE job_id = ?", (job_id,))
        return {seq: (state, samples, done_at) for seq, state, samples, done_at in rows}


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_kill_9_mid_job_then_restart_resumes_without_loss_or_duplication(tmp_path: Path) -> None:
    """SIGKILL server and workers after a few segments; on restart the job finishes from where it stopped."""
    data_dir, log = tmp_path / "data", tmp_path / "server.log"
    with _server(data_dir, log) as (process, url):
        created = httpx.post(f"{url}/api/v1/jobs", json={"chapters": CHAPTERS, "voice": "joe"}, timeout=30)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]
        assert created.json()["progress"]["segments_total"] == 20
        give_up = time.monotonic() + 60
        while httpx.get(f"{url}/api/v1/jobs/{job_id}").json()["progress"]["segments_done"] < 4:
            assert time.monotonic() < give_up
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not _group_gone(process.pid):
            assert time.monotonic() < deadline, "workers outlived SIGKILL of their group"
            time.sleep(0.05)

    before = _segments(data_dir, job_id)
    done_before = {seq: row for seq, row in before.items() if row[0] == "done"}
    assert 4 <= len(done_before) < 20
    segment_dir = data_dir / "jobs" / job_id / "segments"
    for seq, (_, samples, _) in done_before.items():  # every committed segment is whole on disk
        assert (segment_dir / f"{seq:06d}.wav").stat().st_size == 44 + 2 * samples

    with _server(data_dir, log) as (_, url):
        give_up = time.monotonic() + 60
        while (status := httpx.get(f"{url}/api/v1/jobs/{job_id}").json())["status"] != "done":
            assert status["status"] == "running", status
            assert time.monotonic() < give_up, status
            time.sleep(0.1)
        book = httpx.get(f"{url}/api/v1/jobs/{job_id}/audio", timeout=30)
        index = httpx.get(f"{url}/api/v1/jobs/{job_id}/index").json()

    after = _segments(data_dir, job_id)
    assert sorted(after) == list(range(20))
    assert all(state == "done" for state, _, _ in after.values())
    for seq, row in done_before.items():  # resumed, not restarted: committed segments were not redone
        assert after[seq] == row
    files = sorted(p.name for p in segment_dir.iterdir())
    assert files == [f"{seq:06d}.wav" for seq in range(20)]  # exactly one file per segment, no leftovers
    for seq, (_, samples, _) in after.items():
        assert (segment_dir / f"{seq:06d}.wav").stat().st_size == 44 + 2 * samples

    audio, rate = decode(book.content, "mp3")
    spoken = sum(samples for _, samples, _ in after.values()) / 22050
    pauses = 2 * (PARAGRAPH_PAUSE_S + 8 * SENTENCE_PAUSE_S) + CHAPTER_PAUSE_S
    assert len(audio) / rate == pytest.approx(spoken + pauses, abs=0.02)
    assert index["duration_s"] == pytest.approx(spoken + pauses, abs=0.002)
