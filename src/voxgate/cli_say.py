"""``voxgate say`` and ``voxgate voices``: a Synthesizer in this process, or a running server's native API.

Either way the answer is the Synthesizer's: the voice's fallback chain, sentence segmentation,
the audio cache and remote engines, and it says which engine spoke and whether it degraded.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voxgate.cli_common import ClientFailed, local_settings, only_engines, refusal, server_client
from voxgate.engines.registry import engines_off
from voxgate.errors import EngineUnavailable
from voxgate.requests import SynthesisMeta, SynthesisRequest
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.types import VoiceInfo
from voxgate.wiring import build_synthesizer

if TYPE_CHECKING:
    import httpx

__all__ = ["EngineRow", "Spoken", "VoiceRow", "speak", "voices"]

SERVER_TIMEOUT_S = 600.0
"""Longest wait for a server's answer (its own deadlines end a request long before)."""


@dataclass(frozen=True, slots=True)
class Spoken:
    """An answer: encoded audio and how it was made."""

    audio: bytes
    meta: SynthesisMeta
    latency_s: float
    """Seconds from the request to the answer (in process: after the engines were ready)."""
    duration_s: float | None = None
    """Seconds of audio (in process; a server does not say)."""
    startup_s: float | None = None
    """In process: seconds to start the engines the request needed."""


@dataclass(frozen=True, slots=True)
class VoiceRow:
    """A voice on offer, with its fallback chain per language."""

    id: str
    engine: str
    languages: tuple[str, ...]
    gender: str
    sample_rate: int
    chains: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class EngineRow:
    """An engine and whether it can speak: ``state`` is ``ready``, ``enabled``, ``unreachable``,
    ``not ready`` or ``off``; ``why`` explains any state but ``ready``."""

    name: str
    where: str
    state: str
    why: str = ""


async def speak(
    request: SynthesisRequest,
    *,
    settings: Settings | None,
    server: str | None,
    api_key: str | None,
    sink: Callable[[bytes], None] | None = None,
) -> Spoken:
    """Answer ``request`` in this process (``server`` None; ``settings`` needed) or on ``server``.

    With ``sink``, the answer is streamed: each encoded piece goes to ``sink`` as soon as it
    exists (the first after one sentence) and the returned ``audio`` is empty. In process the
    returned metadata is the whole answer's; from a server, a plain audio stream's headers say how
    its first sentence was made (a later one may have degraded: the server's log and SLA view say).

    Raises:
        VoxgateError: in process: bad input (``InvalidInput``), refused, or no engine could answer.
        ClientFailed: a configuration error (exit code 2), the server refused or could not be
            reached, or an engine did not start.
    """
    if server is not None:
        return await _speak_there(request, server, api_key, sink)
    if settings is None:
        raise ValueError("settings are needed to speak in this process")
    return await _speak_here(request, local_settings(settings), sink)


async def _speak_here(
    request: SynthesisRequest, settings: Settings, sink: Callable[[bytes], None] | None
) -> Spoken:
    everything = _build(settings)  # nothing starts: the catalog and chains only
    try:
        needed = everything.engines_for(request)  # bad input fails here, before any engine starts
    finally:
        await everything.stop(grace_s=0)  # closes remote clients
    synth = _build(only_engines(settings, needed, everything.voices()))
    started = time.perf_counter()
    try:
        try:
            await synth.start()
        except EngineUnavailable as exc:
            raise ClientFailed(f"engine did not start: {exc}") from exc
        startup_s = time.perf_counter() - started
        if sink is not None:
            asked = time.perf_counter()
            whole: list[SynthesisMeta] = []  # the whole answer's, once its last piece is out
            meta, pieces = await synth.stream(request, on_done=whole.append)
            try:
                async for piece in pieces:
                    sink(piece)
            finally:
                if isinstance(pieces, AsyncGenerator):
                    await pieces.aclose()
            return Spoken(b"", whole[-1] if whole else meta, time.perf_counter() - asked, None, startup_s)
        result = await synth.synthesize(request)
    finally:
        await synth.stop(grace_s=1.0)
    return Spoken(result.audio, result.meta, result.latency_s, result.duration_s, startup_s)


def _build(settings: Settings) -> Synthesizer:
    """:func:`build_synthesizer`, its configuration errors as :class:`ClientFailed` (exit code 2)."""
    try:
        return build_synthesizer(settings)
    except ValueError as exc:
        raise ClientFailed(f"configuration: {exc}", exit_code=2) from exc


async def _speak_there(
    request: SynthesisRequest, server: str, api_key: str | None, sink: Callable[[bytes], None] | None
) -> Spoken:
    import httpx

    body: dict[str, object] = {
        "text": request.text,
        "speed": request.speed,
        "format": request.format.value,
        "priority": request.priority.value,
    }
    if request.voice is not None:
        body["voice"] = request.voice
    if request.sample_rate is not None:
        body["sample_rate"] = request.sample_rate
    if sink is not None:
        body["stream"] = True
    streamed = False
    started = time.perf_counter()
    try:
        async with (
            server_client(server, api_key, timeout_s=SERVER_TIMEOUT_S) as client,
            client.stream("POST", "/api/v1/tts", json=body) as response,
        ):
            if response.status_code != 200:
                await response.aread()
                raise refusal(response)
            data = b""
            if sink is None:
                data = await response.aread()
            else:
                async for piece in response.aiter_bytes():
                    sink(piece)
                    streamed = True
    except httpx.HTTPError as exc:
        if streamed:  # the server's stream broke off: a segment failed there, or the server went
            raise ClientFailed(f"{server} ended the stream early ({type(exc).__name__})") from exc
        raise ClientFailed(f"cannot reach {server}: {exc or type(exc).__name__}") from exc
    latency = time.perf_counter() - started
    return Spoken(data, _meta(response.headers, request), latency)


def _meta(headers: httpx.Headers, request: SynthesisRequest) -> SynthesisMeta:
    ignored = headers.get("X-Voxgate-Ignored", "")
    return SynthesisMeta(
        voice=headers.get("X-Voxgate-Voice", request.voice or "?"),
        engine=headers.get("X-Voxgate-Engine", "?"),
        degraded=headers.get("X-Voxgate-Degraded") == "true",
        fallback_reason=headers.get("X-Voxgate-Fallback-Reason") or None,
        cache_hit=headers.get("X-Voxgate-Cache") == "hit",
        media_type=headers.get("Content-Type", "application/octet-stream"),
        sample_rate=int(headers.get("X-Voxgate-Sample-Rate", "0") or 0),
        ignored=tuple(name for name in ignored.split(",") if name),
    )


async def voices(
    *, settings: Settings | None, server: str | None, api_key: str | None
) -> tuple[list[VoiceRow], list[EngineRow]]:
    """Every voice on offer and every engine's state, in this process or on the server.

    In process no local engine starts (they are listed ``enabled``, or ``off`` with the setting
    that turned them off); remote engines are probed once (``ready`` or ``unreachable``).

    Raises:
        ClientFailed: a configuration error (exit code 2), or the server refused or could not be reached.
    """
    if server is not None:
        return await _voices_there(server, api_key)
    if settings is None:
        raise ValueError("settings are needed to list voices in this process")
    return await _voices_here(settings)


async def _voices_here(settings: Settings) -> tuple[list[VoiceRow], list[EngineRow]]:
    synth = _build(settings)
    try:
        rows = [
            VoiceRow(v.id, v.engine, v.languages, v.gender.value, v.sample_rate, synth.chains.describe(v))
            for v in synth.voices()
        ]
        engines = list(synth.engines())
    finally:
        await synth.stop(grace_s=0)
    remotes = [name for name in engines if name in settings.remotes]
    reachable = await _probe(settings, remotes, synth.voices())
    result: list[EngineRow] = []
    for name in engines:
        remote = settings.remotes.get(name)
        if remote is None:
            result.append(EngineRow(name, "local", "enabled", "starts when a request needs it"))
        elif reachable.get(name):
            result.append(EngineRow(name, f"remote {remote.kind} {remote.url}", "ready"))
        else:
            why = "its health probe failed: check url, api key, and that it runs"
            result.append(EngineRow(name, f"remote {remote.kind} {remote.url}", "unreachable", why))
    for name, reason in off_engines(settings).items():
        result.append(EngineRow(name, "local", "off", reason))
    return rows, result


async def _probe(settings: Settings, remotes: Sequence[str], voices: Sequence[VoiceInfo]) -> dict[str, bool]:
    """Start a Synthesizer of the remotes alone (one health probe each) and read their readiness."""
    if not remotes:
        return {}
    probe = _build(only_engines(settings, remotes, voices))
    await probe.start()
    try:
        return {name: probe.is_ready(name) for name in remotes}
    finally:
        await probe.stop(grace_s=0)


def off_engines(settings: Settings) -> dict[str, str]:
    """The local engines the configuration turns off, with the setting that does."""
    local = settings.engines
    off = {
        name: f"engines.{name}.enabled = false"
        for name in type(local).model_fields
        if getattr(getattr(local, name), "enabled", True) is False
    }
    return {**engines_off(settings), **off}  # and why an engine that may switch on by itself is off


async def _voices_there(server: str, api_key: str | None) -> tuple[list[VoiceRow], list[EngineRow]]:
    import httpx

    try:
        async with server_client(server, api_key, timeout_s=30.0) as client:
            listing = await client.get("/api/v1/voices")
            ready = await client.get("/readyz")
    except httpx.HTTPError as exc:
        raise ClientFailed(f"cannot reach {server}: {exc or type(exc).__name__}") from exc
    if listing.status_code != 200:
        raise refusal(listing)
    try:
        rows = [
            VoiceRow(
                v["id"],
                v["engine"],
                tuple(v["languages"]),
                v["gender"],
                v["sample_rate"],
                v["fallback_chain"],
            )
            for v in listing.json()["voices"]
        ]
        states: dict[str, bool] = ready.json().get("engines", {})
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ClientFailed(f"{server} does not answer like a voxgate server ({exc!r})") from exc
    engines = [
        EngineRow(name, server, "ready" if up else "not ready", "" if up else "no warm worker / unreachable")
        for name, up in states.items()
    ]
    return rows, engines
