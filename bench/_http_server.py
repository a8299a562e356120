"""The servers the HTTP bench talks to: ``voxgate serve`` and piper's own Flask server, as subprocesses.

Both bind 127.0.0.1 on a free port, are waited for with a bounded poll, and are stopped (SIGTERM,
then SIGKILL after a grace period) when the ``with`` block ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from voxgate.testing import free_port

VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Server:
    """A running server.

    Attributes:
        name: what it is, for messages.
        url: base URL, e.g. ``http://127.0.0.1:41234``.
        pid: its process id.
        startup_s: seconds from spawn until it answered its readiness probe.
    """

    name: str
    url: str
    pid: int
    startup_s: float


@contextmanager
def voxgate_server(data_dir: Path, log_path: Path, env: Mapping[str, str] = {}) -> Iterator[Server]:
    """Run ``voxgate serve`` with the default settings, the given data dir and extra ``VOXGATE_*`` env.

    Args:
        data_dir: ``VOXGATE_DATA_DIR`` (models, cache, jobs).
        log_path: where the server's JSON log goes.
        env: extra environment variables (settings overrides).

    Yields:
        The server, once ``GET /readyz`` answered 200 (all engines warm).
    """
    port = free_port()
    environment = {**os.environ, "VOXGATE_DATA_DIR": str(data_dir), **env}
    command = [str(VENV_BIN / "voxgate"), "serve", "--host", HOST, "--port", str(port)]
    with _process("voxgate", command, environment, log_path, f"http://{HOST}:{port}", "/readyz") as server:
        yield server


@contextmanager
def piper_server(model_path: Path, log_path: Path) -> Iterator[Server]:
    """Run piper's own HTTP server (``python -m piper.http_server``) on the same voice model.

    Args:
        model_path: the ``.onnx`` voice (its config is ``<model>.json`` beside it).
        log_path: where its log goes.

    Yields:
        The server, once ``GET /info`` answered 200.
    """
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "piper.http_server",
        "--host",
        HOST,
        "--port",
        str(port),
        "-m",
        str(model_path),
    ]
    with _process(
        "piper.http_server", command, dict(os.environ), log_path, f"http://{HOST}:{port}", "/info"
    ) as s:
        yield s


@contextmanager
def _process(
    name: str, command: list[str], env: dict[str, str], log_path: Path, url: str, probe: str
) -> Iterator[Server]:
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_ready(name, process, url + probe, log_path, timeout_s=180.0)
        yield Server(name, url, process.pid, time.perf_counter() - started)
    finally:
        _stop(process)


def _wait_ready(
    name: str, process: subprocess.Popen[bytes], url: str, log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {process.returncode} before it was ready:\n{tail}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{name} was not ready within {timeout_s:.0f} s (log: {log_path})")


def _stop(process: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM the server (it stops its own workers), SIGKILL its whole group if it is not gone in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):  # stragglers (workers) must not outlive the bench
        os.killpg(process.pid, signal.SIGKILL)
