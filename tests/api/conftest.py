"""Shared fixtures for the HTTP tests: settings, in-process apps, real servers on free ports.

Every factory is module-scoped and owns what it starts: apps and servers stop (and their worker
processes with them) when the module that asked for them is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxgate.api import create_app
from voxgate.settings import Settings
from voxgate.testing import free_port, serve_in_thread, wait_ready

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
            # A local Host: the server refuses names outside its allow-list (DNS rebinding).
            return stack.enter_context(TestClient(create_app(settings), base_url="http://localhost"))

        yield start


@pytest.fixture(name="free_port")
def free_port_fixture() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    return free_port()


@pytest.fixture(name="wait_ready")
def wait_ready_fixture() -> Callable[..., None]:
    """The :func:`voxgate.testing.wait_ready` poller, for tests that start servers of their own."""
    return wait_ready


@pytest.fixture(scope="module")
def make_server() -> Iterator[Callable[[Settings], str]]:
    """Serve ``create_app(settings)`` with uvicorn on 127.0.0.1 in a thread; return its base URL.

    Real sockets, real chunked transfer. Every server is told to exit (and joined) at module end.
    """
    with ExitStack() as stack:

        def start(settings: Settings) -> str:
            return stack.enter_context(serve_in_thread(settings))

        yield start
