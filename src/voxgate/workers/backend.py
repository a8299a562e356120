"""Execution backends: where engine calls run. The scheduler sees only this interface.

The embedded default, ``local://``, runs each engine in a pool of local worker
subprocesses. A distributed backend (e.g. Ray Serve deployments) plugs in behind the same
Protocol; admission, priorities and breakers stay in the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol
from urllib.parse import urlparse

from voxgate.clock import Clock
from voxgate.engines.base import Engine
from voxgate.engines.registry import build_engines, engines_off
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo
from voxgate.workers.events import EventSink
from voxgate.workers.messages import Warmup, WorkerSpec
from voxgate.workers.pool import PoolConfig, Settled, WorkerPool, WorkerSnapshot

WARMUPS: dict[str, tuple[Warmup, ...]] = {
    # kokoro's Chinese front end (jieba's dictionary, pypinyin) costs ~1 s on its first sentence
    "kokoro": (Warmup("Ready.", "jf_alpha", "en"), Warmup("准备好了，开始吧。", "jm_kumo", "zh")),
    "piper": (Warmup("Ready.", "joe", "en"),),
    "espeak": (Warmup("Ready.", "espeak-en-us", "en"),),
}
"""What each engine's workers speak before taking traffic: every language front end once."""
FIRST_WORDS = {"zh": "你好。", "en": "Ready."}
"""An engine without fixed warm-ups (its voices are configured) speaks this with its first voice."""
LOADS_IN_BACKGROUND = frozenset({"indextts2"})
"""Engines whose workers may still be loading when the server is ready (IndexTTS-2 opens 3.3 GB of
models): the router passes them by as not ready until then, instead of holding up the start."""

log = logging.getLogger(__name__)


ChunkSink = Callable[[AudioChunk], None]
"""Receives pieces of an engine's answer as they arrive (see :meth:`ExecutionBackend.run`)."""


class ExecutionBackend(Protocol):
    """Runs engine calls with deadlines and reports capacity."""

    async def start(self) -> None:
        """Start every engine; return when each has at least one warm worker (or failed to)."""
        ...

    async def stop(self, grace_s: float) -> None:
        """Finish running calls (up to ``grace_s``) and release every resource."""
        ...

    def engines(self) -> Sequence[str]:
        """Engine names in preference order."""
        ...

    def voices(self) -> Sequence[VoiceInfo]:
        """Every voice of every engine (known before start)."""
        ...

    def model_version(self, engine: str) -> str:
        """The engine's model version (part of cache keys)."""
        ...

    def is_ready(self, engine: str) -> bool:
        """Whether the engine has at least one warm worker (a dead one is being replaced at once)."""
        ...

    def capacity(self, engine: str) -> int:
        """How many calls the engine can run at once right now."""
        ...

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(engine)`` when an engine's capacity changes (a worker ready or dead)."""
        ...

    async def run(
        self,
        engine: str,
        text: str,
        voice: str,
        opts: SynthesisOptions,
        deadline: float,
        on_settled: Settled | None = None,
        on_chunk: ChunkSink | None = None,
    ) -> list[AudioChunk]:
        """Synthesise on ``engine`` before the monotonic ``deadline``.

        The caller gets its answer, or its error, at the deadline at the latest, and a cancelled
        caller is released at once; but the engine may go on with an abandoned call (a job in a
        worker process cannot be interrupted, only killed). ``on_settled`` is the engine's side of
        the story: it is called exactly once, when the engine has stopped working on this call —
        right away if the call never started or ended before ``run`` returned, else when the
        abandoned work ends. Whoever counts the engine's busy slots (the scheduler) releases the
        slot there, not when ``run`` returns, so an engine still busy with abandoned work is never
        given more calls than it can run. The argument is ``None`` if the work finished, else the
        error that ended it (``EngineCrashed.blames_input``: the input may have killed a worker).

        ``on_chunk``, when given, receives pieces of the answer as they arrive, before ``run``
        returns, from engines that can send them early (local workers: every chunk as the worker
        sends it, sentence pieces too with ``opts.stream``; remote kinds that stream); the others
        never call it. The returned list is the whole answer either way, the pieces already
        given included, each streamed sentence merged into one chunk
        (:func:`~voxgate.types.merge_partials`); ``run`` may still fail after giving some.

        Raises:
            EngineTimeout, EngineCrashed, EngineUnavailable, EngineError, InvalidInput;
            asyncio.CancelledError when the caller is cancelled (nothing is left held).
        """
        ...

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        """Per-engine worker snapshots (for metrics)."""
        ...


class LocalBackend:
    """One :class:`WorkerPool` of local subprocesses per enabled engine.

    Args:
        settings: engine and pool settings (the workers rebuild their engines from them).
        clock: monotonic time for deadlines.
        on_event: worker events sink.
    """

    def __init__(self, settings: Settings, clock: Clock, on_event: EventSink) -> None:
        self._catalog: dict[str, Engine] = build_engines(settings)
        for name, reason in engines_off(settings).items():
            asked = getattr(settings.engines, name).enabled is True  # not "auto": the operator expects it
            log.log(logging.WARNING if asked else logging.INFO, "engine %s is off: %s", name, reason)
        # Workers rebuild their engines from this; they need no server block (its keys would be
        # masked in the dump and fail validation there) and no remote engines.
        settings_json = settings.model_dump_json(exclude={"server", "remotes"})
        self._pools: dict[str, WorkerPool] = {}
        for name in self._catalog:
            cfg = getattr(settings.engines, name)
            spec = WorkerSpec(name, settings_json, engine_warmups(self._catalog[name]), nice=cfg.nice)
            config = PoolConfig(
                size=cfg.workers,
                soft_rss_mb=cfg.soft_rss_mb,
                hard_rss_mb=cfg.hard_rss_mb,
                hang_after_s=cfg.hang_after_s,
                start_timeout_s=cfg.start_timeout_s,
            )
            self._pools[name] = WorkerPool(spec, config, clock, on_event)

    @property
    def pools(self) -> Mapping[str, WorkerPool]:
        """The pools by engine (tests and the watchdog benchmark reach in here)."""
        return self._pools

    async def start(self) -> None:
        """Start all pools in parallel and wait for one warm worker each (but :data:`LOADS_IN_BACKGROUND`).

        Raises:
            EngineUnavailable: an engine never became ready.
        """
        await asyncio.gather(
            *(pool.start(wait_ready=name not in LOADS_IN_BACKGROUND) for name, pool in self._pools.items())
        )

    async def stop(self, grace_s: float) -> None:
        """Stop all pools."""
        await asyncio.gather(*(pool.stop(grace_s) for pool in self._pools.values()))

    def engines(self) -> Sequence[str]:
        """Engine names in preference order."""
        return list(self._pools)

    def voices(self) -> Sequence[VoiceInfo]:
        """Every voice of every enabled engine."""
        return [v for engine in self._catalog.values() for v in engine.voices()]

    def model_version(self, engine: str) -> str:
        """The version the workers reported, else the catalog's."""
        return self._pools[engine].model_version or self._catalog[engine].model_version

    def is_ready(self, engine: str) -> bool:
        """At least one warm worker."""
        return self._pools[engine].ready_count > 0

    def capacity(self, engine: str) -> int:
        """Warm workers of the engine."""
        pool = self._pools.get(engine)
        return pool.ready_count if pool is not None else 0

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """Subscribe to 'a worker became ready' and 'a worker died'."""
        for pool in self._pools.values():
            pool.add_capacity_listener(listener)

    async def run(
        self,
        engine: str,
        text: str,
        voice: str,
        opts: SynthesisOptions,
        deadline: float,
        on_settled: Settled | None = None,
        on_chunk: ChunkSink | None = None,
    ) -> list[AudioChunk]:
        """Run in the engine's pool (see :meth:`WorkerPool.run`), which passes each chunk to
        ``on_chunk`` as its worker sends it."""
        return await self._pools[engine].run(text, voice, opts, deadline, on_settled, on_chunk)

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        """Per-engine worker snapshots."""
        return {name: pool.snapshot() for name, pool in self._pools.items()}


def engine_warmups(engine: Engine) -> tuple[Warmup, ...]:
    """What ``engine``'s workers (or replicas) speak before taking traffic."""
    if engine.name in WARMUPS:
        return WARMUPS[engine.name]
    voices = engine.voices()
    if not voices:
        return ()
    language = voices[0].languages[0]
    return (Warmup(FIRST_WORDS.get(language, FIRST_WORDS["en"]), voices[0].id, language),)


def backend_from_url(url: str, settings: Settings, clock: Clock, on_event: EventSink) -> ExecutionBackend:
    """Build an execution backend from its URL (``local://`` is the embedded default).

    ``ray://HOST:PORT`` (a running Ray cluster's GCS address) or ``ray://local`` (a Ray started in
    this process, for development) runs each engine as a Ray Serve application; ray is imported
    only then.

    Raises:
        ValueError: unknown scheme, or ``ray://`` without ray installed.
    """
    scheme = urlparse(url).scheme
    if scheme == "local":
        return LocalBackend(settings, clock, on_event)
    if scheme == "ray":
        try:
            from voxgate.workers.ray_backend import RayBackend
        except ImportError as exc:
            raise ValueError(
                f"execution backend {url!r} needs Ray Serve: pip install 'voxgate[ray]' ({exc})"
            ) from exc
        return RayBackend(url, settings, clock, on_event)
    raise ValueError(f"unknown execution backend {url!r}; supported: local://, ray://HOST:PORT, ray://local")
