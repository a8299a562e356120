"""The ``dashscope`` remote kind (Sambert through the real ``dashscope`` SDK) against a stand-in.

The stand-in (:mod:`dashscope_standin`) is a real WebSocket server on loopback speaking DashScope's
Sambert protocol with real espeak audio; the SDK reaches it through the remote's ``url`` (the
SDK's per-call ``base_address``) or the SDK's own ``DASHSCOPE_WEBSOCKET_BASE_URL``. voxgate runs
with real espeak worker subprocesses as the fallback. The stand-in's fault modes are the fault
injection, named as such.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydantic
import pytest
from dashscope_standin import DashScopeStandIn, serve_stand_in

from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput
from voxgate.remotes.backend import build_remotes
from voxgate.remotes.dashscope import PROBE_TEXTS, DashScopeRemote, refusal
from voxgate.remotes.sambert import SAMBERT_MODELS
from voxgate.settings import Settings
from voxgate.testing import serve_in_thread
from voxgate.types import SynthesisOptions

KEY = "sk-dashscope-0123456789abcdef"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[DashScopeStandIn, str]]:
    """The stand-in on loopback (its WebSocket inference URL), accepting :data:`KEY`."""
    with serve_stand_in(KEY) as served:
        yield served


@pytest.fixture
def server(stand_in: tuple[DashScopeStandIn, str]) -> Iterator[DashScopeStandIn]:
    """The stand-in answering with audio for :data:`KEY`; put back that way after each test."""
    app, _url = stand_in
    app.mode, app.key = "ok", KEY
    yield app
    app.mode, app.key = "ok", KEY


@pytest.fixture(scope="module")
def gateway(
    stand_in: tuple[DashScopeStandIn, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real voxgate with the stand-in as remote ``sambert`` (its default voices), espeak behind it."""
    settings = Settings.load(
        data_dir=tmp_path_factory.mktemp("gw"),
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={
            "fallbacks": {"*": ["espeak"]},
            "limits": {"default": "100000/minute"},
            "breaker": {"window_size": 50, "minimum_calls": 50},  # failures here must not open it
        },
        remotes={
            "sambert": {"kind": "dashscope", "url": stand_in[1], "api_key": KEY, "health_interval_s": 0.2}
        },
    )
    with serve_in_thread(settings) as url:
        yield url


def speak(base: str, text: str, voice: str = "sambert-beth", **fields: Any) -> httpx.Response:
    """POST the gateway's native API for WAV (each test speaks its own texts: answers are cached)."""
    body = {"text": text, "voice": voice, "format": "wav", **fields}
    return httpx.post(f"{base}/api/v1/tts", json=body, timeout=30)


def sla(base: str) -> dict[str, Any]:
    result: dict[str, Any] = httpx.get(f"{base}/api/v1/sla", timeout=10).json()
    return result


def wait_for(condition: Any, seconds: float = 10) -> bool:
    give_up = time.monotonic() + seconds
    while not condition() and time.monotonic() < give_up:
        time.sleep(0.05)
    return bool(condition())


def wav_of(response: httpx.Response) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(response.content)) as wav:
        rate = wav.getframerate()
        audio = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
    return audio, rate


def test_request_mapping(gateway: str, server: DashScopeStandIn) -> None:
    """The exact run-task the SDK sends: model, text, format, native rate, speed as rate; Bearer key."""
    text = "The mapping case is read aloud."
    response = speak(gateway, text, speed=1.5)
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "sambert"
    assert "X-Voxgate-Ignored" not in response.headers  # Sambert acts on speed
    task = server.tasks[-1]
    assert (task["header"]["action"], task["header"]["streaming"]) == ("run-task", "out")
    assert task["payload"] == {
        "model": "sambert-beth-v1",
        "task_group": "audio",
        "task": "tts",
        "function": "SpeechSynthesizer",
        "input": {"text": text},
        "parameters": {"format": "wav", "sample_rate": 16000, "rate": 1.5, "pitch": 1.0, "volume": 50},
    }
    assert server.authorizations[-1] == f"Bearer {KEY}"


def test_remote_audio_is_used_at_the_models_rate(gateway: str, server: DashScopeStandIn) -> None:
    """A 48 kHz Chinese voice and a 16 kHz English one: the stand-in's audio, at each model's native rate."""
    for voice, text, rate in [
        ("sambert-zhichu", "今天天气很好，我们去公园散步吧。", 48000),
        ("sambert-beth", "The birch canoe slid on the smooth planks.", 16000),
    ]:
        response = speak(gateway, text, voice)
        assert response.status_code == 200, response.text
        assert (response.headers["X-Voxgate-Engine"], response.headers["X-Voxgate-Degraded"]) == (
            "sambert",
            "false",
        )
        assert server.tasks[-1]["payload"]["parameters"]["sample_rate"] == rate
        audio, answered_rate = wav_of(response)
        assert answered_rate == rate
        assert 0.5 < len(audio) / rate < 8.0
        assert 0.01 < float(np.sqrt(np.mean(audio**2))) < 0.9


def test_refused_text_is_a_4xx_naming_text_without_blame(gateway: str, server: DashScopeStandIn) -> None:
    """task-failed InvalidParameter: 422 JSON naming text, no fallback, the breaker not blamed."""
    server.mode = "invalid"
    for word in ("first", "second"):
        response = speak(gateway, f"The {word} refused sentence.")
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert (error["param"], error["field"]) == ("text", "text")
        assert "refused" in error["message"]
    assert sla(gateway)["breakers"]["sambert"]["failure_rate"] == 0


def test_throttling_and_busy_fall_back_to_espeak(gateway: str, server: DashScopeStandIn) -> None:
    """task-failed Throttling and a 429 handshake: espeak answers (sambert:error); the breaker counts them."""
    for mode, text in [("throttle", "Too many at once."), ("busy", "Still too many at once.")]:
        server.mode = mode
        response = speak(gateway, text)
        assert response.status_code == 200, response.text
        assert response.headers["X-Voxgate-Engine"] == "espeak"
        assert response.headers["X-Voxgate-Fallback-Reason"] == "sambert:error"
    assert sla(gateway)["breakers"]["sambert"]["failure_rate"] > 0


def test_dropped_connection_falls_back(gateway: str, server: DashScopeStandIn) -> None:
    """The connection cut after one audio frame, no final event: espeak answers, not half a sentence."""
    server.mode = "drop"
    response = speak(gateway, "The line went dead halfway through.")
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "sambert:error"


def test_hang_keeps_the_deadline_and_closes_the_task(gateway: str, server: DashScopeStandIn) -> None:
    """A task that never answers: espeak answers within the 3 s deadline; the stand-in sees it closed."""
    server.mode = "hang"
    abandoned = server.abandoned
    started = time.monotonic()
    response = speak(gateway, "Hold the line.", deadline_ms=3000)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text  # a missed deadline would be a 503
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "sambert:timeout"
    assert elapsed < 12  # generous: the noisy machine; the deadline itself is enforced by the 200
    assert wait_for(lambda: server.abandoned == abandoned + 1)


def test_cancellation_closes_the_websocket(gateway: str, server: DashScopeStandIn) -> None:
    """A client that leaves the gateway cancels the call: the stand-in sees the WebSocket closed at once."""
    server.mode = "hang"
    abandoned = server.abandoned
    body = {"text": "Wait here a while.", "voice": "sambert-beth", "format": "wav", "deadline_ms": 30_000}
    with pytest.raises(httpx.ReadTimeout):  # the client leaves while the stand-in holds the task
        httpx.post(f"{gateway}/api/v1/tts", json=body, timeout=httpx.Timeout(10, read=1.5))
    assert wait_for(lambda: server.abandoned == abandoned + 1, 8)  # well before the 30 s deadline
    server.mode = "ok"
    assert speak(gateway, "The line is free again.").headers["X-Voxgate-Engine"] == "sambert"


def test_wrong_key_is_unavailable_never_logged_and_recovers(
    gateway: str, server: DashScopeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """Handshake 401: espeak answers at once, the remote is not ready until the key is accepted again;
    the key is in no log record, no error and no listing."""
    caplog.set_level(logging.DEBUG)
    server.key = "sk-another-key"
    response = speak(gateway, "A key the service refuses.")
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "sambert:not_ready"
    assert wait_for(lambda: sla(gateway)["engines"]["sambert"]["ready"] is False)
    server.key = KEY
    assert wait_for(lambda: sla(gateway)["engines"]["sambert"]["ready"] is True)
    assert speak(gateway, "The key is accepted again.").headers["X-Voxgate-Engine"] == "sambert"
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.__dict__)
    for path in ("/api/v1/voices", "/api/v1/sla", "/metrics"):
        assert KEY not in httpx.get(f"{gateway}{path}", timeout=10).text


def test_key_refused_in_a_task_is_rechecked_by_synthesis(gateway: str, server: DashScopeStandIn) -> None:
    """task-failed InvalidApiKey (no handshake tells): not ready; probes speak a character till one works."""
    server.mode = "key_refused"
    response = speak(gateway, "The account is in arrears.")
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "sambert:not_ready"
    assert wait_for(lambda: any(t["payload"]["input"]["text"] == PROBE_TEXTS["zh"] for t in server.tasks))
    assert sla(gateway)["engines"]["sambert"]["ready"] is False
    server.mode = "ok"
    assert wait_for(lambda: sla(gateway)["engines"]["sambert"]["ready"] is True)
    assert speak(gateway, "The account is paid up.").headers["X-Voxgate-Engine"] == "sambert"


def test_voices_come_from_the_catalogue(gateway: str, server: DashScopeStandIn) -> None:
    """The default voices, each with its model's languages, gender and native rate, chain sambert → espeak."""
    voices = {v["id"]: v for v in httpx.get(f"{gateway}/api/v1/voices", timeout=10).json()["voices"]}
    zhichu, beth = voices["sambert-zhichu"], voices["sambert-beth"]
    assert (zhichu["languages"], zhichu["sample_rate"], zhichu["gender"]) == (["zh", "en"], 48000, "male")
    assert (beth["languages"], beth["sample_rate"], beth["gender"]) == (["en"], 16000, "female")
    assert zhichu["fallback_chain"] == {"zh": ["sambert", "espeak"], "en": ["sambert", "espeak"]}
    assert {"sambert-zhiqi", "sambert-brian"} <= voices.keys()


def test_sdk_base_url_variable_and_default_key(
    stand_in: tuple[DashScopeStandIn, str], server: DashScopeStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table without url or key: the SDK's DASHSCOPE_WEBSOCKET_BASE_URL and DASHSCOPE_API_KEY apply."""
    monkeypatch.setenv("DASHSCOPE_WEBSOCKET_BASE_URL", stand_in[1])
    monkeypatch.setenv("DASHSCOPE_API_KEY", KEY)
    table = {"kind": "dashscope", "voices": {"ds-camila": "sambert-camila-v1"}}
    settings = Settings.load(remotes={"ds": table})
    assert settings.remotes["ds"].url == stand_in[1]
    (remote,) = build_remotes(settings)
    assert isinstance(remote, DashScopeRemote)
    assert KEY not in repr(remote)
    assert KEY not in repr(settings)

    async def scenario() -> None:
        try:
            assert await remote.probe()
            chunks = await remote.synthesize("Hola a todos.", "ds-camila", SynthesisOptions(speed=0.25), 20.0)
            assert chunks[0].sample_rate == 16000
            assert chunks[0].audio.size > 1600
        finally:
            await remote.aclose()

    asyncio.run(scenario())
    assert server.tasks[-1]["payload"]["model"] == "sambert-camila-v1"
    assert server.tasks[-1]["payload"]["parameters"]["rate"] == 0.5  # speed clamped to Sambert's range
    assert server.authorizations[-1] == f"Bearer {KEY}"


def test_same_run_task_as_speech_synthesizer_call(
    stand_in: tuple[DashScopeStandIn, str], server: DashScopeStandIn
) -> None:
    """The remote's run-task equals the one the SDK's own SpeechSynthesizer.call sends for that request."""
    from dashscope.audio.tts import SpeechSynthesizer

    url = stand_in[1]
    table = {"kind": "dashscope", "url": url, "api_key": KEY, "voices": {"ds-zhiqi": "sambert-zhiqi-v1"}}
    (remote,) = build_remotes(Settings.load(remotes={"ds": table}))
    text = "同样的请求，同样的消息。"

    async def scenario() -> None:
        try:
            await remote.synthesize(text, "ds-zhiqi", SynthesisOptions(speed=1.25), 20.0)
        finally:
            await remote.aclose()

    asyncio.run(scenario())
    ours = server.tasks[-1]
    result = SpeechSynthesizer.call(
        model="sambert-zhiqi-v1",
        text=text,
        format="wav",
        sample_rate=48000,
        rate=1.25,
        pitch=1.0,
        volume=50,
        api_key=KEY,
        base_address=url,
    )
    assert result.get_response().status_code == 200
    assert result.get_audio_data()[:4] == b"RIFF"
    theirs = server.tasks[-1]
    assert ours["payload"] == theirs["payload"]
    assert {k: v for k, v in ours["header"].items() if k != "task_id"} == {
        k: v for k, v in theirs["header"].items() if k != "task_id"
    }


def test_unreachable_endpoint_is_unavailable(tmp_path: Path) -> None:
    """Nothing listening: the probe says down, a call is EngineUnavailable."""
    from voxgate.testing import free_port

    url = f"ws://127.0.0.1:{free_port()}/api-ws/v1/inference"
    table = {"kind": "dashscope", "url": url, "api_key": KEY}
    (remote,) = build_remotes(Settings.load(remotes={"ds": table}))

    async def scenario() -> None:
        try:
            assert not await remote.probe()
            with pytest.raises(EngineUnavailable):
                await remote.synthesize("Anyone there?", "sambert-beth", SynthesisOptions(), 5.0)
        finally:
            await remote.aclose()

    asyncio.run(scenario())


def test_kind_defaults_and_bad_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults (endpoint, zh+en, four voices); an http:// url, an unknown model, no key: refused by field."""
    monkeypatch.delenv("DASHSCOPE_WEBSOCKET_BASE_URL", raising=False)
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    remote = Settings.load(remotes={"ds": {"kind": "dashscope"}}).remotes["ds"]
    assert remote.url == "wss://dashscope.aliyuncs.com/api-ws/v1/inference"
    assert remote.languages == ["zh", "en"]
    assert set(remote.voices.values()) <= SAMBERT_MODELS.keys()
    monkeypatch.setenv("VOXGATE_REMOTES__SAMBERT__KIND", "dashscope")
    assert Settings.load().remotes["sambert"].voices == remote.voices  # the same by env vars
    monkeypatch.delenv("VOXGATE_REMOTES__SAMBERT__KIND")
    with pytest.raises(pydantic.ValidationError, match="ws:// or wss://"):
        Settings.load(remotes={"ds": {"kind": "dashscope", "url": "https://dashscope.aliyuncs.com/api/v1"}})
    with pytest.raises(ValueError, match="DASHSCOPE_API_KEY"):
        build_remotes(Settings.load(remotes={"ds": {"kind": "dashscope"}}))
    typo = {"kind": "dashscope", "api_key": KEY, "voices": {"ds-x": "sambert-zhichu-v2"}}
    with pytest.raises(ValueError, match=r"remotes\.ds\.voices\.ds-x: 'sambert-zhichu-v2' is not a Sambert"):
        build_remotes(Settings.load(remotes={"ds": typo}))


def test_catalogue_matches_the_model_list() -> None:
    """43 models: nine 48 kHz zh+en, the rest 16 kHz; the one-language voices read es/it/id/fr/de/en/th."""
    assert len(SAMBERT_MODELS) == 43
    assert sum(m.sample_rate == 48000 for m in SAMBERT_MODELS.values()) == 9
    assert all(m.sample_rate == 48000 or m.sample_rate == 16000 for m in SAMBERT_MODELS.values())
    singles = {m.languages[0] for m in SAMBERT_MODELS.values() if len(m.languages) == 1}
    assert singles == {"es", "it", "id", "fr", "de", "en", "th"}


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (44, "InvalidParameter", "[tts:]Engine return error code: 418", InvalidInput),
        (44, "DataInspectionFailed", "Input data may contain inappropriate content.", InvalidInput),
        (44, "InvalidApiKey", "Invalid API-key provided.", EngineUnavailable),
        (44, "Arrearage", "Access denied, make sure your account is in good standing.", EngineUnavailable),
        (44, "Throttling.RateQuota", "Requests rate limit exceeded.", EngineError),
        (44, "InternalError", "Traceback (most recent call last): secret internals", EngineError),
        (401, 401, "Unauthorized, your api-key is invalid!", EngineUnavailable),
        (403, 403, "Unauthorized, your api-key is invalid!", EngineUnavailable),
        (429, 429, "Too Many Requests", EngineError),
        (503, 503, "Service temporarily unavailable", EngineError),
        (-1, "ClientConnectorError", "Cannot connect to host", EngineUnavailable),
        (-1, "Unknown", "Error type: <class 'TimeoutError'>, message: ", EngineTimeout),
        (-1, "Unknown", "Error type: <class 'UnexpectedMessageReceived'>, message: closed", EngineError),
    ],
)
def test_failure_mapping(status: int, code: object, message: str, expected: type[Exception]) -> None:
    """DashScope's codes and statuses map onto voxgate's errors; the key and tracebacks are never quoted."""
    error = refusal("sambert", status, code, f"{message} {KEY}", KEY, 3.0)
    assert type(error) is expected
    assert KEY not in str(error)
    assert "Traceback" not in str(error) or isinstance(error, InvalidInput)
    if isinstance(error, InvalidInput):
        assert error.field == "text"


LIVE_KEY = os.environ.get("DASHSCOPE_API_KEY")


@pytest.mark.skipif(
    not LIVE_KEY,
    reason="live DashScope test: set DASHSCOPE_API_KEY (a Model Studio key for the Beijing region; "
    "it bills a few dozen characters)",
)
def test_live_dashscope_sambert() -> None:
    """Opt-in: DashScope answers the probe and speaks Chinese (48 kHz) and English (16 kHz) via the SDK."""
    settings = Settings.load(remotes={"sambert": {"kind": "dashscope"}})
    (remote,) = build_remotes(settings)

    async def scenario() -> None:
        try:
            assert await remote.probe()
            for voice, text, rate in [
                ("sambert-zhichu", "今天天气很好，我们去公园散步吧。", 48000),
                ("sambert-beth", "The weather is lovely today.", 16000),
            ]:
                chunks = await remote.synthesize(text, voice, SynthesisOptions(speed=1.2), 30.0)
                assert chunks[0].sample_rate == rate
                assert 0.5 < chunks[0].duration < 15.0
                assert float(np.sqrt(np.mean(chunks[0].audio ** 2))) > 0.01
        finally:
            await remote.aclose()

    asyncio.run(scenario())
