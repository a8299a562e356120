"""The ``indextts2`` remote kind against a stand-in IndexTTS-2 server, behind a real voxgate.

The stand-in is a real HTTP server on loopback (Starlette under uvicorn, in a thread) that speaks
index-tts-vllm's ``api_server_v2`` protocol and answers with real espeak audio; voxgate runs with
real espeak worker subprocesses. The stand-in's fault modes (500 with a traceback, hang, 503 on
``/health``) are the fault injection, named as such.
"""

from __future__ import annotations

import asyncio
import io
import logging
import multiprocessing
import os
import threading
import time
import traceback
import wave
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from voxgate.emotion import parse_emotion
from voxgate.engines.espeak import EspeakEngine
from voxgate.remotes.backend import build_remotes
from voxgate.remotes.indextts2 import IndexTTS2Remote
from voxgate.settings import Settings
from voxgate.testing import free_port, serve_in_thread
from voxgate.types import SynthesisOptions

SPEAKER = "/srv/index-tts/examples/voice_01.wav"
SECRET_FRAME = "indextts/infer_vllm_v2.py-secret-frame"
"""A line of the stand-in's traceback that must never reach a client or a log."""


class IndexTTS2StandIn:
    """A stand-in for index-tts-vllm's ``api_server_v2`` (IndexTTS-2) that speaks exactly its
    documented protocol: ``GET /health`` (200 ``healthy`` / 503 ``unhealthy``), ``POST /tts_url``
    reading the same JSON fields with the same defaults, answering a whole 22.05 kHz
    ``audio/wav``, or HTTP 500 with a JSON body carrying a Python traceback.

    Its audio is real espeak-ng speech (the speaker path is recorded, not used), made in a process
    of its own: libespeak-ng is one global state per process, and the gateway in this process
    loads it too. It records every ``/tts_url`` body it was sent and every request whose client
    closed the connection early.

    Fault modes (``mode``): ``"ok"``; ``"fail"`` answers 500 with a traceback; ``"hang"`` never
    answers (until its client leaves). ``healthy = False`` makes ``/health`` answer 503.
    """

    def __init__(self, speaker: ProcessPoolExecutor) -> None:
        self._speaker = speaker
        self.bodies: list[dict[str, Any]] = []
        self.mode: Literal["ok", "fail", "hang"] = "ok"
        self.healthy = True
        self.abandoned = 0
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[Route("/health", self._health), Route("/tts_url", self._tts_url, methods=["POST"])]
        )

    async def _health(self, _request: Request) -> Response:
        if not self.healthy:
            body = {"status": "unhealthy", "message": "TTS model not initialized"}
            return JSONResponse(body, status_code=503)
        return JSONResponse({"status": "healthy", "message": "Service is running", "timestamp": time.time()})

    async def _tts_url(self, request: Request) -> Response:
        try:
            data = await request.json()
            with self._lock:
                self.bodies.append(data)
            text, speaker = data["text"], data["spk_audio_path"]
            method = data.get("emo_control_method", 0)
            vector = data.get("emo_vec", [0] * 8)
            if method == 2 and sum(vector) > 1.5:
                return JSONResponse(
                    {"status": "error", "error": "情感向量之和不能超过1.5，请调整后重试。"}, 500
                )
            if self.mode == "fail":
                raise RuntimeError(f"CUDA out of memory while speaking for {speaker} in {SECRET_FRAME}")
            if self.mode == "hang":
                await self._hold(request)
            wav = await asyncio.wrap_future(self._speaker.submit(espeak_wav, text))
            return Response(wav, media_type="audio/wav")
        except Exception as exc:
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            return JSONResponse({"status": "error", "error": trace}, status_code=500)

    async def _hold(self, request: Request) -> None:
        """Answer nothing until the client closes the connection (then count it), 60 s at most."""
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up:
            if await request.is_disconnected():
                with self._lock:
                    self.abandoned += 1
                break
            await asyncio.sleep(0.05)
        raise RuntimeError("held request ended")


def espeak_wav(text: str) -> bytes:
    """``text`` spoken by espeak-ng as a 22.05 kHz 16-bit WAV (runs in the stand-in's speaker process)."""
    chunks = list(EspeakEngine().synthesize(text, "espeak-en-us", SynthesisOptions(language="en")))
    assert chunks[0].sample_rate == 22050
    audio = np.concatenate([c.audio for c in chunks])
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[tuple[IndexTTS2StandIn, str]]:
    """The stand-in, served on loopback, with its espeak process."""
    speaker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    server_app = IndexTTS2StandIn(speaker)
    port = free_port()
    config = uvicorn.Config(server_app.app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="indextts2-stand-in", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    try:
        yield server_app, url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        speaker.shutdown(cancel_futures=True)


@pytest.fixture
def server(stand_in: tuple[IndexTTS2StandIn, str]) -> Iterator[IndexTTS2StandIn]:
    """The stand-in, healthy and answering; put back that way after each test."""
    app, _url = stand_in
    app.mode, app.healthy = "ok", True
    yield app
    app.mode, app.healthy = "ok", True


def gateway_settings(data_dir: Path, url: str) -> Settings:
    """espeak locally (1 worker), the stand-in as remote ``itts``; a quick health probe, a lax breaker."""
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={
            "fallbacks": {"*": ["espeak"]},
            "limits": {"default": "100000/minute"},
            "breaker": {"window_size": 50, "minimum_calls": 50},  # failures here must not open it
        },
        remotes={
            "itts": {
                "kind": "indextts2",
                "url": url,
                "languages": ["en"],
                "voices": {"itts-en": SPEAKER},
                "health_interval_s": 0.2,
                "max_text_tokens_per_sentence": 80,
            }
        },
    )


@pytest.fixture(scope="module")
def gateway(
    stand_in: tuple[IndexTTS2StandIn, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real voxgate with the stand-in as its remote engine ``itts``."""
    with serve_in_thread(gateway_settings(tmp_path_factory.mktemp("gw"), stand_in[1])) as url:
        yield url


def speak(base: str, text: str, voice: str = "itts-en", **fields: Any) -> httpx.Response:
    """POST the gateway's native API for WAV (each test speaks its own texts: answers are cached)."""
    body = {"text": text, "voice": voice, "format": "wav", **fields}
    return httpx.post(f"{base}/api/v1/tts", json=body, timeout=30)


def wait_for(condition: Any, seconds: float = 10) -> bool:
    give_up = time.monotonic() + seconds
    while not condition() and time.monotonic() < give_up:
        time.sleep(0.05)
    return bool(condition())


def test_request_mapping_without_and_with_emotion(gateway: str, server: IndexTTS2StandIn) -> None:
    """The exact JSON sent: method 0 without emotion, 2 with emo_vec (IndexTTS-2's order), 3 with emo_text."""
    expected_base = {"spk_audio_path": SPEAKER, "max_text_tokens_per_sentence": 80}
    cases: list[tuple[object, dict[str, Any]]] = [
        (None, {"emo_control_method": 0}),
        (
            {"angry": 0.25, "happy": 0.1, "calm": 0.3},
            {"emo_control_method": 2, "emo_vec": [0.1, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3]},
        ),
        ("quietly furious", {"emo_control_method": 3, "emo_text": "quietly furious"}),
    ]
    for word, (emotion, fields) in zip(["plain", "weighted", "described"], cases, strict=True):
        text = f"The {word} mapping case is read aloud."
        extra = {} if emotion is None else {"emotion": emotion}
        response = speak(gateway, text, **extra)
        assert response.status_code == 200, response.text
        assert response.headers["X-Voxgate-Engine"] == "itts"
        assert "X-Voxgate-Ignored" not in response.headers  # IndexTTS-2 acts on emotion
        assert server.bodies[-1] == {"text": text, **expected_base, **fields}


def test_streamed_segments_each_carry_the_emotion(gateway: str, server: IndexTTS2StandIn) -> None:
    """A streamed two-sentence request: a /tts_url call per segment, each with the emotion text."""
    sent = len(server.bodies)
    body = {
        "text": "The first line is calm. The second line is too.",
        "voice": "itts-en",
        "format": "mp3",
        "stream": True,
        "emotion": "serene",
    }
    with httpx.stream("POST", f"{gateway}/api/v1/tts", json=body, timeout=30) as response:
        data = response.read()
    assert response.status_code == 200, data[:200]
    assert response.headers["X-Voxgate-Engine"] == "itts"
    assert len(data) > 2000
    calls = server.bodies[sent:]
    assert len(calls) >= 2  # per sentence (the first cut shorter still: a slow primary's quick start)
    assert " ".join(c["text"] for c in calls) == body["text"]
    assert all((c["emo_control_method"], c["emo_text"]) == (3, "serene") for c in calls)


def test_openai_instructions_reach_indextts2_as_its_emotion_vector(
    gateway: str, server: IndexTTS2StandIn
) -> None:
    """OpenAI instructions "Speak slowly and cheerfully." send happy 0.6 as emo_vec; IndexTTS-2 has no
    speed, so the slower rate is listed as ignored (and nothing else is)."""
    body = {
        "model": "voxgate",
        "voice": "itts-en",
        "input": "Instructions become an emotion vector.",
        "instructions": "Speak slowly and cheerfully.",
        "response_format": "wav",
    }
    response = httpx.post(f"{gateway}/v1/audio/speech", json=body, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "itts", response.headers["X-Voxgate-Fallback-Reason"]
    assert response.headers["X-Voxgate-Ignored"] == "speed"
    sent = server.bodies[-1]
    assert (sent["emo_control_method"], sent["emo_vec"]) == (2, [0.6, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])


def test_remote_audio_is_used(gateway: str, server: IndexTTS2StandIn) -> None:
    """The stand-in's 22.05 kHz speech is the answer: named engine, not degraded, sane length and level."""
    response = speak(gateway, "The birch canoe slid on the smooth planks.")
    assert response.status_code == 200, response.text
    assert (response.headers["X-Voxgate-Engine"], response.headers["X-Voxgate-Degraded"]) == ("itts", "false")
    with wave.open(io.BytesIO(response.content)) as wav:
        rate = wav.getframerate()
        audio = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
    assert rate == 22050
    assert 1.0 < len(audio) / rate < 6.0
    assert 0.01 < float(np.sqrt(np.mean(audio**2))) < 0.9


def test_speed_is_ignored_and_said(gateway: str, server: IndexTTS2StandIn) -> None:
    """IndexTTS-2 has no speed field: nothing is sent for it, and the answer lists speed as ignored."""
    response = speak(gateway, "A speed the server cannot honour.", speed=1.5)
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "itts", response.headers["X-Voxgate-Fallback-Reason"]
    assert response.headers["X-Voxgate-Ignored"] == "speed"
    assert "speed" not in server.bodies[-1]


def test_cache_key_includes_emotion(gateway: str, server: IndexTTS2StandIn) -> None:
    """The same text with another emotion is synthesised again; the same emotion is a cache hit."""
    text = "The same words in two moods."
    sent = len(server.bodies)
    first = speak(gateway, text, emotion={"sad": 0.5})
    other = speak(gateway, text, emotion={"happy": 0.5})
    again = speak(gateway, text, emotion={"sad": 0.5})
    assert [r.headers["X-Voxgate-Cache"] for r in (first, other, again)] == ["miss", "miss", "hit"]
    assert len(server.bodies) == sent + 2


def test_server_error_falls_back_without_its_traceback(
    gateway: str, server: IndexTTS2StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """A 500 with a traceback: espeak answers (emotion listed as ignored); the traceback goes nowhere."""
    caplog.set_level(logging.DEBUG)
    server.mode = "fail"
    response = speak(gateway, "These days a chicken leg is a rare dish.", emotion={"happy": 0.4})
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "itts:error"
    assert response.headers["X-Voxgate-Ignored"] == "emotion"
    assert server.bodies[-1]["emo_control_method"] == 2  # it did reach the server
    assert SECRET_FRAME not in response.text
    sla = httpx.get(f"{gateway}/api/v1/sla", timeout=10)
    assert SECRET_FRAME not in sla.text
    assert sla.json()["breakers"]["itts"]["failure_rate"] > 0  # the remote's failure, on its breaker
    for record in caplog.records:
        assert SECRET_FRAME not in record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert SECRET_FRAME not in repr(record.__dict__)


def test_hang_keeps_the_deadline_and_falls_back(gateway: str, server: IndexTTS2StandIn) -> None:
    """A server that never answers: espeak answers within the 5 s deadline; the stand-in sees it closed."""
    server.mode = "hang"
    abandoned = server.abandoned
    started = time.monotonic()
    response = speak(gateway, "Hold the line.", deadline_ms=5000)  # room for the prior (2.6 s) on a busy box
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text  # a missed deadline would be a 503
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "itts:timeout"
    assert elapsed < 12  # generous: the noisy machine; the deadline itself is enforced by the 200
    assert wait_for(lambda: server.abandoned == abandoned + 1)


def test_cancellation_closes_the_remote_connection(gateway: str, server: IndexTTS2StandIn) -> None:
    """A client that leaves the gateway cancels the call: the stand-in sees its connection closed."""
    server.mode = "hang"
    abandoned = server.abandoned
    body = {"text": "Wait here a while.", "voice": "itts-en", "format": "wav", "deadline_ms": 30_000}
    with pytest.raises(httpx.ReadTimeout):  # the client leaves while the stand-in holds the request
        httpx.post(f"{gateway}/api/v1/tts", json=body, timeout=httpx.Timeout(10, read=1.5))
    assert wait_for(lambda: server.abandoned == abandoned + 1, 8)  # well before the 30 s deadline


def test_unhealthy_server_is_skipped_at_once(gateway: str, server: IndexTTS2StandIn) -> None:
    """/health 503: the next request goes to espeak as itts:not_ready without a call; 200 again: used."""
    server.healthy = False
    sent = len(server.bodies)
    assert wait_for(
        lambda: httpx.get(f"{gateway}/api/v1/sla", timeout=10).json()["engines"]["itts"]["ready"] is False
    )
    response = speak(gateway, "The ship was torn apart on the sharp reef.")
    assert response.headers["X-Voxgate-Engine"] == "espeak"
    assert response.headers["X-Voxgate-Fallback-Reason"] == "itts:not_ready"
    assert len(server.bodies) == sent
    server.healthy = True
    assert wait_for(
        lambda: httpx.get(f"{gateway}/api/v1/sla", timeout=10).json()["engines"]["itts"]["ready"] is True
    )
    assert speak(gateway, "Rice is often served in round bowls.").headers["X-Voxgate-Engine"] == "itts"


def test_prior_skips_it_for_interactive_requests_it_cannot_finish(
    stand_in: tuple[IndexTTS2StandIn, str], server: IndexTTS2StandIn, tmp_path: Path
) -> None:
    """Unmeasured (a fresh gateway), a long interactive request (3 s) is not sent: too_slow, espeak speaks."""
    sent = len(server.bodies)
    text = "The small pup gnawed a hole in the sock, and then it ran away across the yard."
    with serve_in_thread(gateway_settings(tmp_path, stand_in[1])) as fresh:
        response = speak(fresh, text, priority="interactive")
        assert response.status_code == 200, response.text
        assert response.headers["X-Voxgate-Engine"] == "espeak"
        assert response.headers["X-Voxgate-Fallback-Reason"] == "itts:too_slow"
        assert len(server.bodies) == sent
        relaxed = speak(fresh, text)  # an API request (10 s) has the time: it is sent
        assert relaxed.headers["X-Voxgate-Engine"] == "itts"


def test_voices_list_keeps_speaker_paths_private(gateway: str, server: IndexTTS2StandIn) -> None:
    """The remote voice is listed (22.05 kHz, chain itts → espeak) without its path on the server."""
    response = httpx.get(f"{gateway}/api/v1/voices", timeout=10)
    voices = {v["id"]: v for v in response.json()["voices"]}
    assert voices["itts-en"]["engine"] == "itts"
    assert voices["itts-en"]["sample_rate"] == 22050
    assert voices["itts-en"]["fallback_chain"] == {"en": ["itts", "espeak"]}
    assert SPEAKER not in response.text


def test_kind_defaults_and_overrides() -> None:
    """indextts2 tables get IndexTTS-2's defaults (22.05 kHz, a slow prior, 120 tokens); the table's win."""
    base = {
        "kind": "indextts2",
        "url": "http://gpu-box:6006/",
        "languages": ["zh"],
        "voices": {"a": "/a.wav"},
    }
    remote = Settings.load(remotes={"indextts": base}).remotes["indextts"]
    assert (remote.url, remote.sample_rate, remote.model) == ("http://gpu-box:6006", 22050, "IndexTTS-2")
    assert (remote.prior_per_char_s, remote.prior_overhead_s, remote.max_text_tokens_per_sentence) == (
        0.08,
        1.5,
        120,
    )
    mine = Settings.load(remotes={"indextts": {**base, "prior_overhead_s": 0.5, "sample_rate": 24000}})
    assert (mine.remotes["indextts"].prior_overhead_s, mine.remotes["indextts"].sample_rate) == (0.5, 24000)
    assert isinstance(build_remotes(mine)[0], IndexTTS2Remote)


LIVE_URL = os.environ.get("VOXGATE_TEST_INDEXTTS_URL")
LIVE_SPEAKER = os.environ.get("VOXGATE_TEST_INDEXTTS_SPEAKER")


@pytest.mark.skipif(
    not (LIVE_URL and LIVE_SPEAKER),
    reason="live IndexTTS-2 test: set VOXGATE_TEST_INDEXTTS_URL (an index-tts-vllm api_server_v2, e.g. "
    "http://gpu-box:6006) and VOXGATE_TEST_INDEXTTS_SPEAKER (a speaker reference path on that server)",
)
def test_live_indextts2_server() -> None:
    """Opt-in: a real index-tts-vllm server is healthy and speaks Chinese with and without an emotion."""
    assert LIVE_URL is not None
    assert LIVE_SPEAKER is not None
    settings = Settings.load(
        remotes={
            "indextts": {
                "kind": "indextts2",
                "url": LIVE_URL,
                "languages": ["zh"],
                "voices": {"it": LIVE_SPEAKER},
            }
        }
    ).remotes["indextts"]

    async def scenario() -> None:
        remote = IndexTTS2Remote("indextts", settings, None)
        try:
            assert await remote.probe()
            for emotion in (None, parse_emotion({"happy": 0.6}), parse_emotion("有点难过")):
                opts = SynthesisOptions(language="zh", emotion=emotion)
                chunks = await remote.synthesize("今天天气很好，我们去公园散步吧。", "it", opts, 120.0)
                audio = chunks[0].audio
                assert chunks[0].sample_rate in (22050, 24000)
                assert 1.0 < len(audio) / chunks[0].sample_rate < 15.0
                assert float(np.sqrt(np.mean(audio**2))) > 0.01
        finally:
            await remote.aclose()

    asyncio.run(scenario())
