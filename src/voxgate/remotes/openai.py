"""The ``openai`` kind: any server with OpenAI's ``POST {url}/audio/speech``.

Kokoro-FastAPI, LocalAI, openedai-speech, IndexTTS OpenAI wrappers and voxgate itself answer it.
One request per segment (voxgate has already cut the text into sentences, so a stream's first
audio waits for one remote sentence): ``{"model", "input", "voice", "response_format": "wav",
"speed"}``. WAV, not ``pcm``: a WAV says its own rate, sample format and channels, whereas
OpenAI's ``pcm`` is 24 kHz s16le by convention only and servers differ (Kokoro-FastAPI sends
24 kHz, others their model's rate), so decoding WAV is right for every server. The audio is
decoded to float32 at the remote's rate (16-bit and float PCM with numpy, in microseconds; any
other WAV through FFmpeg, off the loop); the pipeline resamples it like any engine's.

Health: ``GET {url}/models`` (OpenAI's model list, which these servers offer; voxgate answers
it too). The remote is healthy when it answers at all with a status below 500 other than 401 and
403: a server without that route (404) is up; one that refuses our key is not usable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from voxgate.audio.decode import decode
from voxgate.audio.wav import read_pcm_wav
from voxgate.errors import EngineError, InvalidInput
from voxgate.remotes.base import remote_voices
from voxgate.remotes.http import refusal, transport_error
from voxgate.settings import RemoteSettings
from voxgate.types import Audio, AudioChunk, AudioFormat, SynthesisOptions, VoiceInfo

MAX_ANSWER_BYTES = 256 * 2**20
"""Largest answer read from a remote (a 4096-character segment is a few MB of WAV)."""


class OpenAIRemote:
    """An OpenAI-compatible speech server as a remote engine.

    Args:
        name: the engine name.
        settings: its ``[remotes.NAME]`` table.
        api_key: sent as ``Authorization: Bearer``; ``None`` sends no header.
    """

    def __init__(self, name: str, settings: RemoteSettings, api_key: str | None) -> None:
        self._name = name
        self._settings = settings
        self._voices = remote_voices(name, settings)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=settings.url,
            headers=headers,
            limits=httpx.Limits(
                max_connections=settings.max_concurrency + 1,  # one more for the health probe
                max_keepalive_connections=settings.max_concurrency,
            ),
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"OpenAIRemote({self._name!r}, url={self._settings.url!r})"

    @property
    def name(self) -> str:
        """The engine name."""
        return self._name

    @property
    def model_version(self) -> str:
        """``openai:<model>@<url>``: another model or server is other audio."""
        return f"openai:{self._settings.model}@{self._settings.url}"

    @property
    def settings(self) -> RemoteSettings:
        """Its configuration."""
        return self._settings

    def voices(self) -> Sequence[VoiceInfo]:
        """Its voxgate voices."""
        return self._voices

    async def probe(self) -> bool:
        """``GET {url}/models``: any answer below 500 except 401/403 is healthy."""
        timeout = self._settings.connect_timeout_s
        try:
            response = await self._client.get("/models", timeout=httpx.Timeout(timeout, connect=timeout))
        except httpx.HTTPError:
            return False
        return response.status_code < 500 and response.status_code not in (401, 403)

    async def synthesize(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> list[AudioChunk]:
        """POST ``/audio/speech`` for WAV and decode it (see :class:`voxgate.remotes.RemoteEngine`)."""
        body = {
            "model": self._settings.model,
            "input": text,
            "voice": self._settings.voices[voice],
            "response_format": "wav",
            "speed": opts.speed,
        }
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, self._settings.connect_timeout_s))
        try:
            async with self._client.stream("POST", "/audio/speech", json=body, timeout=timeout) as response:
                data = await _read(self._name, response)
                status = response.status_code
        except httpx.HTTPError as exc:
            raise transport_error(self._name, exc, timeout_s) from exc
        if not 200 <= status < 300:
            raise refusal(self._name, status, data)
        audio, rate = read_pcm_wav(data) or await self._decode(data)
        if audio.size == 0:
            raise EngineError(self._name, "answered no audio")
        return [AudioChunk(audio, rate, text)]

    async def _decode(self, data: bytes) -> tuple[Audio, int]:
        """A WAV that is not plain 16-bit/float PCM, through FFmpeg (off the event loop)."""
        try:
            return await asyncio.to_thread(decode, data, AudioFormat.WAV)
        except InvalidInput as exc:  # the remote's audio is bad, not the client's input
            raise EngineError(self._name, f"answered undecodable audio: {exc.message}") from exc

    async def aclose(self) -> None:
        """Close its connections."""
        await self._client.aclose()


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
