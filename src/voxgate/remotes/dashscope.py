"""The ``dashscope`` kind: Alibaba's Sambert voices through the ``dashscope`` SDK.

The request is the one ``dashscope.audio.tts.SpeechSynthesizer.call`` sends (model = the voice's
Sambert model, ``input.text``, ``format="wav"``, ``sample_rate`` = the model's native rate,
``rate`` = speed clamped to Sambert's 0.5–2.0, ``pitch=1.0``, ``volume=50``), made through
``dashscope.client.base_api.BaseAioApi.call`` — the SDK's coroutine twin of the ``BaseApi.call``
that ``SpeechSynthesizer.call`` wraps: the same request object from the same factory, the same
WebSocket protocol (connect with ``Authorization: Bearer <key>``, send ``run-task``, receive
``task-started``, binary audio frames and ``result-generated`` events, then ``task-finished`` or
``task-failed``), the same failure reporting (a response whose ``status_code`` is not 200, not an
exception), aggregated here the way ``SpeechSynthesizer.call`` aggregates it.

Why not ``SpeechSynthesizer.call`` in a thread: it runs that same coroutine on a private event
loop in a non-daemon thread of its own, which nothing outside can stop. Its ``request_timeout``
bounds only the handshake, so a task DashScope never finishes would hold a thread (and delay the
gateway's exit) until DashScope ends it. On the gateway's event loop instead, the call is plain
``await``: the backend's deadline or a client that leaves cancels it, which closes the WebSocket at
once (DashScope sees the task abandoned), and no thread or slot outlives the call.

Where it connects: the table's ``url`` is passed to every call as ``base_address`` (the SDK's
per-call override), so two remotes may use different endpoints and nothing global changes. A
table without ``url`` takes ``$DASHSCOPE_WEBSOCKET_BASE_URL`` when voxgate's settings load (the
SDK itself reads it only once, at import) or DashScope's endpoint. The key is ``api_key`` /
``api_key_env``, else ``$DASHSCOPE_API_KEY``; it is always passed explicitly, so the SDK's own
key discovery (``dashscope.api_key``, ``~/.dashscope/api_key``) is never used.

Failures (``task-failed`` carries DashScope's ``error_code``; a refused handshake its HTTP status):

=================================================  =========================================
DashScope answer                                   voxgate error
=================================================  =========================================
``InvalidParameter``, ``DataInspectionFailed``     ``InvalidInput`` on ``text`` (4xx)
``InvalidApiKey``, ``AccessDenied*``,              ``EngineUnavailable`` (key, account or
``Arrearage``, ``ModelNotFound``; 401/403/404      model: configuration)
``Throttling*``; 429, 5xx, other codes             ``EngineError``
connection refused, DNS                            ``EngineUnavailable``
connection dropped mid-task, no audio              ``EngineError``
no whole answer in time                            ``EngineTimeout``
=================================================  =========================================

Health: DashScope has no health endpoint, and a synthesis is billed per character. The probe
opens a WebSocket to ``url`` with the key and closes it without starting a task: nothing is
billed, and it proves the endpoint is reachable and that the handshake accepts the key (a
handshake refused with 429 is a service that is up but busy: the breaker, not readiness, judges
it). After a call was refused for its key inside the task (``InvalidApiKey`` and kin, which a
handshake may not catch), the probe instead synthesises one character until a task gets past the
key check (billed: one character per ``health_interval_s`` while the key stays refused, ~17,000
characters a day at the default 5 s).

Streaming: DashScope streams a task's audio in frames, but voxgate sends one task per segment
(it has cut the text into sentences already) and uses a segment's audio once it is whole, as for
the ``openai`` kind: a stream's first audio waits for one Sambert sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncGenerator, Sequence
from typing import Any, cast

from voxgate.audio.decode import decode
from voxgate.audio.wav import read_pcm_wav
from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput, VoxgateError
from voxgate.remotes.sambert import SAMBERT_MODELS
from voxgate.settings import RemoteSettings
from voxgate.types import Audio, AudioChunk, AudioFormat, SynthesisOptions, VoiceInfo

KEY_ENV = "DASHSCOPE_API_KEY"
"""Where the key is read from when the table names none."""
MIN_RATE, MAX_RATE = 0.5, 2.0
"""Sambert's ``rate`` range; voxgate's ``speed`` is clamped into it."""
PITCH, VOLUME = 1.0, 50
"""Sambert's neutral pitch and default volume (0–100), sent on every call."""
PROBE_TEXTS = {"zh": "嗯", "en": "a"}
"""The one character a key re-check synthesises, by the first voice's primary language (else "a")."""
SDK_GRACE_S = 1.0
"""The SDK's handshake timeout is the call's deadline plus this: the backend's deadline fires first."""
MAX_ANSWER_BYTES = 256 * 2**20
"""Largest audio read from DashScope (a 4096-character segment is a few MB of WAV)."""

WEBSOCKET_FAILED = 44
"""The SDK's ``status_code`` for a ``task-failed`` event."""

_INPUT_CODES = ("InvalidParameter", "DataInspectionFailed", "BadRequest")
_CONFIG_CODES = ("InvalidApiKey", "AccessDenied", "Unauthorized", "Arrearage", "ModelNotFound", "NotFound")
_CONFIG_STATUSES = frozenset({401, 403, 404})
_MAX_DETAIL = 200


class DashScopeRemote:
    """Alibaba DashScope's Sambert voices as a remote engine (see the module docstring).

    Args:
        name: the engine name.
        settings: its ``[remotes.NAME]`` table (``voices`` map to Sambert model names).
        api_key: the DashScope key.

    Raises:
        ValueError: a voice names a model Sambert does not have (the message names the field).
        ModuleNotFoundError: the ``dashscope`` package is not installed.
    """

    KIND = "dashscope"
    HONOURS = frozenset({"speed"})

    def __init__(self, name: str, settings: RemoteSettings, api_key: str) -> None:
        from dashscope.client.base_api import BaseAioApi  # the optional extra: checked at start
        from dashscope.common.constants import ApiProtocol

        self._api = BaseAioApi
        self._websocket = ApiProtocol.WEBSOCKET
        self._name = name
        self._settings = settings
        self._key = api_key
        self._voices = _voices(name, settings)
        self._key_refused = False
        voices = ",".join(f"{k}={v}" for k, v in sorted(settings.voices.items()))
        self._version = hashlib.sha256(voices.encode()).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._name!r}, url={self._settings.url!r})"

    @property
    def name(self) -> str:
        """The engine name."""
        return self._name

    @property
    def model_version(self) -> str:
        """``dashscope:<digest of the voice → model map>@<url>``: another model is other audio."""
        return f"{self.KIND}:{self._settings.model}-{self._version}@{self._settings.url}"

    @property
    def settings(self) -> RemoteSettings:
        """Its configuration."""
        return self._settings

    def voices(self) -> Sequence[VoiceInfo]:
        """Its voxgate voices, each with its Sambert model's languages and native rate."""
        return self._voices

    def parameters(self, voice: str, opts: SynthesisOptions) -> dict[str, Any]:
        """The SDK call's synthesis arguments for ``voice`` (model, format, rate, pitch, volume)."""
        model = self._settings.voices[voice]
        return {
            "model": model,
            "format": "wav",
            "sample_rate": SAMBERT_MODELS[model].sample_rate,
            "rate": min(MAX_RATE, max(MIN_RATE, opts.speed)),
            "pitch": PITCH,
            "volume": VOLUME,
        }

    async def synthesize(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> list[AudioChunk]:
        """Speak ``text`` on DashScope (see :class:`RemoteEngine`); cancelling closes the WebSocket."""
        parameters = self.parameters(voice, opts)
        model = parameters.pop("model")
        failure: Any = None
        audio = bytearray()
        try:
            stream = cast(
                AsyncGenerator[Any, None],
                await self._api.call(
                    model=model,
                    input={"text": text},
                    task_group="audio",
                    task="tts",
                    function="SpeechSynthesizer",
                    api_key=self._key,
                    api_protocol=self._websocket,
                    stream=True,
                    base_address=self._settings.url,
                    request_timeout=timeout_s + SDK_GRACE_S,
                    **parameters,
                ),
            )
            async with contextlib.aclosing(stream):
                async for part in stream:
                    if isinstance(part.output, bytes):  # an audio frame
                        audio += part.output
                        if len(audio) > MAX_ANSWER_BYTES:
                            raise EngineError(self._name, f"answer larger than {MAX_ANSWER_BYTES} bytes")
                    elif part.status_code != 200:
                        failure = part
                        break
        except VoxgateError:
            raise
        except Exception:  # the SDK reports failures in its responses; this is a bug of its own
            raise EngineError(self._name, "the dashscope SDK failed") from None
        if failure is not None:
            status = failure.status_code
            error = refusal(self._name, status, failure.code, failure.message, self._key, timeout_s)
            if status == WEBSOCKET_FAILED and isinstance(error, EngineUnavailable):
                self._key_refused = True  # a handshake probe may not notice: re-check by synthesis
            raise error
        if not audio:
            raise EngineError(self._name, "answered no audio")
        samples, rate = await _decode(self._name, bytes(audio))
        self._key_refused = False
        return [AudioChunk(samples, rate, text)]

    async def probe(self) -> bool:
        """A WebSocket handshake with the key (not billed): healthy when accepted, or refused with
        a status below 500 other than 401/403/404 (a throttled service is up: its breaker judges);
        a one-character synthesis after the key was refused inside a task (billed)."""
        if self._key_refused:
            return await self._synthesis_probe()
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=self._settings.connect_timeout_s)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout, trust_env=True) as session,
                session.ws_connect(self._settings.url, headers={"Authorization": f"Bearer {self._key}"}),
            ):
                return True
        except aiohttp.WSServerHandshakeError as exc:  # up, unless it refuses the key or the url
            return exc.status < 500 and exc.status not in _CONFIG_STATUSES
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def _synthesis_probe(self) -> bool:
        """One character on the first voice: healthy once a task gets past the key check (audio,
        or a refusal of the text, which DashScope checks after the key)."""
        voice = next(iter(self._settings.voices))
        language = SAMBERT_MODELS[self._settings.voices[voice]].languages[0]
        timeout_s = max(5.0, self._settings.connect_timeout_s)
        try:
            async with asyncio.timeout(timeout_s):
                await self.synthesize(PROBE_TEXTS.get(language, "a"), voice, SynthesisOptions(), timeout_s)
        except InvalidInput:
            self._key_refused = False
            return True
        except (VoxgateError, TimeoutError):
            return False
        return True

    async def aclose(self) -> None:
        """Nothing to close: every call's connection closes with the call."""


def refusal(
    engine: str, status: int, code: object, message: object, key: str, timeout_s: float
) -> VoxgateError:
    """The error for a failed SDK call (see the module table).

    Args:
        engine: the engine name.
        status: the result's ``status_code`` (44 for ``task-failed``, a handshake's HTTP status,
            -1 when the SDK got no answer).
        code: DashScope's ``error_code`` (or the handshake's status).
        message: DashScope's ``error_message`` (only its printable first 200 characters, without
            the key, ever reach a client).
        key: the key, scrubbed from anything quoted.
        timeout_s: the call's timeout.
    """
    name = str(code or "")
    detail = _clean(str(message or ""), key)
    if status == WEBSOCKET_FAILED:
        if name.startswith(_INPUT_CODES):
            reason = detail or name
            return InvalidInput("text", f"remote engine {engine} refused the text: {reason}")
        if name.startswith(_CONFIG_CODES):
            return EngineUnavailable(engine, f"{_label(name)}: check its api key, account and model")
        return EngineError(engine, f"task failed: {_label(name)}")
    if status in _CONFIG_STATUSES:
        return EngineUnavailable(engine, f"HTTP {status}: check its url and api key")
    if status == -1:
        if name == "ClientConnectorError":
            return EngineUnavailable(engine, "unreachable")
        if "TimeoutError" in str(message):
            return EngineTimeout(engine, timeout_s)
        return EngineError(engine, "connection failed before the task finished")
    return EngineError(engine, f"HTTP {status}")


def _label(code: str) -> str:
    """DashScope's error code, reduced to the characters such codes use."""
    return "".join(c for c in code if c.isalnum() or c in "._-")[:64] or "unknown"


def _clean(text: str, key: str) -> str:
    if key:
        text = text.replace(key, "***")
    return "".join(c for c in text if c.isprintable())[:_MAX_DETAIL]


async def _decode(engine: str, data: bytes) -> tuple[Audio, int]:
    """The WAV DashScope sent, as float samples (FFmpeg, off the loop, for anything but plain PCM)."""
    decoded = read_pcm_wav(data)
    if decoded is None:
        try:
            decoded = await asyncio.to_thread(decode, data, AudioFormat.WAV)
        except InvalidInput as exc:  # the remote's audio is bad, not the client's input
            raise EngineError(engine, f"answered undecodable audio: {exc.message}") from exc
    if decoded[0].size == 0:
        raise EngineError(engine, "answered no audio")
    return decoded


def _voices(name: str, settings: RemoteSettings) -> list[VoiceInfo]:
    """One voxgate voice per ``voices`` entry, described by the Sambert catalogue."""
    voices = []
    for voice_id, model in settings.voices.items():
        info = SAMBERT_MODELS.get(model)
        if info is None:
            raise ValueError(
                f"remotes.{name}.voices.{voice_id}: {model!r} is not a Sambert model "
                f"(one of {', '.join(sorted(SAMBERT_MODELS))})"
            )
        voices.append(
            VoiceInfo(
                id=voice_id,
                engine=name,
                languages=info.languages,
                gender=info.gender,
                sample_rate=info.sample_rate,
                description=f"{info.description} ({model} on remote engine {name}, dashscope)",
                honours=DashScopeRemote.HONOURS,
            )
        )
    return voices


def dashscope_key(name: str, configured: str | None) -> str:
    """The key: the table's (``api_key`` / ``api_key_env``), else ``$DASHSCOPE_API_KEY``.

    Raises:
        ValueError: no key anywhere (the message names the variable, never a value).
    """
    key = configured or os.environ.get(KEY_ENV)
    if not key:
        raise ValueError(f"remotes.{name}: set api_key_env or api_key, or the environment variable {KEY_ENV}")
    return key
