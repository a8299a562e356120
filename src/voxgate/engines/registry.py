"""Build the configured engines by name."""

from __future__ import annotations

import importlib.util

from voxgate.engines.base import Engine
from voxgate.engines.chaos import ChaosEngine
from voxgate.engines.espeak import EspeakEngine
from voxgate.engines.indextts2 import FindSpec, IndexTTS2Engine, off_reason
from voxgate.engines.kokoro import KokoroEngine
from voxgate.engines.piper import PiperEngine
from voxgate.settings import Settings

ENGINE_NAMES = ("kokoro", "piper", "espeak", "indextts2")
"""Every local engine, in preference order (``indextts2`` is optional: see :func:`engines_off`)."""


def build_engine(name: str, settings: Settings, *, with_chaos: bool = False) -> Engine:
    """Construct one engine (not yet loaded) from settings.

    Args:
        name: engine name.
        settings: voxgate settings.
        with_chaos: wrap the engine in fault injection when its chaos settings enable it
            (worker processes do this; the gateway's catalog copy never misbehaves).

    Raises:
        KeyError: unknown engine name.
    """
    engine = _build(name, settings)
    return with_faults(engine, settings) if with_chaos else engine


def with_faults(engine: Engine, settings: Settings) -> Engine:
    """``engine`` wrapped in fault injection when its chaos settings enable it, else ``engine`` itself."""
    engine_settings = getattr(settings.engines, engine.name)
    chaos = engine_settings.chaos
    if not chaos.enabled:
        return engine
    return ChaosEngine(engine, chaos, memory_cap_mb=2 * engine_settings.hard_rss_mb)


def _build(name: str, settings: Settings) -> Engine:
    max_seg = settings.text.max_segment_chars
    if name == "kokoro":
        return KokoroEngine(
            models_dir=settings.data_dir / "models",
            threads=settings.engines.kokoro.threads,
            max_segment_chars=max_seg,
            blends=settings.engines.kokoro.blends,
            zh_tone_sandhi=settings.engines.kokoro.zh_tone_sandhi,
            zh_speed=settings.engines.kokoro.zh_speed,
        )
    if name == "piper":
        piper = settings.engines.piper
        return PiperEngine(
            threads=piper.threads,
            max_segment_chars=max_seg,
            noise_scale=piper.noise_scale,
            noise_w_scale=piper.noise_w_scale,
        )
    if name == "espeak":
        return EspeakEngine(max_segment_chars=max_seg)
    if name == "indextts2":
        idx = settings.engines.indextts2
        return IndexTTS2Engine(
            model_dir=idx.model_dir or settings.data_dir / "models" / "indextts2",
            speakers=idx.speakers,
            languages=idx.languages,
            threads=idx.threads,
            max_segment_chars=max_seg,
        )
    raise KeyError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")


def build_engines(settings: Settings, *, find_spec: FindSpec = importlib.util.find_spec) -> dict[str, Engine]:
    """Construct every engine that is on, keyed by name, in preference order (not yet loaded).

    Args:
        settings: voxgate settings.
        find_spec: module lookup for the optional engines' packages (tests pass a stand-in).
    """
    off = engines_off(settings, find_spec=find_spec)
    return {name: build_engine(name, settings) for name in ENGINE_NAMES if name not in off}


def engines_off(settings: Settings, *, find_spec: FindSpec = importlib.util.find_spec) -> dict[str, str]:
    """Engines that are off, each with the reason (for ``voxgate voices``, the API and the log).

    An engine is off when its settings disable it; the optional ``indextts2`` also when its
    package, a model file or a speaker recording is missing (:func:`voxgate.engines.indextts2.off_reason`).
    """
    off: dict[str, str] = {}
    for name in ENGINE_NAMES:
        if getattr(settings.engines, name).enabled is False:
            off[name] = f"disabled in settings (engines.{name}.enabled = false)"
    if "indextts2" not in off:
        idx = settings.engines.indextts2
        reason = off_reason(idx.model_dir, idx.speakers, find_spec=find_spec)
        if reason is not None:
            off["indextts2"] = reason
    return off
