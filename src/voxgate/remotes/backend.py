"""Remote engines behind the :class:`~voxgate.workers.backend.ExecutionBackend` Protocol.

Slots: a remote's capacity is its ``max_concurrency`` while it is healthy, 0 while it is not,
so the scheduler never holds more requests to it than configured, and the router skips it at
once (``not_ready``) while it is down. Health comes from a periodic probe
(``health_interval_s``); a request that cannot reach the remote marks it down at once, a
successful request or probe marks it up. Every change is a :class:`RemoteHealthChanged` event
and a capacity notification (the scheduler dispatches or sheds its queue).

Deadlines: a call gets what is left of its deadline as its whole timeout; a call cancelled by
its caller (a client that left, a lost hedge) is cancelled here too, which closes its connection
so the remote sees the request abandoned. No work outlives ``run``, so ``on_settled`` is always
called before ``run`` returns or raises.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from voxgate.clock import Clock
from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput
from voxgate.remotes.base import RemoteEngine, SupportsStreaming, api_key
from voxgate.remotes.dashscope import DashScopeRemote, dashscope_key
from voxgate.remotes.indextts2 import IndexTTS2Remote
from voxgate.remotes.openai import OpenAIRemote
from voxgate.settings import RemoteSettings, Settings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import ChunkSink
from voxgate.workers.pool import Settled, WorkerSnapshot


@dataclass(frozen=True, slots=True)
class RemoteHealthChanged:
    """Event: a remote engine became reachable (``healthy``) or unreachable."""

    engine: str
    healthy: bool


RemoteEventSink = Callable[[RemoteHealthChanged], None]


def build_remotes(settings: Settings) -> list[RemoteEngine]:
    """One adapter per ``[remotes.NAME]`` table, by kind.

    Raises:
        ValueError: a remote's key is configured twice, or its environment variable is unset; a
            ``dashscope`` remote without the ``dashscope`` package or naming an unknown model.
    """
    remotes: list[RemoteEngine] = []
    for name, remote in settings.remotes.items():
        key = api_key(name, remote)
        if remote.kind == "openai":
            remotes.append(OpenAIRemote(name, remote, key))
        elif remote.kind == "indextts2":
            remotes.append(IndexTTS2Remote(name, remote, key))
        elif remote.kind == "dashscope":
            remotes.append(_dashscope(name, remote, key))
        else:  # settings validation refuses the kinds not built yet
            raise ValueError(f"remotes.{name}: kind {remote.kind!r} is not built yet")
    return remotes


def _dashscope(name: str, settings: RemoteSettings, key: str | None) -> RemoteEngine:
    """A ``dashscope`` remote; the SDK is the optional extra ``voxgate[dashscope]``."""
    try:
        return DashScopeRemote(name, settings, dashscope_key(name, key))
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "dashscope":
            raise
        raise ValueError(
            f"remotes.{name}: kind 'dashscope' needs the dashscope package: pip install 'voxgate[dashscope]'"
        ) from exc


class RemoteBackend:
    """Runs engine calls on remote servers (see the module docstring).

    Args:
        remotes: the adapters, in preference order.
        clock: monotonic time for deadlines.
        on_event: receives :class:`RemoteHealthChanged`.
    """

    def __init__(self, remotes: Sequence[RemoteEngine], clock: Clock, on_event: RemoteEventSink) -> None:
        self._remotes = {r.name: r for r in remotes}
        self._clock = clock
        self._on_event = on_event
        self._healthy = dict.fromkeys(self._remotes, False)
        self._listeners: list[Callable[[str], None]] = []
        self._watchers: list[asyncio.Task[None]] = []
        self._calls: set[asyncio.Task[list[AudioChunk]]] = set()

    async def start(self) -> None:
        """Probe every remote once (a remote that is down does not stop the start), then keep probing."""
        results = await asyncio.gather(*(r.probe() for r in self._remotes.values()))
        for name, healthy in zip(self._remotes, results, strict=True):
            self._set_health(name, healthy)
        self._watchers = [asyncio.create_task(self._watch(r)) for r in self._remotes.values()]

    async def stop(self, grace_s: float) -> None:
        """Stop probing, let calls in flight finish (up to ``grace_s``), close every connection."""
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        if self._calls:
            await asyncio.wait(self._calls, timeout=grace_s)
        for call in self._calls:
            call.cancel()
        await asyncio.gather(*self._calls, return_exceptions=True)
        await asyncio.gather(*(r.aclose() for r in self._remotes.values()))

    def engines(self) -> Sequence[str]:
        """Remote engine names in configuration order."""
        return list(self._remotes)

    def voices(self) -> Sequence[VoiceInfo]:
        """Every remote's voices."""
        return [v for remote in self._remotes.values() for v in remote.voices()]

    def model_version(self, engine: str) -> str:
        """The remote's model and server."""
        return self._remotes[engine].model_version

    def is_ready(self, engine: str) -> bool:
        """Its last probe or call reached it."""
        return self._healthy.get(engine, False)

    def capacity(self, engine: str) -> int:
        """``max_concurrency`` while healthy, else 0."""
        remote = self._remotes.get(engine)
        if remote is None or not self._healthy[engine]:
            return 0
        return remote.settings.max_concurrency

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """``listener(engine)`` runs whenever a remote's health (so its capacity) changes."""
        self._listeners.append(listener)

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
        """Synthesise on the remote within what is left of ``deadline`` (see the module docstring).

        With ``on_chunk``, a kind that streams (:class:`SupportsStreaming`) passes its answer on
        in pieces as they arrive; the others answer whole."""
        settle = on_settled or _ignore
        remaining = deadline - self._clock.monotonic()
        if remaining <= 0:
            timeout = EngineTimeout(engine, 0.0)
            settle(timeout)
            raise timeout
        call = asyncio.ensure_future(self._call(engine, text, voice, opts, remaining, on_chunk))
        self._calls.add(call)
        call.add_done_callback(self._calls.discard)
        try:
            chunks = await call
        except EngineError as exc:
            settle(exc)
            if isinstance(exc, EngineUnavailable):
                self._set_health(engine, False)
            raise
        except InvalidInput:
            settle(None)
            raise
        except asyncio.CancelledError:
            call.cancel()  # closes the connection: the remote sees the request abandoned
            with contextlib.suppress(BaseException):
                await call
            settle(EngineError(engine, "cancelled"))  # not a finished call: nothing to learn from it
            raise
        settle(None)
        self._set_health(engine, True)
        return chunks

    async def _call(
        self,
        engine: str,
        text: str,
        voice: str,
        opts: SynthesisOptions,
        timeout_s: float,
        on_chunk: ChunkSink | None,
    ) -> list[AudioChunk]:
        remote = self._remotes[engine]
        try:
            async with asyncio.timeout(timeout_s):
                if on_chunk is None or not isinstance(remote, SupportsStreaming):
                    return await remote.synthesize(text, voice, opts, timeout_s)
                chunks: list[AudioChunk] = []
                async with contextlib.aclosing(
                    remote.synthesize_stream(text, voice, opts, timeout_s)
                ) as pieces:
                    async for chunk in pieces:
                        chunks.append(chunk)
                        on_chunk(chunk)
                return chunks
        except TimeoutError as exc:
            raise EngineTimeout(engine, timeout_s) from exc

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        """Remotes have no worker processes."""
        return {}

    async def _watch(self, remote: RemoteEngine) -> None:
        while True:
            await asyncio.sleep(remote.settings.health_interval_s)
            self._set_health(remote.name, await remote.probe())

    def _set_health(self, engine: str, healthy: bool) -> None:
        if self._healthy[engine] == healthy:
            return
        self._healthy[engine] = healthy
        self._on_event(RemoteHealthChanged(engine, healthy))
        for listener in self._listeners:
            listener(engine)


def _ignore(_error: EngineError | None) -> None:
    return None
