"""Shared fixtures for the HTTP tests: settings, in-process apps, real servers on free ports.

Every factory is module-scoped and owns what it starts: apps and servers stop (and their worker
processes with them) when the module that asked for them is done.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from voxgate.api import create_app
from voxgate.settings import Settings

READY_TIMEOUT_S = 120.0
"""Longest a server may take to warm its workers (kokoro loads in ~2 s per worker here)."""

LIGHT_ENGINES: dict[str, Any] = {
    "kokoro": {"enabled": False},
    "piper": {"workers": 1, "threads": 1},
    "espeak": {"workers": 1},
}
"""One worker per engine and no kokoro: the cheapest real server that speaks English."""


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    """Build settings for an API test: one worker per engine, kokoro off, generous rate limits.

    Each module gets its own data directory, so jobs one module's server accepts are never
    resumed by another's. Keyword arguments are merged (deeply) over those defaults, e.g.
    ``api_settings(engines={"kokoro": {"enabled": True, "workers": 1}})``.
    """
    data_dir = tmp_path_factory.mktemp("api-data")

    def build(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "data_dir": data_dir,
            "engines": LIGHT_ENGINES,
            "qos": {"limits": {"default": "100000/minute"}},
        }
        return Settings.load(**_merge(base, overrides))

    return build


@pytest.fixture(scope="module")
def make_client() -> Iterator[Callable[[Settings], TestClient]]:
    """Start ``create_app(settings)`` in-process with its lifespan; every app stops at module end."""
    with ExitStack() as stack:

        def start(settings: Settings) -> TestClient:
            return stack.enter_context(TestClient(create_app(settings)))

        yield start


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return find_free_port()


def find_free_port() -> int:
    """Ask the OS for an unused port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(
    base_url: str, timeout_s: float = READY_TIMEOUT_S, alive: Callable[[], bool] = lambda: True
) -> None:
    """Poll ``/readyz`` until it answers 200.

    Raises:
        TimeoutError: not ready within ``timeout_s``, or ``alive()`` turned false meanwhile.
    """
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up and alive():
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} did not become ready within {timeout_s:.0f} s (or its server died)")


@pytest.fixture(name="wait_ready")
def wait_ready_fixture() -> Callable[..., None]:
    """The :func:`wait_ready` poller, for tests that start servers of their own."""
    return wait_ready


@pytest.fixture(scope="module")
def make_server() -> Iterator[Callable[[Settings], str]]:
    """Serve ``create_app(settings)`` with uvicorn on 127.0.0.1 in a thread; return its base URL.

    Real sockets, real chunked transfer. Every server is told to exit (and joined) at module end.
    """
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(settings: Settings) -> str:
        port = find_free_port()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        running.append((server, thread))
        base_url = f"http://127.0.0.1:{port}"
        wait_ready(base_url, alive=thread.is_alive)
        return base_url

    try:
        yield start
    finally:
        for server, _ in running:
            server.should_exit = True
        for _, thread in running:
            thread.join(timeout=60)
