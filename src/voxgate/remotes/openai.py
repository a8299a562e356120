"""The ``openai`` kind: any server with OpenAI's ``POST {url}/audio/speech``.

Kokoro-FastAPI, LocalAI, openedai-speech, IndexTTS OpenAI wrappers and voxgate itself answer it.
One request per segment (voxgate has already cut the text into sentences): ``{"model", "input",
"voice", "response_format": "wav", "speed"}``. For the first segment of a voxgate stream the
server's chunked answer is decoded as it arrives and passed on in pieces (``synthesize_stream``),
so the client's first audio does not wait for the remote's whole sentence. WAV, not ``pcm``:
a WAV says its own rate, sample format and channels, whereas OpenAI's ``pcm`` is 24 kHz s16le
by convention only and servers differ (Kokoro-FastAPI sends 24 kHz, others their model's rate),
so decoding WAV is right for every server. The audio is
decoded to float32 at the remote's rate (16-bit and float PCM with numpy, in microseconds; any
other WAV through FFmpeg, off the loop); the pipeline resamples it like any engine's.

Health: ``GET {url}/models`` (OpenAI's model list, which these servers offer; voxgate answers
it too). The remote is healthy when it answers at all with a status below 500 other than 401 and
403: a server without that route (404) is up; one that refuses our key is not usable.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from voxgate.remotes.http import HttpRemote, probe
from voxgate.types import AudioChunk, SynthesisOptions


class OpenAIRemote(HttpRemote):
    """An OpenAI-compatible speech server as a remote engine.

    Args:
        name: the engine name.
        settings: its ``[remotes.NAME]`` table.
        api_key: sent as ``Authorization: Bearer``; ``None`` sends no header.
    """

    KIND = "openai"
    HONOURS = frozenset({"speed"})

    async def probe(self) -> bool:
        """``GET {url}/models``: any answer below 500 except 401/403 is healthy."""
        return await probe(self._client, "/models", self._settings, lambda s: s < 500 and s not in (401, 403))

    async def synthesize(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> list[AudioChunk]:
        """POST ``/audio/speech`` for WAV and decode it (see :class:`voxgate.remotes.RemoteEngine`)."""
        return await self._post("/audio/speech", self._body(text, voice, opts), text, timeout_s)

    def synthesize_stream(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> AsyncGenerator[AudioChunk]:
        """The same request; its chunked WAV answer decoded as it arrives (see
        :class:`voxgate.remotes.base.SupportsStreaming`). A server that sends the file whole is
        read whole: one piece."""
        return self._stream("/audio/speech", self._body(text, voice, opts), text, timeout_s)

    def _body(self, text: str, voice: str, opts: SynthesisOptions) -> dict[str, Any]:
        return {
            "model": self._settings.model,
            "input": text,
            "voice": self._settings.voices[voice],
            "response_format": "wav",
            "speed": opts.speed,
        }
