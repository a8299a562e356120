"""In-process engine time: the yardstick the servers' cache-miss latency is divided by.

Two engines on the same piper ``joe`` model, each configured like the server it stands for:

- voxgate's ``PiperEngine`` built from the default settings (ONNX threads as its workers use),
  fed the normalised segments voxgate's text front end makes, which is what a worker computes;
- piper's own ``PiperVoice.load`` with its default session, called as ``piper.http_server`` does.

The time is the engine's alone: no text front end, no encoding, no HTTP.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from voxgate.engines.registry import build_engine
from voxgate.settings import Settings
from voxgate.text import prepare
from voxgate.types import SynthesisOptions

EngineCall = Callable[[str], float]
"""Synthesise one raw text; return the seconds the engine took."""


def voxgate_piper() -> tuple[EngineCall, int]:
    """voxgate's piper engine as its workers run it.

    Returns:
        A call that prepares one raw text as the server does (not timed) and times the engine
        on its segments, and the ONNX thread count it uses.
    """
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(data_dir=Path(tmp))
    engine = build_engine("piper", settings)
    engine.load()
    limits = settings.text

    def call(text: str) -> float:
        prepared = prepare(text, max_chars=limits.max_chars, max_segment_chars=limits.max_segment_chars)
        calls = [(s.text, SynthesisOptions(speed=1.0, language=s.language)) for s in prepared.segments]
        started = time.perf_counter()
        for segment, opts in calls:
            for _chunk in engine.synthesize(segment, "joe", opts):
                pass
        return time.perf_counter() - started

    return call, settings.engines.piper.threads


def piper_native(model_path: Path) -> EngineCall:
    """piper's ``PiperVoice`` loaded and called as ``python -m piper.http_server`` does."""
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(model_path, include_alignments=True)
    config = SynthesisConfig(
        length_scale=voice.config.length_scale,
        noise_scale=voice.config.noise_scale,
        noise_w_scale=voice.config.noise_w_scale,
    )

    def call(text: str) -> float:
        started = time.perf_counter()
        for chunk in voice.synthesize(text, config, include_alignments=True):
            _ = chunk.audio_int16_bytes
        return time.perf_counter() - started

    return call
