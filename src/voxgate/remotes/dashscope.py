"""The ``dashscope`` kind: Alibaba's Sambert voices through the ``dashscope`` SDK.

The call: ``dashscope.audio.tts.SpeechSynthesizer.call(model=<the voice's Sambert model>,
text=..., format="wav", sample_rate=<the model's native rate>, rate=<speed clamped to
Sambert's 0.5–2.0>, pitch=1.0, volume=50, api_key=<key>, base_address=<url>,
request_timeout=<what is left of the deadline + 1 s>)``. The SDK speaks DashScope's WebSocket
protocol (connect with ``Authorization: Bearer <key>``, send ``run-task``, receive
``task-started``, binary audio frames and ``result-generated`` events, then ``task-finished`` or
``task-failed``) and reports failures in its result (a non-200 ``get_response().status_code`` and
no audio), not as exceptions.

Where it connects: the table's ``url`` is passed to every call as ``base_address`` (the SDK's
per-call override), so two remotes may use different endpoints and nothing global changes. A
table without ``url`` takes ``$DASHSCOPE_WEBSOCKET_BASE_URL`` when voxgate's settings load (the
SDK itself reads it only once, at import) or DashScope's endpoint. The key is ``api_key`` /
``api_key_env``, else ``$DASHSCOPE_API_KEY``; it is always passed explicitly, so the SDK's own
key discovery (``dashscope.api_key``, ``~/.dashscope/api_key``) is never used.

Threads and deadlines: the SDK is synchronous, so each call runs in this remote's own pool of
``2 × max_concurrency + 1`` threads. The backend bounds the call by its deadline and frees its
scheduler slot when the deadline passes or the caller leaves. The SDK offers no way to abort a
``SpeechSynthesizer.call``; instead each call is given ``request_timeout`` = its deadline + 1 s,
so the SDK closes the WebSocket itself at most a second after the deadline and the thread ends
(a call abandoned early by its client runs on until it finishes or that timeout; its audio is
discarded). The pool is twice the slots so abandoned calls do not delay new ones.

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
it). After a
call was refused for its key inside the task (``InvalidApiKey`` and kin, which a handshake may
not catch), the probe instead synthesises one character (billed: one character per
``health_interval_s`` while the key stays refused, ~17,000 characters a day at 5 s) until one
succeeds.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from voxgate.audio.decode import decode
from voxgate.audio.wav import read_pcm_wav
from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput, VoxgateError
from voxgate.remotes.sambert import SAMBERT_MODELS
from voxgate.settings import RemoteSettings
from voxgate.types import Audio, AudioChunk, AudioFormat, SynthesisOptions, VoiceInfo

if TYPE_CHECKING:
    from dashscope.audio.tts import SpeechSynthesisResult

KEY_ENV = "DASHSCOPE_API_KEY"
"""Where the key is read from when the table names none."""
MIN_RATE, MAX_RATE = 0.5, 2.0
"""Sambert's ``rate`` range; voxgate's ``speed`` is clamped into it."""
PITCH, VOLUME = 1.0, 50
"""Sambert's neutral pitch and default volume (0–100), sent on every call."""
PROBE_TEXT = "嗯"
"""The one character a key re-check synthesises."""
SDK_GRACE_S = 1.0
"""The SDK's own timeout is the call's deadline plus this: the backend's deadline fires first."""

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
        ValueError: a voice names a model Sambert does not have (the message names the field),
            or the ``dashscope`` package is not installed.
    """

    KIND = "dashscope"
    HONOURS = frozenset({"speed"})

    def __init__(self, name: str, settings: RemoteSettings, api_key: str) -> None:
        from dashscope.audio.tts import SpeechSynthesizer  # the optional extra: checked at start

        self._synthesizer = SpeechSynthesizer
        self._name = name
        self._settings = settings
        self._key = api_key
        self._voices = _voices(name, settings)
        self._executor = ThreadPoolExecutor(
            max_workers=2 * settings.max_concurrency + 1, thread_name_prefix=f"dashscope-{name}"
        )
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
        """Speak ``text`` on DashScope in this remote's thread pool (see :class:`RemoteEngine`)."""
        parameters = self.parameters(voice, opts)
        future = self._executor.submit(self._speak, text, parameters, timeout_s)
        audio, rate = await asyncio.wrap_future(future)
        self._key_refused = False
        return [AudioChunk(audio, rate, text)]

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
        voice = next(iter(self._settings.voices))
        timeout_s = max(5.0, self._settings.connect_timeout_s)
        try:
            async with asyncio.timeout(timeout_s):
                await self.synthesize(PROBE_TEXT, voice, SynthesisOptions(), timeout_s)
        except (VoxgateError, TimeoutError):
            return False
        return True

    def _speak(self, text: str, parameters: dict[str, Any], timeout_s: float) -> tuple[Audio, int]:
        """One SDK call (in a pool thread): the decoded audio, or the mapped failure raised."""
        try:
            result: SpeechSynthesisResult = self._synthesizer.call(
                text=text,
                api_key=self._key,
                base_address=self._settings.url,
                request_timeout=timeout_s + SDK_GRACE_S,
                **parameters,
            )
        except Exception as exc:  # the SDK reports failures in its result; this is a bug of its own
            raise EngineError(self._name, f"the dashscope SDK raised {type(exc).__name__}") from None
        response = result.get_response()
        data: bytes | None = result.get_audio_data()
        if response is not None and response.status_code != 200:
            status = response.status_code
            error = refusal(self._name, status, response.code, response.message, self._key, timeout_s)
            if status == WEBSOCKET_FAILED and isinstance(error, EngineUnavailable):
                self._key_refused = True  # a handshake probe may not notice: re-check by synthesis
            raise error
        if not data:
            raise EngineError(self._name, "answered no audio")
        return _decode(self._name, data)

    async def aclose(self) -> None:
        """Stop its threads (a call in flight ends by its own timeout)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


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


def _decode(engine: str, data: bytes) -> tuple[Audio, int]:
    """The WAV DashScope sent, as float samples (FFmpeg for anything but plain PCM)."""
    decoded = read_pcm_wav(data)
    if decoded is None:
        try:
            decoded = decode(data, AudioFormat.WAV)
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
