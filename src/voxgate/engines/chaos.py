"""Fault injection around a real engine: latency, errors, hangs, crashes, memory leaks, poison inputs.

For tests, benchmarks and operators' game days; configured per engine in settings and off by
default. It runs inside a worker process, so a "crash" really kills that process and a "leak"
really grows its resident memory — exactly what the worker pool and its watchdog must survive.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Iterator, Sequence

import numpy as np

from voxgate.engines.base import Engine
from voxgate.errors import EngineError
from voxgate.settings import ChaosSettings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo

_HANG_SECONDS = 3600.0
_OOM_BLOCK_MB = 16
_OOM_PAUSE_S = 0.02
"""Growth step of a poison "oom" call: ~0.8 GB/s, so the memory watchdog sees it on its way up."""


def misbehave_at_load(config: ChaosSettings) -> None:
    """Inject the configured load-time fault (a worker calls this before loading its engine).

    Separate from :class:`ChaosEngine` because a worker loads its engine unwrapped when
    ``spare_warmup`` is on, and a load fault must fire either way.
    """
    if config.enabled and config.load_hang:
        time.sleep(_HANG_SECONDS)


class ChaosEngine:
    """Wraps ``inner`` and misbehaves as ``config`` says, before each synthesis.

    Args:
        inner: the real engine.
        config: probabilities and magnitudes of each fault.
        memory_cap_mb: a poison "oom" call stops growing here (and hangs) if nothing killed it
            before, so a disabled watchdog cannot take the machine down.
    """

    def __init__(self, inner: Engine, config: ChaosSettings, *, memory_cap_mb: float = 8192.0) -> None:
        self._inner = inner
        self._config = config
        self._memory_cap_mb = memory_cap_mb
        self._rng = np.random.default_rng(config.seed)
        self._leaked: list[np.ndarray] = []
        self.name = inner.name
        self.model_version = inner.model_version

    @property
    def leaked_mb(self) -> float:
        """Megabytes this wrapper holds on purpose."""
        return sum(block.nbytes for block in self._leaked) / 1e6

    def voices(self) -> Sequence[VoiceInfo]:
        """The inner engine's voices."""
        return self._inner.voices()

    def load(self) -> None:
        """Load the inner engine (no faults at load time)."""
        self._inner.load()

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Inject the configured faults, then delegate to the inner engine.

        Raises:
            EngineError: when an injected error fires.
        """
        if self._config.poison_text and self._config.poison_text in text:
            self._poisoned()
        self._misbehave()
        return self._inner.synthesize(text, voice, opts)

    def _poisoned(self) -> None:
        """Misbehave as a poison input does: die, hang, or grow until the memory watchdog kills us."""
        effect = self._config.poison_effect
        if effect == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif effect == "oom":
            while self.leaked_mb < self._memory_cap_mb:
                self._leaked.append(np.ones(_OOM_BLOCK_MB * 10**6, dtype=np.uint8))  # ones: pages touched
                time.sleep(_OOM_PAUSE_S)
        time.sleep(_HANG_SECONDS)

    def _misbehave(self) -> None:
        cfg = self._config
        if cfg.leak_mb_per_call > 0:
            block = np.ones(int(cfg.leak_mb_per_call * 1e6), dtype=np.uint8)  # ones: pages are touched
            self._leaked.append(block)
        if cfg.latency_ms > 0:
            sigma = cfg.latency_sigma
            delay = cfg.latency_ms / 1000.0 * (math.exp(self._rng.normal(0.0, sigma)) if sigma > 0 else 1.0)
            time.sleep(delay)
        roll = float(self._rng.random())
        if roll < cfg.crash_rate:
            os.kill(os.getpid(), signal.SIGKILL)
        roll -= cfg.crash_rate
        if roll < cfg.hang_rate:
            time.sleep(_HANG_SECONDS)
        roll -= cfg.hang_rate
        if roll < cfg.error_rate:
            raise EngineError(self.name, "chaos: injected engine error")
