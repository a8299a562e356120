"""HTTP failures of a remote, mapped onto voxgate's errors (shared by the HTTP kinds).

Who is to blame decides the mapping: the client's input (the router stops and answers 4xx, no
breaker blame), the remote (the breaker counts it and the router falls back), or the gateway's
own configuration of the remote (a wrong key or URL: the remote is unusable, so it is an engine
failure and the router falls back; telling the client "your input is wrong" would be false).

=====================================  ==========================================================
remote answer                          voxgate error
=====================================  ==========================================================
400, 409, 413, 415, 422, other 4xx     ``InvalidInput`` (field from the OpenAI error's ``param``)
4xx naming ``model``/``response_format`` ``EngineError`` (a field the gateway chose: configuration)
401, 403, 404, 405                     ``EngineUnavailable`` (key or URL: configuration)
408, 429, 5xx, 1xx/3xx                 ``EngineError``
connection refused/reset, DNS          ``EngineUnavailable``
timeout                                ``EngineTimeout``
=====================================  ==========================================================

The remote's error text is never forwarded raw: at most its OpenAI-shaped ``message``,
printable characters only, cut at 200 characters (an IndexTTS server answers 500 with a
traceback, which goes nowhere).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from typing import Any

import httpx
import numpy as np

from voxgate.audio.decode import decode
from voxgate.audio.wav import PcmWavReader, read_pcm_wav
from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput, VoxgateError
from voxgate.remotes.base import remote_voices
from voxgate.settings import RemoteSettings
from voxgate.types import Audio, AudioChunk, AudioFormat, VoiceInfo

MAX_ANSWER_BYTES = 256 * 2**20
"""Largest answer read from a remote (a 4096-character segment is a few MB of WAV)."""

_CONFIG_STATUSES = frozenset({401, 403, 404, 405})
_ENGINE_STATUSES = frozenset({408, 429})
_GATEWAY_FIELDS = frozenset({"model", "response_format", "stream_format"})
# OpenAI request fields → the voxgate field the client sent.
_FIELDS = {"input": "text", "voice": "voice", "speed": "speed"}
_MAX_DETAIL = 200
STREAM_PIECE_S = 0.2
"""A streamed answer is passed on in pieces of at least this much audio (its last piece may be shorter)."""


def refusal(engine: str, status: int, body: bytes) -> VoxgateError:
    """The error for a non-2xx answer of ``engine`` (see the module table)."""
    param, message = _detail(body)
    if status in _CONFIG_STATUSES:
        return EngineUnavailable(engine, f"HTTP {status}: check its url and api key")
    if 400 <= status < 500 and status not in _ENGINE_STATUSES:
        if param in _GATEWAY_FIELDS:
            return EngineError(engine, f"HTTP {status} for {param}: check its configuration")
        field = _FIELDS.get(param or "", "text")
        reason = message or f"HTTP {status}"
        return InvalidInput(field, f"remote engine {engine} refused the request: {reason}")
    return EngineError(engine, f"HTTP {status}")


def transport_error(engine: str, exc: httpx.HTTPError, timeout_s: float) -> EngineError:
    """The error for a request to ``engine`` that got no HTTP answer."""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return EngineTimeout(engine, timeout_s)
    return EngineUnavailable(engine, f"unreachable ({type(exc).__name__})")


def _detail(body: bytes) -> tuple[str | None, str | None]:
    """``param`` and ``message`` of an OpenAI-shaped error body, else ``(None, None)``."""
    try:
        data = json.loads(body[:65536])
    except (ValueError, UnicodeDecodeError):
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    param = error.get("param")
    message = error.get("message")
    clean = "".join(c for c in message if c.isprintable())[:_MAX_DETAIL] if isinstance(message, str) else None
    return (param if isinstance(param, str) else None), clean


def http_client(settings: RemoteSettings, headers: Mapping[str, str]) -> httpx.AsyncClient:
    """A client for one remote: ``max_concurrency`` connections plus one for the health probe."""
    return httpx.AsyncClient(
        base_url=settings.url,
        headers=dict(headers),
        limits=httpx.Limits(
            max_connections=settings.max_concurrency + 1,
            max_keepalive_connections=settings.max_concurrency,
        ),
        follow_redirects=False,
    )


async def probe(
    client: httpx.AsyncClient, path: str, settings: RemoteSettings, healthy: Callable[[int], bool]
) -> bool:
    """``GET path`` within ``connect_timeout_s``; healthy when it answers a status ``healthy`` accepts."""
    timeout = settings.connect_timeout_s
    try:
        response = await client.get(path, timeout=httpx.Timeout(timeout, connect=timeout))
    except httpx.HTTPError:
        return False
    return healthy(response.status_code)


async def post_for_audio(
    client: httpx.AsyncClient,
    engine: str,
    settings: RemoteSettings,
    path: str,
    body: Mapping[str, Any],
    text: str,
    timeout_s: float,
) -> list[AudioChunk]:
    """POST ``body`` as JSON to ``path`` and decode the WAV answer into one chunk speaking ``text``.

    The whole call is bounded by ``timeout_s`` (the connection by ``connect_timeout_s`` too);
    cancelling it closes the connection. Failures are mapped as in the module table.
    """
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, settings.connect_timeout_s))
    try:
        async with client.stream("POST", path, json=body, timeout=timeout) as response:
            data = await _read(engine, response)
            status = response.status_code
    except httpx.HTTPError as exc:
        raise transport_error(engine, exc, timeout_s) from exc
    if not 200 <= status < 300:
        raise refusal(engine, status, data)
    audio, rate = read_pcm_wav(data) or await _decode(engine, data)
    if audio.size == 0:
        raise EngineError(engine, "answered no audio")
    return [AudioChunk(audio, rate, text)]


async def stream_audio(
    client: httpx.AsyncClient,
    engine: str,
    settings: RemoteSettings,
    path: str,
    body: Mapping[str, Any],
    text: str,
    timeout_s: float,
) -> AsyncGenerator[AudioChunk]:
    """Like :func:`post_for_audio`, but yields the WAV answer's audio as it arrives.

    Pieces of at least :data:`STREAM_PIECE_S` of audio, each speaking ``text`` (the whole
    segment's). A WAV that is not 16-bit or float PCM is read whole and decoded at the end (one
    piece). Close the iterator (``aclose``) to close the connection early; failures are mapped as
    in the module table (an answer that ends without audio is an ``EngineError``).
    """
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, settings.connect_timeout_s))
    reader = PcmWavReader()
    held: list[Audio] = []
    head: list[bytes] = []  # every byte until the header is in: all of a WAV the reader cannot read
    size = 0
    any_audio = False
    try:
        async with client.stream("POST", path, json=body, timeout=timeout) as response:
            if not 200 <= response.status_code < 300:
                raise refusal(engine, response.status_code, await _read(engine, response))
            async for part in response.aiter_bytes():
                size += len(part)
                if size > MAX_ANSWER_BYTES:
                    raise EngineError(engine, f"answer larger than {MAX_ANSWER_BYTES} bytes")
                if reader.sample_rate is None:
                    head.append(part)
                audio = reader.feed(part)
                if audio.size:
                    held.append(audio)
                rate = reader.sample_rate
                if rate and sum(len(a) for a in held) >= STREAM_PIECE_S * rate:
                    any_audio = True
                    yield AudioChunk(np.concatenate(held), rate, text)
                    held = []
    except httpx.HTTPError as exc:
        raise transport_error(engine, exc, timeout_s) from exc
    if reader.unsupported:
        audio, rate = await _decode(engine, b"".join(head))
        held, reader.sample_rate = [audio], rate
    if held and reader.sample_rate and sum(len(a) for a in held):
        yield AudioChunk(np.concatenate(held), reader.sample_rate, text)
    elif not any_audio:
        raise EngineError(engine, "answered no audio")


async def _decode(engine: str, data: bytes) -> tuple[Audio, int]:
    """A WAV that is not plain 16-bit/float PCM, through FFmpeg (off the event loop)."""
    try:
        return await asyncio.to_thread(decode, data, AudioFormat.WAV)
    except InvalidInput as exc:  # the remote's audio is bad, not the client's input
        raise EngineError(engine, f"answered undecodable audio: {exc.message}") from exc


async def _read(engine: str, response: httpx.Response) -> bytes:
    """The body, refused past :data:`MAX_ANSWER_BYTES`."""
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > MAX_ANSWER_BYTES:
            raise EngineError(engine, f"answer larger than {MAX_ANSWER_BYTES} bytes")
        parts.append(part)
    return b"".join(parts)


class HttpRemote:
    """What every HTTP kind shares: its name, table, voices, one client, the POST-for-WAV call.

    A kind sets ``KIND`` (the ``model_version`` prefix), ``HONOURS`` (the request options it acts
    on) and ``SHOW_REMOTE_NAME``, and adds ``probe`` and ``synthesize``.

    Args:
        name: the engine name.
        settings: its ``[remotes.NAME]`` table.
        api_key: sent as ``Authorization: Bearer``; ``None`` sends no header.
    """

    KIND = ""
    HONOURS: frozenset[str] = frozenset()
    SHOW_REMOTE_NAME = True

    def __init__(self, name: str, settings: RemoteSettings, api_key: str | None) -> None:
        self._name = name
        self._settings = settings
        self._voices = remote_voices(
            name, settings, honours=self.HONOURS, show_remote_name=self.SHOW_REMOTE_NAME
        )
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = http_client(settings, headers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, url={self._settings.url!r})"

    @property
    def name(self) -> str:
        """The engine name."""
        return self._name

    @property
    def model_version(self) -> str:
        """``<kind>:<model>@<url>``: another model or server is other audio."""
        return f"{self.KIND}:{self._settings.model}@{self._settings.url}"

    @property
    def settings(self) -> RemoteSettings:
        """Its configuration."""
        return self._settings

    def voices(self) -> Sequence[VoiceInfo]:
        """Its voxgate voices."""
        return self._voices

    async def _post(
        self, path: str, body: Mapping[str, Any], text: str, timeout_s: float
    ) -> list[AudioChunk]:
        return await post_for_audio(self._client, self._name, self._settings, path, body, text, timeout_s)

    def _stream(
        self, path: str, body: Mapping[str, Any], text: str, timeout_s: float
    ) -> AsyncGenerator[AudioChunk]:
        return stream_audio(self._client, self._name, self._settings, path, body, text, timeout_s)

    async def aclose(self) -> None:
        """Close its connections."""
        await self._client.aclose()
