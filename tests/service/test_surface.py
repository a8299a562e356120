"""The Synthesizer's engine surface: what routes, metrics and the job runner read instead of its parts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import voxgate
from voxgate.errors import UnknownVoice
from voxgate.requests import SynthesisRequest
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.testing import with_synthesizer
from voxgate.types import Priority
from voxgate.wiring import build_synthesizer

SRC = Path(voxgate.__file__).parent


def _espeak_only(data_dir: Path) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
    )


def test_engine_state_before_and_after_start(data_dir: Path) -> None:
    """Engines, readiness, capacity, counts and capacity events come from the Synthesizer itself."""
    settings = _espeak_only(data_dir)
    built = build_synthesizer(settings)
    assert list(built.engines()) == ["espeak"]
    assert not built.is_ready("espeak")
    assert built.capacity("espeak") == 0
    assert built.capacity("nobody") == 0
    seen: list[str] = []

    async def body(synth: Synthesizer) -> None:
        assert synth.is_ready("espeak")
        assert synth.capacity("espeak") == 1
        assert synth.in_flight("espeak") == 0
        assert synth.queued("espeak") == 0
        assert synth.queued("espeak", Priority.BATCH) == 0
        synth.on_capacity(seen.append)
        await synth.stop(grace_s=1)  # the worker goes: its capacity change is announced
        assert "espeak" in seen

    with_synthesizer(settings, body)


def test_engines_for_a_request_are_its_chains_engines(data_dir: Path) -> None:
    """engines_for names every engine of the request's chains (each language's) and refuses bad input."""
    settings = Settings.load(data_dir=data_dir, engines={"kokoro": {"enabled": False}})
    synth = build_synthesizer(settings)
    assert synth.engines_for(SynthesisRequest("Hello there.", voice="joe")) == ["piper", "espeak"]
    assert synth.engines_for(SynthesisRequest("Hello there.", voice="espeak-en-us")) == ["espeak", "piper"]
    assert synth.engines_for(SynthesisRequest("你好。", voice=None)) == ["espeak"]
    with pytest.raises(UnknownVoice):
        synth.engines_for(SynthesisRequest("Hello there.", voice="nobody"))


@pytest.mark.parametrize("package", ["api", "jobs"])
def test_routes_and_jobs_do_not_reach_into_the_synthesizer(package: str) -> None:
    """No module of api/ or jobs/ reads a ``backend`` or ``scheduler`` attribute (arrows point down)."""
    offenders = []
    for path in sorted((SRC / package).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("backend", "scheduler"):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offenders == []
