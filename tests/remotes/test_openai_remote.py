"""A real voxgate (A, espeak only, keyed) as the ``openai`` remote of another real voxgate (B).

Both run uvicorn on loopback in threads, with real worker subprocesses; nothing is faked but the
hang of one poison input on A (``engines/chaos``), used to hold a request there while it is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from voxgate.clock import SystemClock
from voxgate.errors import EngineError, EngineTimeout, InvalidInput
from voxgate.remotes.backend import RemoteBackend, RemoteHealthChanged, build_remotes
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, free_port, serve_in_thread
from voxgate.types import SynthesisOptions

KEY = "gateway-key-0123456789-secret"
HOLD = "zqxholdzqx"
"""A word that makes A's espeak hang (chaos poison), so a request stays in flight there."""


def remote_settings(data_dir: Path) -> Settings:
    """A: espeak only (2 workers), one API key; a poison word hangs its worker (hang killed after 1 s)."""
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"enabled": False},
            "espeak": {
                "workers": 2,
                "hang_after_s": 1.0,
                "chaos": {"enabled": True, "poison_text": HOLD, "poison_effect": "hang"},
            },
        },
        qos={"fallbacks": {"*": ["espeak"]}, "limits": {"default": "100000/minute"}},
        server={"api_keys": {"gateway": {"key": KEY}}},
    )


def gateway_settings(data_dir: Path, remote_url: str) -> Settings:
    """B: espeak locally (1 worker) and A as remote ``a``; a quick breaker and health probe."""
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={
            "fallbacks": {"*": ["espeak"]},
            "limits": {"default": "100000/minute"},
            "breaker": {"window_size": 4, "minimum_calls": 2, "wait_duration_open_s": 1.0},
        },
        remotes={
            "a": {
                "kind": "openai",
                "url": f"{remote_url}/v1",
                "api_key": KEY,
                "model": "voxgate",
                "languages": ["en"],
                "max_concurrency": 2,
                "voices": {"a-us": "espeak-en-us", "a-nobody": "no-such-voice"},
                "health_interval_s": 0.2,
            }
        },
    )


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voxgate A."""
    with serve_in_thread(remote_settings(tmp_path_factory.mktemp("a"))) as url:
        yield url


@pytest.fixture(scope="module")
def gateway(remote: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Voxgate B, with A as its remote engine ``a``."""
    with serve_in_thread(gateway_settings(tmp_path_factory.mktemp("b"), remote)) as url:
        yield url


def speak(base: str, voice: str, text: str, **fields: Any) -> httpx.Response:
    """POST B's native API for WAV (each test speaks its own texts: B caches remote answers)."""
    body = {"text": text, "voice": voice, "format": "wav", **fields}
    return httpx.post(f"{base}/api/v1/tts", json=body, timeout=30)


def samples(response: httpx.Response) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    with wave.open(io.BytesIO(response.content)) as wav:
        raw = wav.readframes(wav.getnframes())
        return np.frombuffer(raw, "<i2").astype(np.float32) / 32768, wav.getframerate()


def sla(base: str, key: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data: dict[str, Any] = httpx.get(f"{base}/api/v1/sla", headers=headers, timeout=10).json()
    return data


def test_remote_voice_is_spoken_by_the_remote(gateway: str) -> None:
    """A remote voice's audio comes from the remote (Bearer key accepted), sane and at the voice's rate."""
    response = speak(gateway, "a-us", "The birch canoe slid on the smooth planks.")
    assert response.status_code == 200, response.text
    assert response.headers["X-Voxgate-Engine"] == "a"
    assert response.headers["X-Voxgate-Degraded"] == "false"
    audio, rate = samples(response)
    assert rate == 24000  # the remote voice's rate (A's espeak speaks 22050 Hz: resampled)
    assert 1.0 < len(audio) / rate < 6.0
    assert 0.01 < float(np.sqrt(np.mean(audio**2))) < 0.9


def test_remote_voice_streams_in_other_formats(gateway: str) -> None:
    """B's OpenAI route streams a remote voice as MP3 (model = the remote's engine name), unchanged."""
    body = {"model": "a", "input": "Four hours of steady work faced us.", "voice": "a-us"}
    body["response_format"] = "mp3"
    with httpx.stream("POST", f"{gateway}/v1/audio/speech", json=body, timeout=30) as response:
        data = response.read()
    assert response.status_code == 200, data[:200]
    assert response.headers["X-Voxgate-Engine"] == "a"
    assert len(data) > 2000


def test_remote_voices_are_listed_without_secrets(gateway: str) -> None:
    """Remote voices are in /api/v1/voices with chain remote → local fallbacks; the key is not."""
    response = httpx.get(f"{gateway}/api/v1/voices", timeout=10)
    voices = {v["id"]: v for v in response.json()["voices"]}
    assert voices["a-us"]["engine"] == "a"
    assert voices["a-us"]["fallback_chain"] == {"en": ["a", "espeak"]}
    assert KEY not in response.text
    assert KEY not in httpx.get(f"{gateway}/api/v1/sla", timeout=10).text


def test_remote_refusal_is_invalid_input_without_blame(gateway: str) -> None:
    """A remote's 4xx (a voice it does not know) is the client's error naming the field; no breaker blame."""
    for _ in range(3):  # more than the breaker's minimum calls
        response = speak(gateway, "a-nobody", "Glue the sheet to the dark blue background.")
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == "voice"
        assert "refused" in response.json()["error"]["message"]
    assert sla(gateway)["breakers"]["a"]["state"] == "closed"
    after = speak(gateway, "a-us", "It is easy to tell the depth of a well.")
    assert after.headers["X-Voxgate-Engine"] == "a"


def test_cancellation_reaches_the_remote(gateway: str, remote: str) -> None:
    """A client that leaves B cancels B's call to A: A closes the request and records it cancelled."""

    def cancelled(base: str, key: str | None = None) -> int:
        return int(sla(base, key)["windows"]["300"]["cancelled"])

    before = cancelled(remote, KEY)
    # B's deadline (30 s) outlasts the wait below, so only a cancellation can end B's call to A in time
    held = {"text": f"Hold {HOLD} this line.", "voice": "a-us", "format": "wav", "deadline_ms": 30_000}
    with pytest.raises(httpx.ReadTimeout):  # the client leaves while A holds the request
        httpx.post(f"{gateway}/api/v1/tts", json=held, timeout=httpx.Timeout(10, read=1.5))
    give_up = time.monotonic() + 8
    while cancelled(remote, KEY) == before and time.monotonic() < give_up:
        time.sleep(0.1)
    assert cancelled(remote, KEY) == before + 1
    assert cancelled(gateway) >= 1


def test_key_is_never_logged(gateway: str, caplog: pytest.LogCaptureFixture) -> None:
    """The remote's key appears in no log record, at any level, of B's requests and probes."""
    caplog.set_level(logging.DEBUG)
    assert speak(gateway, "a-us", "These days a chicken leg is a rare dish.").status_code == 200
    assert speak(gateway, "a-nobody", "Rice is often served in round bowls.").status_code == 422
    time.sleep(0.5)  # a couple of health probes
    assert caplog.records
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.__dict__)


def test_remote_down_then_back(tmp_path: Path) -> None:
    """A stopped: each request is answered by B's local chain within its deadline; A back: used again."""
    port = free_port()
    settings_a = remote_settings(tmp_path / "a")
    first = serve_in_thread(settings_a, port=port)
    remote_url = first.__enter__()
    running: contextlib.AbstractContextManager[str] | None = first
    try:
        with serve_in_thread(gateway_settings(tmp_path / "b", remote_url)) as gateway_url:
            assert speak(gateway_url, "a-us", HARVARD_SENTENCES[0]).headers["X-Voxgate-Engine"] == "a"
            first.__exit__(None, None, None)
            running = None
            reasons = []
            for text in HARVARD_SENTENCES[1:7]:
                started = time.monotonic()
                response = speak(gateway_url, "a-us", text, deadline_ms=3000)
                assert response.status_code == 200, response.text  # a missed deadline would be a 503
                assert response.headers["X-Voxgate-Engine"] == "espeak"
                assert time.monotonic() - started < 10
                reasons.append(response.headers["X-Voxgate-Fallback-Reason"])
            assert reasons[-1] == "a:not_ready"  # capacity 0 while down: skipped at once, not tried
            with serve_in_thread(settings_a, port=port):
                engines = []
                give_up = time.monotonic() + 30
                while "a" not in engines and time.monotonic() < give_up:
                    response = speak(gateway_url, "a-us", f"Sentence number {len(engines)}.")
                    assert response.status_code == 200, response.text
                    engines.append(response.headers["X-Voxgate-Engine"])
                    time.sleep(0.2)
                assert engines[-1] == "a"
    finally:
        if running is not None:
            running.__exit__(None, None, None)


def test_remote_backend_keeps_the_backend_contract(remote: str, tmp_path: Path) -> None:
    """on_settled runs once per call (answered, refused, timed out, cancelled); capacity follows health."""
    settings = gateway_settings(tmp_path, remote)
    events: list[object] = []
    clock = SystemClock()
    opts = SynthesisOptions(language="en")

    async def scenario() -> None:
        backend = RemoteBackend(build_remotes(settings), clock, events.append)
        changed: list[str] = []
        backend.on_capacity(changed.append)
        assert backend.capacity("a") == 0
        await backend.start()
        try:
            assert (backend.capacity("a"), changed) == (2, ["a"])
            settled: list[EngineError | None] = []
            soon = clock.monotonic() + 10
            chunks = await backend.run("a", "Kick the ball.", "a-us", opts, soon, settled.append)
            assert chunks[0].sample_rate == 22050  # A's espeak, decoded at the remote's rate
            assert settled == [None]
            settled.clear()
            with pytest.raises(InvalidInput):
                await backend.run("a", "Help the woman.", "a-nobody", opts, soon, settled.append)
            assert settled == [None]
            settled.clear()
            at_once = clock.monotonic() + 0.001
            with pytest.raises(EngineTimeout):
                await backend.run("a", "A rod is used.", "a-us", opts, at_once, settled.append)
            assert len(settled) == 1
            assert isinstance(settled[0], EngineTimeout)
            settled.clear()
            held = backend.run("a", f"Hold {HOLD} now.", "a-us", opts, clock.monotonic() + 10, settled.append)
            task = asyncio.ensure_future(held)
            await asyncio.sleep(0.5)
            assert not task.done()
            assert settled == []
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert len(settled) == 1
            assert isinstance(settled[0], EngineError)
        finally:
            await backend.stop(grace_s=1)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert events == [RemoteHealthChanged("a", True)]
