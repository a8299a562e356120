"""Word timestamps over HTTP on real engines (espeak's word events, piper's phoneme alignments)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from voxgate.audio.decode import decode
from voxgate.settings import Settings
from voxgate.testing import serve_in_thread

ESPEAK = "espeak-en-us"
TEXT = "Dr. Smith paid $3.50 for the book. Then we went home, at last!"
WORDS = ["Dr.", "Smith", "paid", "$3.50", "for", "the", "book", "Then", "we", "went", "home", "at", "last"]


@pytest.fixture(scope="module")
def http(api_settings: Callable[..., Settings]) -> Iterator[httpx.Client]:
    """One real server for the module: piper and espeak, one worker each."""
    with serve_in_thread(api_settings()) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _timed(http: httpx.Client, text: str, voice: str, **fields: Any) -> dict[str, Any]:
    response = http.post("/api/v1/tts", json={"text": text, "voice": voice, "timestamps": True, **fields})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def _start(body: dict[str, Any], word: str) -> float:
    return float(next(w["start"] for w in body["words"] if w["text"] == word))


@pytest.mark.parametrize("voice", [ESPEAK, "joe"])
def test_words_are_the_users_in_order_within_the_audio(http: httpx.Client, voice: str) -> None:
    """The words are the original ones ("Dr.", "$3.50"), timed by the engine, monotonic, inside the audio."""
    body = _timed(http, TEXT, voice)
    audio, rate = decode(base64.b64decode(body["audio"]), "wav")
    duration = len(audio) / rate
    assert [w["text"] for w in body["words"]] == WORDS
    assert body["timing"] == "engine"
    assert body["engine"] == ("espeak" if voice == ESPEAK else "piper")
    assert body["degraded"] is False
    assert body["sample_rate"] == rate
    assert body["format"] == "wav"
    previous_end = 0.0
    for word in body["words"]:
        assert previous_end - 1e-3 <= word["start"] <= word["end"] <= duration + 1e-3, word
        previous_end = word["end"]
    money = next(w for w in body["words"] if w["text"] == "$3.50")
    assert money["end"] - money["start"] > 0.6  # "three dollars and fifty cents" is one word's time
    assert [s["text"] for s in body["sentences"]] == [
        "Dr. Smith paid $3.50 for the book",
        "Then we went home, at last",
    ]
    assert body["sentences"][1]["start"] > body["sentences"][0]["end"]


@pytest.mark.parametrize("voice", [ESPEAK, "joe"])
def test_a_break_shifts_the_following_words_and_a_mark_is_timed(http: httpx.Client, voice: str) -> None:
    """A 1 s <break> moves the words after it by 1 s (± 0.15 s); a <mark> is timed where its word starts."""
    ssml = '<speak>Seven apples <break time="{}"/> <mark name="pears"/>nine pears.</speak>'
    short, long = (_timed(http, ssml.format(t), voice) for t in ("0ms", "1s"))
    shift = _start(long, "nine") - _start(short, "nine")
    assert abs(shift - 1.0) <= 0.15
    assert abs(_start(long, "apples") - _start(short, "apples")) <= 0.15
    (mark,) = long["marks"]
    assert mark["name"] == "pears"
    apples_end = next(w["end"] for w in long["words"] if w["text"] == "apples")
    assert apples_end + 0.9 <= mark["time"] <= _start(long, "nine") + 0.05


@pytest.mark.parametrize("voice", [ESPEAK, "joe"])
def test_speed_two_roughly_halves_the_times(http: httpx.Client, voice: str) -> None:
    """At speed 2.0 the last word ends at 0.35-0.7 of its time at speed 1.0."""
    normal, fast = (_timed(http, TEXT, voice, speed=s) for s in (1.0, 2.0))
    ratio = fast["words"][-1]["end"] / normal["words"][-1]["end"]
    assert 0.35 <= ratio <= 0.7


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_stream_sends_audio_and_words_that_agree_with_the_whole_answer(http: httpx.Client) -> None:
    """SSE: audio and words events per sentence, then done; the words and times match the whole answer."""
    whole = _timed(http, TEXT, ESPEAK)  # WAV: the PCM stream below is another cache entry, made afresh
    response = http.post(
        "/api/v1/tts",
        json={"text": TEXT, "voice": ESPEAK, "timestamps": True, "stream": True, "format": "pcm"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-voxgate-cache"] == "miss"
    events = _events(response.text)
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "audio"
    assert kinds[-1] == "done"
    assert "words" in kinds
    assert events[-1][1]["engine"] == "espeak"
    assert events[-1][1]["timing"] == "engine"
    audio = b"".join(base64.b64decode(data["audio"]) for kind, data in events if kind == "audio")
    samples = len(base64.b64decode(whole["audio"])) - 44  # after the WAV header
    assert abs(len(audio) - samples) <= 2400  # 50 ms: resampled per piece
    words = [w for kind, data in events if kind == "words" for w in data["words"]]
    assert [w["text"] for w in words] == WORDS
    for streamed, answered in zip(words, whole["words"], strict=True):
        assert abs(streamed["start"] - answered["start"]) <= 0.03


def _sse(http: httpx.Client, text: str) -> tuple[str, bytes, list[dict[str, Any]], dict[str, Any]]:
    """A timestamped SSE answer: (X-Voxgate-Cache, its audio, its words, its done event)."""
    response = http.post(
        "/api/v1/tts", json={"text": text, "voice": ESPEAK, "timestamps": True, "stream": True}
    )
    assert response.status_code == 200, response.text
    events = _events(response.text)
    assert events[-1][0] == "done"
    audio = b"".join(base64.b64decode(data["audio"]) for kind, data in events if kind == "audio")
    words = [w for kind, data in events if kind == "words" for w in data["words"]]
    return response.headers["x-voxgate-cache"], audio, words, events[-1][1]


def test_a_repeated_timestamped_answer_is_a_cache_hit_with_the_same_body(http: httpx.Client) -> None:
    """JSON twice: the second is an X-Voxgate-Cache hit with the same body; SSE and plain then hit too."""
    text = f"Cached words. {TEXT}"
    request = {"text": text, "voice": ESPEAK, "timestamps": True}
    first, again = (http.post("/api/v1/tts", json=request) for _ in range(2))
    assert (first.headers["x-voxgate-cache"], again.headers["x-voxgate-cache"]) == ("miss", "hit")
    assert again.json() == first.json()
    body = first.json()
    cache, audio, words, done = _sse(http, text)
    assert cache == "hit"
    assert audio == base64.b64decode(body["audio"])
    assert words == body["words"]
    assert (done["engine"], done["timing"]) == (body["engine"], body["timing"])
    plain = http.post("/api/v1/tts", json={"text": text, "voice": ESPEAK})
    assert plain.headers["x-voxgate-cache"] == "hit"
    assert plain.content == audio


def test_a_repeated_timestamped_stream_is_a_hit_that_sends_its_words(http: httpx.Client) -> None:
    """SSE twice: the first is made and stored with its words, the second a hit with the same words events."""
    text = f"Streamed words. {TEXT}"
    cache, audio, words, done = _sse(http, text)
    assert cache == "miss"
    again_cache, again_audio, again_words, again_done = _sse(http, text)
    assert again_cache == "hit"
    assert again_audio[44:] == audio[44:]  # the stored WAV states its length; the streamed one cannot
    assert [w["text"] for w in again_words] == ["Streamed", "words", *WORDS]
    assert again_words == words
    assert again_done == done


def test_timestamps_with_a_bad_field_is_a_422(http: httpx.Client) -> None:
    """timestamps must be a boolean: a 422 naming it."""
    response = http.post("/api/v1/tts", json={"text": "Hi.", "timestamps": "often"})
    assert response.status_code == 422
    assert "timestamps" in response.text
