"""Streaming over a real socket: sentences leave as they are synthesised, and the bytes form a valid file."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from voxgate.audio.decode import decode
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES

SENTENCES = HARVARD_SENTENCES[:12]
ZH = "今天天气很好。我们去公园散步。孩子们在草地上玩。"


@dataclass(frozen=True, slots=True)
class Streamed:
    """One streamed answer: headers, and each non-empty read with its arrival time after the request left."""

    headers: httpx.Headers
    reads: list[tuple[float, bytes]]
    total_s: float

    @property
    def body(self) -> bytes:
        """Every byte, in order."""
        return b"".join(data for _, data in self.reads)

    @property
    def first_s(self) -> float:
        """Time to the first audio byte."""
        return self.reads[0][0]


def _stream(base_url: str, **fields: Any) -> Streamed:
    reads: list[tuple[float, bytes]] = []
    with httpx.Client(base_url=base_url, timeout=60) as http:
        started = time.perf_counter()
        with http.stream("POST", "/api/v1/tts", json={"stream": True, **fields}) as response:
            assert response.status_code == 200, response.read()
            for data in response.iter_raw():
                if data:
                    reads.append((time.perf_counter() - started, data))
        total = time.perf_counter() - started
    assert response.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.headers
    return Streamed(response.headers, reads, total)


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """A real uvicorn server with one worker per engine, kokoro included (for Chinese)."""
    return make_server(api_settings(engines={"kokoro": {"enabled": True, "workers": 1, "threads": 1}}))


def test_first_audio_leaves_long_before_the_whole_text_is_synthesised(server: str) -> None:
    """Twelve piper sentences: the first bytes arrive in well under 0.6 of the time the last ones do."""
    streamed = _stream(server, text=" ".join(SENTENCES), voice="joe", format="pcm")
    assert streamed.headers["x-voxgate-engine"] == "piper"
    assert len(streamed.reads) > 1
    assert streamed.first_s < 0.6 * streamed.total_s, (streamed.first_s, streamed.total_s)
    assert len(streamed.reads[0][1]) < len(streamed.body) / 2
    audio, rate = decode(streamed.body, "pcm", sample_rate=int(streamed.headers["x-voxgate-sample-rate"]))
    assert rate == 22050
    assert 20.0 < len(audio) / rate < 60.0


@pytest.mark.parametrize("fmt", ["pcm", "mp3", "opus", "wav"])
def test_streamed_bytes_concatenate_to_a_valid_file(server: str, fmt: str) -> None:
    """Four sentences arrive in several reads whose concatenation decodes to the whole speech."""
    streamed = _stream(server, text=" ".join(SENTENCES[:4]), voice="joe", format=fmt)
    assert len(streamed.reads) > 1
    rate = int(streamed.headers["x-voxgate-sample-rate"])
    audio, decoded_rate = decode(streamed.body, fmt, sample_rate=rate)
    assert decoded_rate == rate == (48000 if fmt == "opus" else 22050)
    assert 6.0 < len(audio) / rate < 20.0
    if fmt == "wav":
        assert streamed.body[:4] == b"RIFF"
        assert streamed.body[4:8] == b"\xff\xff\xff\xff"  # streaming header: size unknown


def test_chinese_streams_sentence_by_sentence_from_kokoro(server: str) -> None:
    """Four Chinese sentences from kokoro: the first piece arrives well before the last."""
    streamed = _stream(server, text=ZH, format="wav")
    assert streamed.headers["x-voxgate-engine"] == "kokoro"
    assert streamed.headers["x-voxgate-voice"] == "jf_gongitsune:0.5+jm_kumo:0.5"  # the default Chinese voice
    assert len(streamed.reads) > 1
    last_s = streamed.reads[-1][0]
    assert streamed.first_s < 0.75 * last_s, (streamed.first_s, last_s)
    audio, rate = decode(streamed.body, "wav")
    assert rate == 24000
    assert 4.0 < len(audio) / rate < 30.0


def test_a_second_identical_stream_is_a_cache_hit(server: str) -> None:
    """The first stream is a miss and is stored once complete; the same stream again is a hit."""
    text = "A stream worth keeping. " + SENTENCES[5]
    first = _stream(server, text=text, voice="joe", format="mp3")
    again = _stream(server, text=text, voice="joe", format="mp3")
    assert (first.headers["x-voxgate-cache"], again.headers["x-voxgate-cache"]) == ("miss", "hit")
    assert again.body == first.body
