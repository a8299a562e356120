"""Shared fixtures: real settings in a temporary data dir, real engines loaded once per session."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from voxgate.engines.base import Engine
from voxgate.engines.registry import build_engines
from voxgate.settings import Settings
from voxgate.testing import redis_server_binary, start_redis_server


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A voxgate data directory shared by the session (the kokoro model is joined into it once)."""
    return tmp_path_factory.mktemp("voxgate-data")


@pytest.fixture(scope="session")
def settings(data_dir: Path) -> Settings:
    """Settings with defaults except the data directory; 1 ONNX thread per engine to share the 2 cores."""
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"threads": 1}, "piper": {"threads": 1}, "espeak": {"threads": 1}},
    )


@pytest.fixture(scope="session")
def engines(settings: Settings) -> dict[str, Engine]:
    """Every real engine, loaded."""
    built = build_engines(settings)
    for engine in built.values():
        engine.load()
    return built


@dataclass(frozen=True, slots=True)
class RedisServer:
    """A real redis-server on a loopback port, started once per test session."""

    url: str
    """``redis://127.0.0.1:<port>``, without a database number."""
    process: subprocess.Popen[bytes]

    def db(self, number: int) -> str:
        """The URL of one database, e.g. ``redis://127.0.0.1:6390/3``."""
        return f"{self.url}/{number}"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """redis-server without persistence on a free loopback port; skips when it or redis-py is missing."""
    if redis_server_binary() is None:
        pytest.skip(
            "redis-server not found: install it (apt-get install redis-server) to run the Redis tests"
        )
    pytest.importorskip("redis", reason="the redis client is missing: pip install -e '.[dev,scale]'")
    process, port = start_redis_server(tmp_path_factory.mktemp("redis"))
    url = f"redis://127.0.0.1:{port}"
    try:
        yield RedisServer(url, process)
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an emptied database 0 of the session's redis-server."""
    import redis

    with redis.Redis.from_url(redis_server.db(0)) as client:
        client.flushall()
    return redis_server.db(0)
