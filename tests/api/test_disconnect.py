"""Clients that leave cost nothing: a real server, real piper, clients that close their connection early.

A stream whose client closes after the first chunk, and a plain request whose client gives up
mid-synthesis, are recorded ``cancelled`` (not ``failed``: availability stays 1.0), their
segments stop (nothing stays queued or in flight, no worker keeps working for them), and the
characters they did not get are refunded to the key's daily quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES

TEXT = " ".join(HARVARD_SENTENCES[:12])
LONG = " ".join(HARVARD_SENTENCES * 3)  # ~1 700 characters: seconds of piper work
KEYS = {"main": "main-key-0123456789", "frugal": "frugal-key-0123456789", "thrifty": "thrifty-key-0123456789"}


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """One piper and one espeak worker, three keys; ``frugal`` and ``thrifty`` have small quotas."""
    return make_server(
        api_settings(
            server={
                "api_keys": {
                    "main": {"key": KEYS["main"]},
                    "frugal": {"key": KEYS["frugal"], "daily_chars": len(TEXT) + len(TEXT) // 2},
                    "thrifty": {"key": KEYS["thrifty"], "daily_chars": len(LONG) + len(LONG) // 2},
                }
            }
        )
    )


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    """A client with the main key."""
    with httpx.Client(base_url=server, timeout=60, headers=_auth("main")) as client:
        yield client


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def _window(http: httpx.Client) -> dict[str, Any]:
    window: dict[str, Any] = http.get("/api/v1/sla").json()["windows"]["300"]
    return window


def _leave_after_first_chunk(server: str, path: str, body: dict[str, Any], key: str = "main") -> None:
    with (
        httpx.Client(base_url=server, timeout=60, headers=_auth(key)) as client,
        client.stream("POST", path, json=body) as response,
    ):
        assert response.status_code == 200, response.read()
        assert next(data for data in response.iter_raw() if data)
    # leaving the block closed the connection mid-body


def _until(check: Callable[[], bool], timeout_s: float = 15.0) -> bool:
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        if check():
            return True
        time.sleep(0.1)
    return check()


def _idle(http: httpx.Client) -> bool:
    """Nothing queued or in flight on any engine, and no worker busy."""
    engines = http.get("/api/v1/sla").json()["engines"]
    return all(
        e["in_flight"] == 0
        and not any(e["queued"].values())
        and all(w["state"] not in ("busy", "draining") for w in e["workers"])
        for e in engines.values()
    )


def _calls(http: httpx.Client, engine: str) -> int:
    workers = http.get("/api/v1/sla").json()["engines"][engine]["workers"]
    return sum(int(w["jobs_done"]) for w in workers)


def _settled(http: httpx.Client) -> dict[str, Any]:
    """The 5-minute window once every engine is idle (bounded wait)."""
    assert _until(lambda: _idle(http)), http.get("/api/v1/sla").json()["engines"]
    return _window(http)


def test_streams_left_after_the_first_chunk_are_cancelled_not_failed(server: str, http: httpx.Client) -> None:
    """Four native streams closed after one chunk: 4 cancelled, 0 failed, availability 1.0, workers stop."""
    assert http.post("/api/v1/tts", json={"text": "Hello there.", "voice": "joe"}).status_code == 200
    before = _settled(http)
    calls_before = _calls(http, "piper")
    for _ in range(4):
        _leave_after_first_chunk(server, "/api/v1/tts", {"text": TEXT, "voice": "joe", "stream": True})
    assert _until(lambda: _window(http)["cancelled"] - before["cancelled"] == 4), _window(http)
    after = _settled(http)
    assert after["failed"] == before["failed"]
    assert after["availability"] == 1.0
    calls = _calls(http, "piper")
    time.sleep(1.0)
    assert _calls(http, "piper") == calls  # no worker keeps synthesising for a client that left
    # at most the first segment, the two in lookahead and one in the encoder's way, not all 12
    assert calls - calls_before <= 4 * 4


@pytest.mark.parametrize(("model", "stream_format"), [("tts-1", "audio"), ("gpt-4o-mini-tts", "sse")])
def test_openai_streams_left_early_are_cancelled(
    server: str, http: httpx.Client, model: str, stream_format: str
) -> None:
    """The OpenAI route, audio bytes and SSE alike: a client gone after one chunk is cancelled, not failed."""
    before = _settled(http)
    body = {"model": model, "input": TEXT, "voice": "alloy", "stream_format": stream_format}
    _leave_after_first_chunk(server, "/v1/audio/speech", body)
    assert _until(lambda: _window(http)["cancelled"] - before["cancelled"] == 1), _window(http)
    after = _settled(http)
    assert after["failed"] == before["failed"]


def test_a_stream_left_early_gets_its_unsent_characters_back(server: str) -> None:
    """frugal's quota holds 1.5 texts: after leaving one stream early, the whole text is admitted again."""
    _leave_after_first_chunk(server, "/api/v1/tts", {"text": TEXT, "voice": "joe", "stream": True}, "frugal")
    with httpx.Client(base_url=server, timeout=60, headers=_auth("frugal")) as client:
        answer = None
        for _ in range(20):  # the refund is a task of its own: give it a moment
            answer = client.post("/api/v1/tts", json={"text": TEXT, "voice": "joe", "format": "pcm"})
            if answer.status_code != 429:
                break
            time.sleep(0.1)
        assert answer is not None
        assert answer.status_code == 200, answer.text


def test_a_request_whose_client_gives_up_is_cancelled_and_refunded(server: str, http: httpx.Client) -> None:
    """A plain request for seconds of speech, abandoned after 1 s: cancelled soon, work stops, refunded."""
    before = _settled(http)
    timeout = httpx.Timeout(60, read=1.0)
    with (
        httpx.Client(base_url=server, timeout=timeout, headers=_auth("thrifty")) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/api/v1/tts", json={"text": LONG, "voice": "joe", "format": "pcm"})
    # the old server went on to the end of the text and recorded it as answered
    assert _until(lambda: _window(http)["cancelled"] - before["cancelled"] == 1, 10.0), _window(http)
    after = _settled(http)
    assert (after["failed"], after["answered"]) == (before["failed"], before["answered"])
    # thrifty's quota holds 1.5 long texts: the abandoned one was given back
    body = {"text": LONG, "voice": "joe", "stream": True}
    _leave_after_first_chunk(server, "/api/v1/tts", body, "thrifty")
