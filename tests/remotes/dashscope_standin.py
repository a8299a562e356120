"""A stand-in for Alibaba DashScope's Sambert WebSocket service, for the ``dashscope`` remote's tests.

DashScope is not reachable from here, so the tests point the real ``dashscope`` SDK at this
server (through the remote's ``url``, passed as the SDK's ``base_address``, or through the SDK's
own ``DASHSCOPE_WEBSOCKET_BASE_URL``). It speaks the protocol the SDK's
``SpeechSynthesizer.call`` speaks (``dashscope/api_entities/websocket_request.py``, streaming
mode ``out``) as DashScope documents it for Sambert:

1. the client connects with ``Authorization: Bearer <key>``; a wrong key is refused at the
   handshake (401), as DashScope's gateway does;
2. the client sends one text frame, ``{"header": {"action": "run-task", "task_id", "streaming":
   "out"}, "payload": {"model", "task_group": "audio", "task": "tts", "function":
   "SpeechSynthesizer", "input": {"text"}, "parameters": {"format", "sample_rate", "rate",
   "pitch", "volume", ...}}}``;
3. the server answers ``task-started``, then the audio as binary frames with a
   ``result-generated`` event carrying the sentence's timing (``output.sentence``), then
   ``task-finished`` (``output`` null, ``usage.characters``: the form for which the SDK reports a
   final 200 response) — or ``task-failed`` with ``error_code`` and ``error_message`` in its
   header.

Its audio is real espeak-ng speech at the requested ``sample_rate`` (resampled from espeak's
22.05 kHz), as a WAV or raw 16-bit PCM per ``format``, made in a process of its own
(libespeak-ng is one global state per process). It records every ``run-task`` it was sent and the
``Authorization`` header of every connection, and counts handshakes that started no task (health
probes) and tasks whose client closed the connection before the answer (abandoned).

Fault modes (``mode``), the fault injection: ``"ok"``; ``"invalid"`` (task-failed
``InvalidParameter``); ``"throttle"`` (task-failed ``Throttling.RateQuota``); ``"key_refused"``
(task-failed ``InvalidApiKey``); ``"busy"`` (handshake refused with 429); ``"hang"`` (task
started, then nothing until the client leaves or the mode changes); ``"drop"`` (one audio frame,
then the connection is cut without a final event).
"""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import threading
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
from aiohttp import WSMsgType, web

from voxgate.audio.resample import resample
from voxgate.engines.espeak import EspeakEngine
from voxgate.testing import free_port
from voxgate.types import SynthesisOptions

Mode = Literal["ok", "invalid", "throttle", "key_refused", "busy", "hang", "drop"]
FRAME_BYTES = 8192
"""Audio bytes per binary frame (DashScope streams the audio in many small frames)."""
RATES = frozenset({8000, 16000, 22050, 24000, 44100, 48000})
"""Sample rates Sambert accepts."""


def espeak_audio(text: str, sample_rate: int, fmt: str) -> bytes:
    """``text`` spoken by espeak-ng at ``sample_rate`` as a 16-bit WAV or raw PCM (in the speaker process)."""
    voice = "espeak-cmn" if any("\u4e00" <= c <= "\u9fff" for c in text) else "espeak-en-us"
    language = "zh" if voice == "espeak-cmn" else "en"
    chunks = list(EspeakEngine().synthesize(text, voice, SynthesisOptions(language=language)))
    audio = resample(np.concatenate([c.audio for c in chunks]), chunks[0].sample_rate, sample_rate)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    if fmt == "pcm":
        return pcm
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
    return buffer.getvalue()


class DashScopeStandIn:
    """The stand-in server's state and handler (see the module docstring).

    Args:
        speaker: the process that runs espeak.
        key: the key it accepts.
    """

    def __init__(self, speaker: ProcessPoolExecutor, key: str) -> None:
        self._speaker = speaker
        self.key = key
        self.mode: Mode = "ok"
        self.tasks: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.probes = 0
        self.abandoned = 0
        self._lock = threading.Lock()
        self.app = web.Application()
        self.app.router.add_get("/api-ws/v1/inference", self._inference)

    def reset(self) -> None:
        """Back to answering with audio for the key it was made with."""
        self.mode = "ok"

    async def _inference(self, request: web.Request) -> web.StreamResponse:
        authorization = request.headers.get("Authorization", "")
        with self._lock:
            self.authorizations.append(authorization)
        if authorization != f"Bearer {self.key}":
            refused = {"code": "InvalidApiKey", "message": "Invalid API-key provided."}
            return web.json_response(refused, status=401)
        if self.mode == "busy":
            busy = {"code": "Throttling", "message": "Requests throttling triggered."}
            return web.json_response(busy, status=429)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        message = await ws.receive(timeout=30)
        if message.type != WSMsgType.TEXT:  # a health probe: connected, then closed
            with self._lock:
                self.probes += 1
            await ws.close()
            return ws
        task = json.loads(message.data)
        with self._lock:
            self.tasks.append(task)
        task_id = task["header"]["task_id"]
        if task["header"].get("action") != "run-task":
            await _failed(ws, task_id, "InvalidParameter", "Invalid action! Please follow the protocol!")
            return ws
        await _event(ws, task_id, "task-started", {})
        await self._answer(ws, request, task_id, task["payload"])
        return ws

    async def _answer(
        self, ws: web.WebSocketResponse, request: web.Request, task_id: str, payload: Any
    ) -> None:
        failures = {
            "invalid": ("InvalidParameter", "[tts:]Engine return error code: 418"),
            "throttle": ("Throttling.RateQuota", "Requests rate limit exceeded, please try again later."),
            "key_refused": ("InvalidApiKey", "Invalid API-key provided."),
        }
        if self.mode in failures:
            await _failed(ws, task_id, *failures[self.mode])
            return
        if self.mode == "hang":
            await self._hold(ws)
            return
        text = payload["input"]["text"]
        parameters = payload.get("parameters", {})
        rate, fmt = parameters.get("sample_rate", 16000), parameters.get("format", "wav")
        if not text.strip() or rate not in RATES or fmt not in ("wav", "pcm"):
            await _failed(ws, task_id, "InvalidParameter", "[tts:]Engine return error code: 418")
            return
        loop = asyncio.get_running_loop()
        audio = await loop.run_in_executor(self._speaker, espeak_audio, text, rate, fmt)
        if self.mode == "drop":
            await ws.send_bytes(audio[:FRAME_BYTES])
            assert request.transport is not None
            request.transport.abort()  # cut: no close frame, no final event
            return
        for start in range(0, len(audio), FRAME_BYTES):
            await ws.send_bytes(audio[start : start + FRAME_BYTES])
        samples = (len(audio) - (0 if fmt == "pcm" else 44)) // 2
        end_ms = round(1000 * samples / rate)
        sentence = {"begin_time": 0, "end_time": end_ms, "words": []}
        await _event(ws, task_id, "result-generated", {"output": {"sentence": sentence}})
        await _event(ws, task_id, "task-finished", {"output": None, "usage": {"characters": len(text)}})
        await ws.close()

    async def _hold(self, ws: web.WebSocketResponse) -> None:
        """Answer nothing until the client closes the connection (then count it); give up and
        close it when ``mode`` is no longer ``"hang"``, or after 60 s."""
        give_up = time.monotonic() + 60
        while time.monotonic() < give_up and self.mode == "hang":
            try:
                message = await ws.receive(timeout=0.5)
            except TimeoutError:
                continue
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                with self._lock:
                    self.abandoned += 1
                return
        await ws.close()


async def _event(ws: web.WebSocketResponse, task_id: str, event: str, payload: Any) -> None:
    header = {"task_id": task_id, "event": event, "attributes": {}}
    await ws.send_str(json.dumps({"header": header, "payload": payload}))


async def _failed(ws: web.WebSocketResponse, task_id: str, code: str, message: str) -> None:
    header = {"task_id": task_id, "event": "task-failed", "error_code": code, "error_message": message}
    await ws.send_str(json.dumps({"header": {**header, "attributes": {}}, "payload": {}}))
    await ws.close()


@contextmanager
def serve_stand_in(key: str) -> Iterator[tuple[DashScopeStandIn, str]]:
    """The stand-in on loopback in a thread of its own, with its espeak process.

    Yields:
        The stand-in and its WebSocket inference URL (``ws://127.0.0.1:PORT/api-ws/v1/inference``).
    """
    speaker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    stand_in = DashScopeStandIn(speaker, key)
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(stand_in.app, access_log=None)
    started = threading.Event()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=run, name="dashscope-stand-in", daemon=True)
    thread.start()
    assert started.wait(30), "the DashScope stand-in did not start"
    speaker.submit(espeak_audio, "warm up", 16000, "pcm").result(timeout=60)  # spawn + load espeak
    try:
        yield stand_in, f"ws://127.0.0.1:{port}/api-ws/v1/inference"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
        speaker.shutdown(cancel_futures=True)
