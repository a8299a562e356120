"""A real voxgate server in a subprocess for the benchmarks: 127.0.0.1, a free port, its own data dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(data_dir: Path, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """Run ``voxgate serve`` until the block ends, then stop it (SIGTERM, SIGKILL after 30 s).

    Args:
        data_dir: its ``VOXGATE_DATA_DIR``.
        env: more ``VOXGATE_*`` settings.
        log: where its output goes.

    Yields:
        Its base URL, once ``/readyz`` answers 200.

    Raises:
        RuntimeError: it exited or was not ready within two minutes.
    """
    port = free_port()
    command = [sys.executable, "-m", "voxgate.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    environment = {**os.environ, "VOXGATE_DATA_DIR": str(data_dir), **env}
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
        try:
            give_up = time.monotonic() + READY_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
                if time.monotonic() > give_up:
                    raise RuntimeError(f"the server was not ready within {READY_TIMEOUT_S:.0f} s; see {log}")
                try:
                    if httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
            yield base
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
