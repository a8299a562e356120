"""The Ray replica's own side: where it keeps its models, when it probes its engine (no Ray needed)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from voxgate.engines.base import Engine
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import engine_warmups
from voxgate.workers.messages import WorkerSpec
from voxgate.workers.ray_replica import _PROBE_EVERY_S, DATA_DIR_ENV, EngineReplica, node_settings_json


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


class _CountingEngine:
    """A spy: the real engine it wraps, counting the calls it gets (not a fake: it speaks)."""

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_version = inner.model_version
        self.calls = 0

    def voices(self) -> Sequence[VoiceInfo]:
        return self.inner.voices()

    def load(self) -> None:
        self.inner.load()

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        self.calls += 1
        return self.inner.synthesize(text, voice, opts)


@pytest.fixture(scope="module")
def espeak_replica(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineReplica]:
    """An espeak EngineReplica built in this process, as Serve would build it in a replica."""
    data = tmp_path_factory.mktemp("node")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(DATA_DIR_ENV, str(data))
        settings = Settings.load(data_dir=data, engines={"kokoro": {"enabled": False}})
        from voxgate.engines.registry import build_engine

        engine = build_engine("espeak", settings)
        spec = WorkerSpec(
            "espeak",
            settings.model_dump_json(include={"text": True, "engines": {"espeak": True}}),
            engine_warmups(engine),
        )
        yield EngineReplica(spec, hard_rss_mb=100_000.0, hang_after_s=60.0)


def test_replica_under_traffic_owes_no_warm_up_probe(espeak_replica: EngineReplica) -> None:
    """A replica that just answered a call skips the idle probe, even 30 s after its last probe."""
    spy = _CountingEngine(espeak_replica._plain)
    espeak_replica._plain = spy
    espeak_replica._probed_at = time.monotonic() - 2 * _PROBE_EVERY_S  # the last probe long ago

    async def body() -> None:
        await espeak_replica.synthesize("Hello there.", "espeak-en-us", SynthesisOptions(language="en"), 30.0)
        await espeak_replica.check_health()

    asyncio.run(asyncio.wait_for(body(), 60))
    assert spy.calls == 0


def test_idle_replica_still_probes_its_engine(espeak_replica: EngineReplica) -> None:
    """A replica that answered nothing for 30 s speaks its warm-up sentence in the health check."""
    spy = _CountingEngine(espeak_replica._plain)
    espeak_replica._plain = spy
    espeak_replica._probed_at = time.monotonic() - 2 * _PROBE_EVERY_S
    asyncio.run(asyncio.wait_for(espeak_replica.check_health(), 60))
    assert spy.calls == 1
