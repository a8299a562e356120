"""Where engines run: local worker pools and remote servers behind one execution backend.

The router, scheduler and the rest see one :class:`~voxgate.workers.backend.ExecutionBackend`;
:class:`CompositeBackend` dispatches each call to the backend that owns its engine: the
``qos.backend`` URL's (``local://``: worker subprocesses) for local engines, a
:class:`~voxgate.remotes.RemoteBackend` for the ``[remotes.NAME]`` tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from voxgate.clock import Clock
from voxgate.remotes import RemoteBackend, build_remotes
from voxgate.remotes.backend import RemoteEventSink
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import ChunkSink, ExecutionBackend, backend_from_url
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
    local = backend_from_url(settings.qos.backend, settings, clock, on_event)
    if not settings.remotes:
        return local
    return CompositeBackend([local, RemoteBackend(build_remotes(settings), clock, on_remote_event)])
