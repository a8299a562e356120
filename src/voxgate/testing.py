"""Test helpers that are part of the public API (see STYLE.md rule 11)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voxgate.clock import Clock
    from voxgate.jobs import JobService
    from voxgate.service import Synthesizer
    from voxgate.settings import Settings

READY_TIMEOUT_S = 120.0
"""Longest a server may take to warm its workers (kokoro loads in a few seconds per worker here)."""
HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
)
"""Harvard sentences (IEEE 1969, lists 1-2, public domain): short English texts for tests and load."""


class FakeClock:
    """A clock that only moves when told to.

    Args:
        start: initial monotonic reading.
        wall_start: initial wall-clock reading (epoch seconds).
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_780_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        """Return the current fake time."""
        return self._now

    def wall(self) -> float:
        """Return the fake epoch time, moving with ``monotonic``."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward.

        Raises:
            ValueError: if ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_binary() -> str | None:
    """Debian's ``redis-server``, or ``None`` when it is not installed."""
    found = shutil.which("redis-server")
    if found is None and Path("/usr/bin/redis-server").exists():
        found = "/usr/bin/redis-server"
    return found


def start_redis_server(
    workdir: Path, *, maxmemory: str = "64mb", timeout_s: float = 20.0, new_session: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``redis-server`` on a free loopback port and wait until it accepts connections.

    No persistence (``--save ''``, no AOF), ``allkeys-lru`` eviction within ``maxmemory`` (how
    voxgate's README says to run it for the cache). The caller kills the process.

    Args:
        workdir: its working directory.
        maxmemory: its memory budget.
        timeout_s: how long it may take to listen.
        new_session: start it in a process group of its own (so a bench can kill the group).

    Returns:
        The process and its port.

    Raises:
        FileNotFoundError: redis-server is not installed.
        RuntimeError: it exited or did not listen within ``timeout_s``.
    """
    binary = redis_server_binary()
    if binary is None:
        raise FileNotFoundError("redis-server not found: apt-get install redis-server")
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(workdir), "--maxmemory", maxmemory, "--maxmemory-policy", "allkeys-lru"]
    process = subprocess.Popen(
        [binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=new_session
    )
    deadline = time.monotonic() + timeout_s
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"redis-server on port {port} did not start")
        time.sleep(0.05)


def wait_ready(
    base_url: str, timeout_s: float = READY_TIMEOUT_S, alive: Callable[[], bool] = lambda: True
) -> None:
    """Poll ``base_url``'s ``/readyz`` until it answers 200.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000``.
        timeout_s: how long to keep trying.
        alive: whether the server (thread or process) still runs; polling stops when it does not.

    Raises:
        TimeoutError: not ready within ``timeout_s``, or ``alive()`` turned false meanwhile.
    """
    import httpx

    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up and alive():
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} did not become ready within {timeout_s:.0f} s (or its server died)")


@contextmanager
def serve_in_thread(
    settings: Settings, timeout_s: float = READY_TIMEOUT_S, port: int | None = None
) -> Iterator[str]:
    """Serve ``create_app(settings)`` with uvicorn on 127.0.0.1 (a free port) in a thread.

    Real sockets and chunked transfer; the lifespan starts and stops the worker processes.

    Args:
        settings: the server's settings.
        timeout_s: how long it may take to become ready.
        port: the port to listen on (e.g. to restart a server where it was); a free one if omitted.

    Yields:
        Its base URL, once ``/readyz`` answers 200; the server is stopped and joined on exit.
    """
    import uvicorn

    from voxgate.api import create_app

    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base_url, timeout_s, alive=thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def with_synthesizer(
    settings: Settings, body: Callable[[Synthesizer], Awaitable[None]], timeout_s: float = 90.0
) -> None:
    """Build and start a real Synthesizer (worker processes included), run ``body`` on it, stop it.

    Args:
        settings: what to build.
        body: the async test scenario.
        timeout_s: bound on the whole run (a hang fails instead of blocking the suite).
    """
    import asyncio

    from voxgate.wiring import build_synthesizer

    async def main() -> None:
        synth = build_synthesizer(settings)
        await synth.start()
        try:
            await body(synth)
        finally:
            await synth.stop(grace_s=1)

    asyncio.run(asyncio.wait_for(main(), timeout_s))


def with_jobs(
    settings: Settings,
    body: Callable[[JobService], Awaitable[None]],
    *,
    clock: Clock | None = None,
    timeout_s: float = 120.0,
) -> None:
    """Like :func:`with_synthesizer`, with the job service started on top (unfinished jobs resume).

    Args:
        settings: what to build.
        body: the async test scenario, given the running job service.
        clock: the job service's clock (retention and waits); the system clock by default.
        timeout_s: bound on the whole run.
    """

    async def jobs_body(synth: Synthesizer) -> None:
        from voxgate.clock import SystemClock
        from voxgate.jobs import open_jobs

        jobs = open_jobs(settings, synth, clock or SystemClock())
        await jobs.start()
        try:
            await body(jobs)
        finally:
            await jobs.stop()

    with_synthesizer(settings, jobs_body, timeout_s)
