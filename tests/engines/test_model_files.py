"""The kokoro model is assembled from its PyPI parts, verified, and re-verified when it changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxgate.engines._model_files import KOKORO_MODEL_NAME, kokoro_model_path


def test_join_writes_model_and_stamp(tmp_path: Path) -> None:
    """Joining produces the model file and a stamp recording its sha256, size and mtime."""
    path = kokoro_model_path(tmp_path)
    assert path == tmp_path / KOKORO_MODEL_NAME
    stamp = json.loads(path.with_suffix(".verified.json").read_text())
    assert stamp["size"] == path.stat().st_size
    assert len(stamp["sha256"]) == 64
    assert not list(tmp_path.glob(".*.tmp"))


def test_tampered_model_is_rejoined(tmp_path: Path) -> None:
    """A model file that changed after verification is joined again from the parts."""
    path = kokoro_model_path(tmp_path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(1000)
    again = kokoro_model_path(tmp_path)
    assert again.stat().st_size == size


def test_unwritable_dir_is_engine_unavailable(tmp_path: Path) -> None:
    """A data directory that cannot be created gives EngineUnavailable, not a raw OSError."""
    from voxgate.errors import EngineUnavailable

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises((EngineUnavailable, OSError)):
        kokoro_model_path(blocker / "models")
