"""A stream's headers say how its first sentence was made; its end says how the whole answer was.

piper is fault-injected here (named so: ``chaos.poison_text``): a sentence holding the poison word
kills its worker, so that sentence, and only it, is spoken by espeak after the headers have left.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from voxgate.settings import Settings

POISON = "Zanzibar"
FIRST = "The first sentence is spoken by piper."


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """A real server whose piper worker dies on any sentence holding the poison word."""
    chaos = {"enabled": True, "poison_text": POISON, "poison_effect": "crash"}
    # short segments: a realtime piece of two segments needs only a short clause
    settings = api_settings(engines={"piper": {"workers": 1, "chaos": chaos}}, text={"max_segment_chars": 60})
    return make_server(settings)


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    """A client, once piper has a ready worker again (the previous test may have killed it)."""
    with httpx.Client(base_url=server, timeout=60) as client:
        deadline = time.monotonic() + 60
        while 'voxgate_engine_ready{engine="piper"} 1.0' not in client.get("/metrics").text:
            assert time.monotonic() < deadline, "piper did not come back"
            time.sleep(0.2)
        yield client


def _text(tag: str) -> str:
    # a distinct second sentence per test: a poisoned text is remembered (and then skips piper)
    return f"{FIRST} Then {POISON} number {tag} kills piper's worker."


def _events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        name, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        events.append((name, json.loads(data)))
    return events


def test_a_timestamped_streams_done_event_reports_a_later_degraded_sentence(http: httpx.Client) -> None:
    """Headers: piper, not degraded (the first sentence); ``done``: degraded, piper's crash named,
    both voices listed. Before, ``done`` repeated the headers."""
    body = {"text": _text("one"), "voice": "joe", "stream": True, "timestamps": True, "format": "mp3"}
    response = http.post("/api/v1/tts", json=body)
    assert response.status_code == 200, response.text
    headers = response.headers
    assert (headers["x-voxgate-engine"], headers["x-voxgate-degraded"]) == ("piper", "false")
    events = _events(response.text)
    assert [name for name, _ in events].count("audio") >= 2
    name, done = events[-1]
    assert name == "done"
    assert done["degraded"] is True
    assert done["fallback_reason"] == "piper:crashed"
    assert done["spoken_by"] == ["joe@piper", "espeak-en-us@espeak"]


def test_openais_sse_done_event_carries_the_whole_answers_verdict(http: httpx.Client) -> None:
    """``speech.audio.done`` keeps OpenAI's shape (type, usage) and adds ``voxgate``: the verdict."""
    body = {"model": "gpt-4o-mini-tts", "input": _text("two"), "voice": "joe", "stream_format": "sse"}
    response = http.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-voxgate-degraded"] == "false"
    done = json.loads(response.text.strip().split("\n\n")[-1].removeprefix("data: "))
    assert done["type"] == "speech.audio.done"
    assert done["usage"]["input_tokens"] == len(body["input"])
    assert done["voxgate"]["degraded"] is True
    assert done["voxgate"]["spoken_by"] == ["joe@piper", "espeak-en-us@espeak"]


def test_an_undegraded_streams_done_event_says_so(http: httpx.Client) -> None:
    """Without a fault, the ``done`` verdict is the headers': one voice, not degraded."""
    body = {"text": f"{FIRST} Nothing goes wrong here.", "voice": "joe", "stream": True, "timestamps": True}
    response = http.post("/api/v1/tts", json=body)
    assert response.status_code == 200, response.text
    name, done = _events(response.text)[-1]
    assert name == "done"
    assert (done["degraded"], done["fallback_reason"], done["spoken_by"]) == (False, None, ["joe@piper"])
    audio = b"".join(base64.b64decode(d["audio"]) for n, d in _events(response.text) if n == "audio")
    assert len(audio) > 1000


def test_a_realtime_pieces_segment_frame_reports_a_later_degraded_segment(
    server: str, http: httpx.Client
) -> None:
    """A realtime piece longer than ``text.max_segment_chars`` (a clause of 80 characters with no
    punctuation, flushed whole) is two segments; the poison word is in the second. The piece's
    ``segment`` frame says degraded; before, it repeated the first segment's verdict."""
    words = "the long line of quiet words runs on and on without a pause "  # 61 characters
    url = server.replace("http://", "ws://") + "/api/v1/tts/realtime?voice=joe"
    with connect(url, open_timeout=60, max_size=None) as ws:
        ws.send(json.dumps({"type": "speak", "text": f"{words}until {POISON} wins"}))
        ws.send(json.dumps({"type": "flush"}))
        deadline = time.monotonic() + 60
        segments = []
        while not segments:
            frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
            if isinstance(frame, str) and json.loads(frame)["type"] == "segment":
                segments.append(json.loads(frame))
    (segment,) = segments
    assert segment["text"].startswith("the long line"), segment  # one piece, the whole text
    assert POISON in segment["text"], segment
    assert segment["degraded"] is True, segment
    assert segment["reason"] == "piper:crashed", segment
