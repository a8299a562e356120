"""Dialogue over HTTP, measured on the audio: voices per turn, exact pauses, errors, streaming, cache."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from voxgate.audio.decode import decode
from voxgate.settings import Settings
from voxgate.testing import serve_in_thread

ESPEAK = "espeak-en-us"


@pytest.fixture(scope="module")
def http(api_settings: Callable[..., Settings]) -> Iterator[httpx.Client]:
    """One real server for the module: piper and espeak, one worker each."""
    with serve_in_thread(api_settings()) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _turns(*pairs: tuple[str, str], pause_ms: int | None = None) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = [{"voice": v, "text": t} for v, t in pairs]
    if pause_ms is not None:
        for turn in turns:
            turn["pause_ms"] = pause_ms
    return turns


def _say(http: httpx.Client | TestClient, turns: list[dict[str, Any]], **fields: Any) -> httpx.Response:
    return http.post("/api/v1/tts", json={"dialogue": turns, "format": "wav", **fields})


def _junction_silence_s(audio: np.ndarray, rate: int, threshold: float = 1e-3) -> float:
    """The longest run of quiet samples between two loud ones."""
    loud = np.flatnonzero(np.abs(audio) >= threshold)
    return float(np.max(np.diff(loud))) / rate


def test_each_turn_speaks_with_its_own_voice_and_engine(http: httpx.Client) -> None:
    """piper and espeak turns alternate: both spoke, in order of first use, into one WAV file."""
    response = _say(http, _turns(("joe", "Hello there."), (ESPEAK, "Hi Joe."), ("joe", "Bye now.")))
    assert response.status_code == 200, response.text
    assert response.headers["x-voxgate-spoken-by"] == f"joe@piper,{ESPEAK}@espeak"
    assert response.headers["x-voxgate-voice"] == "joe"
    audio, rate = decode(response.content, "wav")
    assert 1.0 < len(audio) / rate < 8.0


def test_the_pause_between_turns_is_exact(http: httpx.Client) -> None:
    """pause_ms 1500 leaves 1.0 s ± 50 ms more silence between two turns than pause_ms 500.

    Measured between two espeak turns after a piper one: piper's noise varies its own trailing
    silence by ±35 ms from one synthesis to the next, espeak's does not.
    """

    def junction(pause_ms: int) -> float:
        turns = [
            {"voice": "joe", "text": "Hello there."},
            {"voice": ESPEAK, "text": "Seven apples.", "pause_ms": pause_ms},
            {"voice": ESPEAK, "text": "Nine pears."},
        ]
        response = _say(http, turns)
        assert response.headers["x-voxgate-spoken-by"] == f"joe@piper,{ESPEAK}@espeak"
        return _junction_silence_s(*decode(response.content, "wav"))

    assert abs(junction(1500) - junction(500) - 1.0) <= 0.05


def test_an_unknown_voice_is_a_422_naming_the_turn(http: httpx.Client) -> None:
    """The fourth turn's unknown voice → 422 naming ``dialogue[3].voice``; nothing is spoken."""
    turns = _turns(("joe", "One."), (ESPEAK, "Two."), ("joe", "Three."), ("nobody", "Four."))
    response = _say(http, turns)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "dialogue[3].voice"
    assert "nobody" in error["message"]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"text": "Hello.", "dialogue": [{"voice": "joe", "text": "Hi."}]}, "dialogue", 422),
        ({"dialogue": []}, "dialogue", 422),
        ({"dialogue": [{"voice": "joe", "text": "Hi.", "pause_ms": -1}]}, "dialogue[0].pause_ms", 422),
        (
            {"dialogue": [{"voice": "joe", "text": "Hi."}, {"voice": ESPEAK, "text": " "}]},
            "dialogue[1].text",
            422,
        ),
        (
            {"dialogue": [{"voice": "joe", "text": "x" * 3000}, {"voice": ESPEAK, "text": "y" * 3000}]},
            "dialogue",
            413,
        ),
    ],
)
def test_bad_dialogues_are_refused_naming_the_field(
    http: httpx.Client, body: dict[str, Any], field: str | None, status: int
) -> None:
    """Both text and dialogue, no turns, a negative pause, an empty turn → 422; too long in total → 413."""
    response = http.post("/api/v1/tts", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["field"] == field


def test_turn_pauses_adding_up_past_five_minutes_are_a_422_naming_dialogue(http: httpx.Client) -> None:
    """32 turns with 10 s pauses (310 s of silence between them) → 422 naming ``dialogue``."""
    turns = _turns(*[(ESPEAK, f"Turn {i}.") for i in range(32)], pause_ms=10_000)
    response = _say(http, turns)
    assert response.status_code == 422, response.status_code
    assert response.json()["error"]["field"] == "dialogue"


def test_a_streamed_dialogue_is_as_long_as_a_whole_one_and_repeats_hit_the_cache(http: httpx.Client) -> None:
    """Streamed and whole answers have the same samples count; the same dialogue again is a cache hit
    that names the voices that spoke it."""
    turns = _turns(("joe", "First turn here."), (ESPEAK, "Second turn, in two. Sentences."), pause_ms=400)
    espeak_only = [{**t, "voice": ESPEAK} for t in turns]  # espeak is deterministic; piper's noise is not
    fields = {"format": "pcm", "sample_rate": 16000}
    whole = _say(http, espeak_only, **fields)
    streamed = _say(http, espeak_only, **fields, stream=True)
    assert whole.status_code == streamed.status_code == 200
    assert len(whole.content) == len(streamed.content)
    first, again = _say(http, turns), _say(http, turns)
    assert [first.headers["x-voxgate-cache"], again.headers["x-voxgate-cache"]] == ["miss", "hit"]
    assert again.content == first.content
    spoken_by = first.headers["x-voxgate-spoken-by"]  # the hit says who spoke, as the first answer did
    assert spoken_by == f"joe@piper,{ESPEAK}@espeak"
    assert again.headers.get("x-voxgate-spoken-by") == spoken_by
    other_pause = _say(http, _turns(("joe", "First turn here."), (ESPEAK, "Second turn, in two. Sentences.")))
    assert other_pause.headers["x-voxgate-cache"] == "miss"


def test_degraded_turns_are_named(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> None:
    """With piper failing every call, the turns in piper's voice (1 and 3) are listed as degraded."""
    failing = make_client(api_settings(engines={"piper": {"chaos": {"enabled": True, "error_rate": 1.0}}}))
    turns = _turns((ESPEAK, "One."), ("joe", "Two."), (ESPEAK, "Three."), ("joe", "Four."))
    response = _say(failing, turns)
    assert response.status_code == 200, response.text
    assert response.headers["x-voxgate-degraded"] == "true"
    assert response.headers["x-voxgate-degraded-turns"] == "1,3"
    ok = _say(failing, [turns[0], turns[2]])
    assert "x-voxgate-degraded-turns" not in ok.headers


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


TIMED_TURNS = [
    {"voice": "joe", "text": "Dr. Smith paid $3.50."},
    {"voice": ESPEAK, "text": "That is cheap. Really cheap!", "pause_ms": 1000},
    {"voice": ESPEAK, "text": "Bye now."},
]
TIMED_WORDS = ["Dr.", "Smith", "paid", "$3.50", "That", "is", "cheap", "Really", "cheap", "Bye", "now"]


def test_dialogue_timestamps_name_each_turns_words_in_order_after_its_pause(http: httpx.Client) -> None:
    """timestamps with dialogue: every turn's own words ("$3.50" one word), tagged with turn and voice,
    monotonic inside the audio, the third turn starting ≥ 1 s after the second ends (its pause)."""
    response = _say(http, TIMED_TURNS, timestamps=True)
    assert response.status_code == 200, response.text
    body = response.json()
    audio, rate = decode(base64.b64decode(body["audio"]), "wav")
    words = body["words"]
    assert [w["text"] for w in words] == TIMED_WORDS
    assert [w["turn"] for w in words] == [0] * 4 + [1] * 5 + [2] * 2
    assert {w["voice"] for w in words if w["turn"] == 1} == {ESPEAK}
    assert words[0]["voice"] == "joe"
    previous_end = 0.0
    for word in words:
        assert previous_end - 1e-3 <= word["start"] <= word["end"] <= len(audio) / rate + 1e-3, word
        previous_end = word["end"]
    assert words[9]["start"] - words[8]["end"] >= 1.0
    assert [s["text"] for s in body["sentences"]] == [
        "Dr. Smith paid $3.50",
        "That is cheap",
        "Really cheap",
        "Bye now",
    ]
    assert [s["turn"] for s in body["sentences"]] == [0, 1, 1, 2]


def test_a_streamed_dialogue_sends_each_turns_words_as_events(http: httpx.Client) -> None:
    """stream + timestamps with dialogue: words events carry every turn's words, with the whole answer's
    times (espeak only: deterministic), and the audio events add up to the whole answer's audio."""
    turns = [{**t, "voice": ESPEAK} for t in TIMED_TURNS]
    whole = _say(http, turns, timestamps=True).json()
    streamed = _say(http, turns, timestamps=True, stream=True)
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    events = _sse(streamed.text)
    words = [w for name, data in events if name == "words" for w in data["words"]]
    assert [w["text"] for w in words] == TIMED_WORDS
    assert [w["turn"] for w in words] == [w["turn"] for w in whole["words"]]
    for got, expected in zip(words, whole["words"], strict=True):
        assert got["start"] == pytest.approx(expected["start"], abs=0.02), (got, expected)
    assert events[-1][0] == "done"
