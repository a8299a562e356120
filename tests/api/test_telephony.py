"""G.711 (mu-law, A-law) on every HTTP route: raw 8 kHz bytes that decode to the speech, cached per format."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from voxgate.audio.decode import decode
from voxgate.settings import Settings

EN = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
G711 = {"mulaw": "audio/basic", "alaw": "audio/x-alaw-basic"}


@pytest.fixture(scope="module")
def client(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> TestClient:
    """An espeak-only server (espeak is deterministic: lengths compare sample for sample)."""
    return make_client(api_settings(engines={"piper": {"enabled": False}}))


def _tts(client: TestClient, **fields: Any) -> httpx.Response:
    response = client.post("/api/v1/tts", json={"text": EN, "voice": "espeak-en-us", **fields})
    assert response.status_code == 200, response.text
    return response


def _wav_seconds(client: TestClient) -> float:
    audio, rate = decode(_tts(client, format="wav").content, "wav")
    return len(audio) / rate


def _speech(data: bytes, fmt: str, rate: int) -> float:
    """Seconds of ``data``, after checking that it is speech-loud, not silence."""
    audio, got = decode(data, fmt, sample_rate=rate)
    assert got == rate
    assert float(np.sqrt(np.mean(audio**2))) > 0.01
    return len(audio) / rate


@pytest.mark.parametrize("fmt", list(G711))
def test_g711_answer_is_raw_8khz_as_long_as_the_wav(client: TestClient, fmt: str) -> None:
    """format=mulaw|alaw answers raw 8 kHz G.711 (one byte a sample) lasting as long as the wav (±20 ms)."""
    response = _tts(client, format=fmt)
    assert response.headers["content-type"] == G711[fmt]
    assert response.headers["x-voxgate-sample-rate"] == "8000"
    assert response.content[:4] != b"RIFF"  # no container
    assert _speech(response.content, fmt, 8000) == pytest.approx(_wav_seconds(client), abs=0.02)


def test_g711_at_16khz_and_refused_rates(client: TestClient) -> None:
    """sample_rate=16000 gives wideband mu-law; a rate G.711 does not carry is a 4xx naming sample_rate."""
    wide = _tts(client, format="mulaw", sample_rate=16000)
    assert wide.headers["x-voxgate-sample-rate"] == "16000"
    assert _speech(wide.content, "mulaw", 16000) == pytest.approx(_wav_seconds(client), abs=0.02)
    refused = client.post("/api/v1/tts", json={"text": EN, "format": "alaw", "sample_rate": 22050})
    assert 400 <= refused.status_code < 500
    assert "sample_rate" in refused.text


@pytest.mark.parametrize("fmt", list(G711))
def test_streamed_g711_is_the_same_speech(client: TestClient, fmt: str) -> None:
    """A streamed G.711 answer concatenates to raw audio as long as the one-shot answer (±20 ms)."""
    streamed = client.post(
        "/api/v1/tts", json={"text": EN, "voice": "espeak-en-us", "format": fmt, "stream": True}
    )
    assert streamed.status_code == 200
    assert streamed.headers["content-type"] == G711[fmt]
    one_shot = _tts(client, format=fmt).content
    assert _speech(streamed.content, fmt, 8000) == pytest.approx(_speech(one_shot, fmt, 8000), abs=0.02)


def test_openai_route_takes_mulaw_as_response_format(client: TestClient) -> None:
    """OpenAI's route accepts response_format=mulaw (an extension) and answers raw 8 kHz mu-law."""
    response = client.post(
        "/v1/audio/speech",
        json={"model": "tts-1", "input": EN, "voice": "espeak-en-us", "response_format": "mulaw"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/basic"
    assert response.headers["x-voxgate-sample-rate"] == "8000"
    assert 3.0 < _speech(response.content, "mulaw", 8000) < 10.0


def test_the_cache_keeps_each_format_apart(client: TestClient) -> None:
    """The same text as wav, mulaw and alaw is three misses; mulaw again is a hit with the same bytes."""
    text = "A telephone line cache test."
    first = [_tts(client, text=text, format=fmt) for fmt in ("wav", "mulaw", "alaw")]
    assert [r.headers["x-voxgate-cache"] for r in first] == ["miss", "miss", "miss"]
    assert first[1].content != first[2].content
    again = _tts(client, text=text, format="mulaw")
    assert again.headers["x-voxgate-cache"] == "hit"
    assert again.content == first[1].content
