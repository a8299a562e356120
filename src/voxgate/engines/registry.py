"""Build the configured engines by name."""

from __future__ import annotations

from voxgate.engines.base import Engine
from voxgate.engines.chaos import ChaosEngine
from voxgate.engines.espeak import EspeakEngine
from voxgate.engines.kokoro import KokoroEngine
from voxgate.engines.piper import PiperEngine
from voxgate.settings import Settings

ENGINE_NAMES = ("kokoro", "piper", "espeak")


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
    raise KeyError(f"unknown engine {name!r}; known: {', '.join(ENGINE_NAMES)}")


def build_engines(settings: Settings) -> dict[str, Engine]:
    """Construct every enabled engine, keyed by name, in preference order (not yet loaded)."""
    return {
        name: build_engine(name, settings) for name in ENGINE_NAMES if getattr(settings.engines, name).enabled
    }
