"""The Ray replica's own side of its settings: where it keeps its models (no Ray needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voxgate.settings import Settings
from voxgate.workers.ray_replica import DATA_DIR_ENV, node_settings_json


def test_replica_keeps_models_under_its_own_nodes_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A replica ignores a gateway data_dir, uses its node's VOXGATE_DATA_DIR, keeps the engine block."""
    sent = Settings.load(data_dir=tmp_path / "gateway", engines={"espeak": {"workers": 3}}).model_dump_json(
        include={"data_dir": True, "text": True, "engines": {"espeak": True}}
    )
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "node"))
    monkeypatch.setenv("VOXGATE_ENGINES__ESPEAK__WORKERS", "9")  # the node's env shapes nothing else
    on_node = Settings.model_validate_json(node_settings_json(sent))
    assert on_node.data_dir == tmp_path / "node"
    assert on_node.engines.espeak.workers == 3


def test_replica_without_a_data_dir_variable_uses_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without VOXGATE_DATA_DIR on the node, the replica uses the node's XDG data home."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    sent = json.dumps({"engines": {"espeak": {"workers": 1}}})
    assert Settings.model_validate_json(node_settings_json(sent)).data_dir == tmp_path / "xdg" / "voxgate"


@pytest.mark.scale
def test_ray_gateway_keeps_the_last_resort_in_local_workers(tmp_path: Path) -> None:
    """Under ray:// espeak (qos.local_engines) runs in local workers, the rest on Ray; [] puts all on Ray."""
    pytest.importorskip("ray", reason="ray is not installed: pip install 'voxgate[ray]'")
    from voxgate.clock import SystemClock
    from voxgate.placement import CompositeBackend, build_backend
    from voxgate.workers.backend import LocalBackend
    from voxgate.workers.ray_backend import RayBackend

    def backend(local_engines: list[str]) -> object:
        settings = Settings.load(
            data_dir=tmp_path,
            engines={"kokoro": {"enabled": False}},
            qos={"backend": "ray://local", "local_engines": local_engines},
        )
        return build_backend(settings, SystemClock(), lambda _e: None, lambda _e: None)

    split = backend(["espeak"])
    assert isinstance(split, CompositeBackend)
    assert list(split.engines()) == ["piper", "espeak"]
    ray_part, local_part = split._parts
    assert isinstance(ray_part, RayBackend)
    assert list(ray_part.engines()) == ["piper"]
    assert isinstance(local_part, LocalBackend)
    assert list(local_part.engines()) == ["espeak"]
    all_on_ray = backend([])
    assert isinstance(all_on_ray, RayBackend)
    assert list(all_on_ray.engines()) == ["piper", "espeak"]
