"""``WS /api/v1/tts/realtime``: text fragments in, raw audio out, barge-in (see :mod:`voxgate.realtime`).

Query: ``voice``, ``encoding`` (``linear16``, ``mulaw``, ``alaw``, ``opus``: one continuous Ogg
Opus stream), ``sample_rate`` (linear16: 8000-48000, default 24000; G.711: 8000 or 16000, default
8000; opus: 48000 only), ``timestamps`` (``true``: a ``words`` frame before each piece's audio,
times from the start of the connection's audio), ``priority`` (``interactive``
when the caller may use it, else ``api``), ``key`` (the API key, for browsers, which cannot set
the ``Authorization`` header of a socket). Everything is checked before the upgrade is accepted:
a bad key (401), a bad parameter (4xx naming it), a priority the key may not use (403), a key over its
request rate limit (429: opening a socket counts as one request) and a client with its maximum
of open sockets (429) are refused with an HTTP answer and a JSON body.

The route only parses and wires: the protocol lives in :class:`~voxgate.realtime.RealtimeSession`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from voxgate.api.auth import ApiKeyAuth, Caller, query_key
from voxgate.api.errors import response_for
from voxgate.api.middleware import access_extras
from voxgate.api.ws_deny import deny_websocket
from voxgate.audio.formats import format_spec
from voxgate.clock import Clock
from voxgate.errors import InvalidOption, Rejected, VoxgateError
from voxgate.realtime import RealtimeLimits, RealtimeSession, SessionConfig
from voxgate.realtime.events import SocketClosed, SocketOpened
from voxgate.realtime.session import AudioOut, JsonOut, Outbound
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.types import AudioFormat, Priority

router = APIRouter(tags=["realtime"])

ENCODINGS = {
    "linear16": AudioFormat.PCM,
    "pcm": AudioFormat.PCM,
    "mulaw": AudioFormat.MULAW,
    "ulaw": AudioFormat.MULAW,
    "alaw": AudioFormat.ALAW,
    "opus": AudioFormat.OPUS,
}
"""``encoding`` values (Deepgram's names, with aliases) and the format each sends."""
_CANONICAL = {
    AudioFormat.PCM: "linear16",
    AudioFormat.MULAW: "mulaw",
    AudioFormat.ALAW: "alaw",
    AudioFormat.OPUS: "opus",
}
_NO_DEADLINE_S = 3600.0
"""Time left passed to admission for a handshake, which has no deadline (no overload shedding)."""
DEFAULT_RATES = {
    AudioFormat.PCM: 24000,
    AudioFormat.MULAW: 8000,
    AudioFormat.ALAW: 8000,
    AudioFormat.OPUS: 48000,
}
"""The rate of each encoding when the client names none (linear16 as OpenAI's and Deepgram's pcm)."""


@router.websocket("/api/v1/tts/realtime")
async def realtime(ws: WebSocket) -> None:
    """Speak text as it arrives; see :mod:`voxgate.realtime.protocol` for the frames."""
    synth: Synthesizer = ws.state.synth
    settings: Settings = ws.state.settings
    limits: RealtimeLimits = ws.state.realtime_limits
    clock: Clock = ws.state.clock
    try:
        auth: ApiKeyAuth = ws.state.auth
        caller = auth.identify(ws.headers, ws.client.host if ws.client else None, query_key(ws.scope))
        access_extras(ws.scope)["client_id"] = caller.client_id  # the key's name, never the key
        config, metadata = _configure(ws, synth, settings, caller)
        # Opening a socket is one request against the key's rate limits (its pieces are not:
        # they are paced by the text, and charged to the daily quota each).
        await synth.admission.admit(
            caller.client_id, config.priority, 0, _NO_DEADLINE_S, lambda _p, _c: 0.0, queued=0
        )
        if not limits.open(caller.client_id):  # at most realtime.max_sockets_per_client
            raise Rejected("too_many_sockets", 1.0)
    except VoxgateError as exc:
        await deny_websocket(response_for(exc), ws.scope, ws.receive, ws.send)
        return
    extras = access_extras(ws.scope)  # the access line when the socket ends
    extras["priority"] = config.priority.value
    session: RealtimeSession | None = None
    try:
        synth.bus.publish(SocketOpened(caller.client_id))  # before any await: finally balances it
        await ws.accept()
        session = RealtimeSession(
            synth=synth,
            config=config,
            clock=clock,
            send=lambda out: _send(ws, out),
            metadata=metadata,
            publish=synth.bus.publish,
            charge=lambda chars: limits.charge(caller.client_id, chars),
        )
        await _serve(ws, session, clock)
    finally:
        if session is not None:
            extras.update(session.counts())
        limits.close(caller.client_id)
        synth.bus.publish(SocketClosed(caller.client_id))


def _configure(
    ws: WebSocket, synth: Synthesizer, settings: Settings, caller: Caller
) -> tuple[SessionConfig, dict[str, Any]]:
    """The session's configuration from the query, checked; raises InvalidInput naming the parameter."""
    query = ws.query_params
    name = query.get("encoding", "linear16").strip().lower()
    encoding = ENCODINGS.get(name)
    if encoding is None:
        raise InvalidOption("encoding", f"unknown encoding {name[:40]!r}; one of linear16, mulaw, alaw, opus")
    raw_rate = query.get("sample_rate")
    rate: int | None = None
    if raw_rate is not None:
        try:
            rate = int(raw_rate)
        except ValueError:
            message = f"sample_rate must be an integer, got {raw_rate[:40]!r}"
            raise InvalidOption("sample_rate", message) from None
    timestamps = _flag(query.get("timestamps"), "timestamps")
    voice_id = query.get("voice") or None
    voice = synth.catalog.get(voice_id) if voice_id is not None else None
    source_rate = voice.sample_rate if voice is not None else DEFAULT_RATES[encoding]
    rate = format_spec(encoding).choose_rate(source_rate, rate or DEFAULT_RATES[encoding])
    allowed = caller.entitlements
    wanted = query.get("priority")
    if wanted is None:
        priority = allowed.best(Priority.INTERACTIVE, Priority.API)
    else:
        try:
            priority = Priority(wanted.strip().lower())
        except ValueError:
            message = f"unknown priority {wanted[:40]!r}; interactive, api or batch"
            raise InvalidOption("priority", message) from None
        caller.check(priority, None)
    realtime = settings.realtime
    config = SessionConfig(
        voice=voice.id if voice is not None else None,
        encoding=encoding,
        sample_rate=rate,
        priority=priority,
        client_id=caller.client_id,
        first_audio_s=settings.qos.first_audio_s,
        max_buffer_delay_s=realtime.max_buffer_delay_ms / 1000,
        max_frame_bytes=realtime.max_frame_bytes,
        max_buffered_chars=settings.text.max_chars,
        idle_timeout_s=realtime.idle_timeout_s,
        frame_s=realtime.frame_ms / 1000,
        timestamps=timestamps,
        eager_cut=realtime.eager_cut,
        stream=realtime.stream,
    )
    chain = [s.engine for s in synth.chains.chain(voice, voice.languages[0])] if voice is not None else None
    metadata = {
        "voice": config.voice,
        "engine_chain": chain,
        "encoding": _CANONICAL[encoding],
        "sample_rate": rate,
        "priority": priority.value,
        "max_buffer_delay_ms": realtime.max_buffer_delay_ms,
    }
    return config, metadata


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def _flag(raw: str | None, field: str) -> bool:
    """A boolean query parameter (absent: false); raises InvalidOption naming ``field``."""
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise InvalidOption(field, f"{field} must be true or false, got {raw[:40]!r}")


async def _send(ws: WebSocket, out: Outbound) -> None:
    if ws.application_state is not WebSocketState.CONNECTED:
        raise ConnectionError("the socket is closed")
    if isinstance(out, AudioOut):
        await ws.send_bytes(out.data)
    elif isinstance(out, JsonOut):
        await ws.send_text(json.dumps(out.payload, ensure_ascii=False, separators=(",", ":")))
    else:
        await ws.close(out.code, out.reason)


async def _serve(ws: WebSocket, session: RealtimeSession, clock: Clock) -> None:
    """Feed client frames to the session and wake it on time, until it ends or the client leaves."""
    await session.start()
    done = asyncio.ensure_future(session.done.wait())
    receiving: asyncio.Task[Any] | None = None
    try:
        while not session.done.is_set():
            if receiving is None:
                receiving = asyncio.ensure_future(ws.receive())
            wake = session.wake_at()
            timeout = None if wake is None else max(0.0, wake - clock.monotonic())
            finished, _ = await asyncio.wait(
                (receiving, done), timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if receiving in finished:
                message = receiving.result()
                receiving = None
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                await session.receive(text if text is not None else message.get("bytes") or b"")
            elif not finished:
                await session.tick()
    finally:
        done.cancel()
        if receiving is not None:
            receiving.cancel()
        await session.abort()  # the client left or the session ended: nothing stays in synthesis
