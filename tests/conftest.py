"""Shared fixtures: real settings in a temporary data dir, real engines loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.engines.base import Engine
from voxgate.engines.registry import build_engines
from voxgate.settings import Settings


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
