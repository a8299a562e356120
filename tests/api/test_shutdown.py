"""Graceful shutdown of a real ``voxgate serve`` process: SIGTERM lets the request in flight finish."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from voxgate.audio.decode import decode

pytestmark = pytest.mark.long  # fault drills: run by CI after the default suite (`-m long`)

GRACE_S = 20.0
TEXT = " ".join(f"Here is short sentence number {n} of the story." for n in range(1, 16))


def _kill_family(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        family = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.kill()
    psutil.wait_procs(family, timeout=10)


@pytest.fixture
def served(
    tmp_path: Path, free_port: int, wait_ready: Callable[..., None]
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``voxgate serve --port P`` in its own process (piper and espeak, one worker each), ready."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("VOXGATE_")}
    env |= {
        "VOXGATE_DATA_DIR": str(tmp_path),
        "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
        "VOXGATE_ENGINES__PIPER__WORKERS": "1",
        "VOXGATE_ENGINES__ESPEAK__WORKERS": "1",
        "VOXGATE_SERVER__SHUTDOWN_GRACE_S": str(GRACE_S),
    }
    script = Path(sys.executable).with_name("voxgate")
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(script), "serve", "--port", str(free_port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base_url = f"http://127.0.0.1:{free_port}"
            wait_ready(base_url, 60, alive=lambda: proc.poll() is None)
            yield proc, base_url
        finally:
            if proc.poll() is None:  # the test failed before the server stopped: stop it and its workers
                _kill_family(proc.pid)
            proc.wait(timeout=30)


def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_exits_0(
    served: tuple[subprocess.Popen[bytes], str], tmp_path: Path
) -> None:
    """SIGTERM mid-request: it completes in full, new connections are refused, exit 0, no workers left."""
    proc, base_url = served
    workers = psutil.Process(proc.pid).children(recursive=True)
    assert len(workers) >= 2
    result: dict[str, Any] = {}

    def long_request() -> None:
        body = {"text": TEXT, "voice": "joe", "priority": "batch", "deadline_ms": 120_000, "format": "wav"}
        try:
            result["response"] = httpx.post(f"{base_url}/api/v1/tts", json=body, timeout=GRACE_S + 30)
        except httpx.TransportError as exc:  # reported by the assertions below
            result["error"] = repr(exc)
        result["done_at"] = time.monotonic()

    thread = threading.Thread(target=long_request)
    thread.start()
    time.sleep(0.3)
    signalled = time.monotonic()
    proc.send_signal(signal.SIGTERM)

    refused_at = None
    while refused_at is None and time.monotonic() - signalled < 5.0:
        try:
            httpx.get(f"{base_url}/healthz", timeout=1.0)
        except httpx.ConnectError:
            refused_at = time.monotonic()
        except httpx.TransportError:  # accepted into the backlog just as the socket closed: try again
            pass
        time.sleep(0.02)
    thread.join(GRACE_S + 30)
    log = (tmp_path / "server.log").read_text(errors="replace")[-4000:]
    assert refused_at is not None, f"the server still accepted connections 5 s after SIGTERM\n{log}"

    assert "response" in result, f"{result.get('error')}\n{log}"
    response: httpx.Response = result["response"]
    assert response.status_code == 200, log
    assert refused_at < result["done_at"], f"the request was not in flight when shutdown began\n{log}"
    audio, rate = decode(response.content, "wav")
    assert len(audio) / rate > 15.0  # fifteen sentences, none cut off

    assert proc.wait(timeout=GRACE_S + 10) == 0, log
    assert time.monotonic() - signalled < GRACE_S
    _, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"worker processes survived the server: {alive}"
