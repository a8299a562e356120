"""Where engines run: local worker pools and remote servers behind one execution backend.

The router, scheduler and the rest see one :class:`~voxgate.workers.backend.ExecutionBackend`;
:class:`CompositeBackend` dispatches each call to the backend that owns its engine: the
``qos.backend`` URL's (``local://``: worker subprocesses) for local engines, a
:class:`~voxgate.remotes.RemoteBackend` for the ``[remotes.NAME]`` tables. With ``ray://``, the
engines of ``qos.local_engines`` (the last resort, espeak, by default) stay in local worker
subprocesses beside the Ray Serve applications: the fallback a request needs when its primary
failed on the cluster costs no Ray call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import urlsplit

from voxgate.clock import Clock
from voxgate.engines.registry import ENGINE_NAMES, engines_off
from voxgate.remotes import RemoteBackend, build_remotes
from voxgate.remotes.backend import RemoteEventSink
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import ChunkSink, ExecutionBackend, LocalBackend, backend_from_url
from voxgate.workers.events import EventSink
from voxgate.workers.pool import Settled, WorkerSnapshot


class CompositeBackend:
    """Several execution backends as one, each engine owned by exactly one of them.

    Args:
        parts: the backends, in preference order (their engines are listed in this order).

    Raises:
        ValueError: two parts offer the same engine name.
    """

    def __init__(self, parts: Sequence[ExecutionBackend]) -> None:
        self._parts = list(parts)
        self._owner: dict[str, ExecutionBackend] = {}
        for part in self._parts:
            for engine in part.engines():
                if engine in self._owner:
                    raise ValueError(f"engine {engine!r} is offered by two backends")
                self._owner[engine] = part

    async def start(self) -> None:
        """Start every part in parallel."""
        await asyncio.gather(*(part.start() for part in self._parts))

    async def stop(self, grace_s: float) -> None:
        """Stop every part in parallel."""
        await asyncio.gather(*(part.stop(grace_s) for part in self._parts))

    def engines(self) -> Sequence[str]:
        """Every part's engines, parts in order."""
        return list(self._owner)

    def voices(self) -> Sequence[VoiceInfo]:
        """Every part's voices, parts in order."""
        return [v for part in self._parts for v in part.voices()]

    def model_version(self, engine: str) -> str:
        """The owner's answer."""
        return self._owner[engine].model_version(engine)

    def is_ready(self, engine: str) -> bool:
        """The owner's answer; an unknown engine is not ready."""
        part = self._owner.get(engine)
        return part is not None and part.is_ready(engine)

    def capacity(self, engine: str) -> int:
        """The owner's answer; 0 for an unknown engine."""
        part = self._owner.get(engine)
        return part.capacity(engine) if part is not None else 0

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """Subscribe to every part."""
        for part in self._parts:
            part.on_capacity(listener)

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
        """Run on the engine's owner, which honours the ``on_settled`` and ``on_chunk`` contracts."""
        return await self._owner[engine].run(engine, text, voice, opts, deadline, on_settled, on_chunk)

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        """Every part's worker snapshots."""
        return {name: snaps for part in self._parts for name, snaps in part.workers().items()}


def build_backend(
    settings: Settings, clock: Clock, on_event: EventSink, on_remote_event: RemoteEventSink
) -> ExecutionBackend:
    """The ``qos.backend`` URL's backend, joined by a :class:`RemoteBackend` when remotes are configured.

    Raises:
        ValueError: unknown backend URL, a remote's key misconfigured, or a remote named like a
            local engine.
    """
    parts = _engine_backends(settings, clock, on_event)
    if settings.remotes:
        parts.append(RemoteBackend(build_remotes(settings), clock, on_remote_event))
    return parts[0] if len(parts) == 1 else CompositeBackend(parts)


def _engine_backends(settings: Settings, clock: Clock, on_event: EventSink) -> list[ExecutionBackend]:
    """The ``qos.backend`` URL's backend; with ``ray://``, ``qos.local_engines`` in local workers beside."""
    url = settings.qos.backend
    if urlsplit(url).scheme != "ray":
        return [backend_from_url(url, settings, clock, on_event)]
    kept = set(settings.qos.local_engines)
    off = engines_off(settings)
    names = [n for n in ENGINE_NAMES if n not in off]
    local = [n for n in names if n in kept]
    remote = [n for n in names if n not in kept]
    parts: list[ExecutionBackend] = []
    if remote:
        parts.append(backend_from_url(url, _only(settings, remote), clock, on_event))
    if local:
        parts.append(LocalBackend(_only(settings, local), clock, on_event))
    return parts or [backend_from_url(url, settings, clock, on_event)]


def _only(settings: Settings, engines: Sequence[str]) -> Settings:
    """``settings`` with every local engine but ``engines`` disabled."""
    blocks = {
        name: getattr(settings.engines, name).model_copy(update={"enabled": False})
        for name in ENGINE_NAMES
        if name not in engines
    }
    return settings.model_copy(update={"engines": settings.engines.model_copy(update=blocks)})
