"""The realtime socket on a real server (uvicorn, real sockets, the websockets client, piper and espeak)."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import av
import httpx
import numpy as np
import pytest
from structlog.testing import capture_logs
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from voxgate.audio.decode import decode
from voxgate.client import RealtimeClient, RealtimeRefused
from voxgate.settings import Settings

KEY = "k" * 32
OTHER = "o" * 32
ONCE = "n" * 32
PATH = "/api/v1/tts/realtime"
TWO_SENTENCES = ("The birch canoe slid on the smooth planks.", " Glue the sheet to the dark blue background.")
WAIT_S = 60.0  # "does not hang" bound: the machine is shared and noisy
Frame = str | bytes


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """A keyed server (piper, espeak): "agent" may use interactive; "small" has two sockets at most."""
    keys = {
        "agent": {"key": KEY, "priorities": ["interactive", "api"]},
        "small": {"key": OTHER},
        "once": {"key": ONCE, "rate_limit": "1/minute"},
    }
    settings = api_settings(
        server={"api_keys": keys},
        realtime={"max_sockets_per_client": 2, "max_frame_bytes": 1024},
    )
    return make_server(settings)


def _url(server: str, query: str = "", key: str | None = KEY) -> str:
    base = server.replace("http://", "ws://") + PATH
    params = "&".join(p for p in (query, f"key={key}" if key else "") if p)
    return f"{base}?{params}" if params else base


@contextmanager
def _socket(server: str, query: str = "voice=joe", key: str | None = KEY) -> Iterator[ClientConnection]:
    with connect(_url(server, query, key), open_timeout=WAIT_S, max_size=None) as ws:
        yield ws


def _json(frame: Frame) -> dict[str, Any] | None:
    return json.loads(frame) if isinstance(frame, str) else None


def _until(ws: ClientConnection, kind: str) -> list[Frame]:
    """Every frame up to and including the first JSON frame of type ``kind``."""
    frames: list[Frame] = []
    deadline = time.monotonic() + WAIT_S
    while True:
        frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        frames.append(frame)
        message = _json(frame)
        if message is not None and message["type"] == kind:
            return frames


def _until_closed(ws: ClientConnection) -> list[Frame]:
    """Every frame until the server closes the connection."""
    frames: list[Frame] = []
    try:
        while True:
            frames.append(ws.recv(timeout=WAIT_S))
    except ConnectionClosed:
        return frames


def _speak(ws: ClientConnection, *fragments: str, flush: bool = True) -> None:
    for fragment in fragments:
        ws.send(json.dumps({"type": "speak", "text": fragment}))
    if flush:
        ws.send(json.dumps({"type": "flush"}))


def _pieces(frames: list[Frame]) -> list[tuple[bytes, dict[str, Any]]]:
    """(audio, segment) per piece: the binary frames before each segment frame."""
    pieces, audio = [], b""
    for frame in frames:
        message = _json(frame)
        if message is None:
            audio += frame  # type: ignore[operator]
        elif message["type"] == "segment":
            pieces.append((audio, message))
            audio = b""
    assert audio == b"", "audio after the last segment"
    return pieces


def test_speak_and_flush_give_metadata_audio_segments_and_flushed_in_order(server: str) -> None:
    """metadata first; each piece's mu-law audio then its segment (as long as the audio, with its
    first-audio and synthesis times); flushed last."""
    with _socket(server, "voice=joe&encoding=mulaw") as ws:
        metadata = _json(ws.recv(timeout=WAIT_S))
        assert metadata == {
            "type": "metadata",
            "voice": "joe",
            "engine_chain": ["piper", "espeak"],
            "encoding": "mulaw",
            "sample_rate": 8000,
            "priority": "interactive",
            "max_buffer_delay_ms": 300,
        }
        _speak(ws, "The birch canoe", " slid on the smooth planks", ".", " Glue the sheet")
        frames = _until(ws, "flushed")
    assert _json(frames[-1]) == {"type": "flushed", "sequence_id": 0}
    assert not [f for f in frames if (_json(f) or {}).get("type") == "words"]  # not asked for
    pieces = _pieces(frames[:-1])
    assert [s["text"] for _, s in pieces] == ["The birch canoe slid on the smooth planks.", "Glue the sheet"]
    for audio, segment in pieces:
        assert audio, "a segment without audio before it"
        samples, rate = decode(audio, "mulaw", sample_rate=8000)
        assert len(samples) / rate == pytest.approx(segment["duration_ms"] / 1000, abs=0.02)
        assert float(np.sqrt(np.mean(samples**2))) > 0.01  # speech, not silence
        assert segment["engine"] in ("piper", "espeak")
        assert segment["degraded"] == (segment["engine"] != "piper")
        assert 0 <= segment["synthesis_ms"] <= segment["first_audio_ms"] + 1  # where its time went


def test_clear_drops_what_was_coming_and_frees_the_worker(server: str) -> None:
    """clear mid-synthesis: cleared, then only the new text's audio; no engine call stays in flight."""
    long_text = " ".join(
        f"This is sentence number {n} of a long answer that the caller interrupts." for n in range(8)
    )
    with _socket(server) as ws:
        ws.recv(timeout=WAIT_S)  # metadata
        _speak(ws, long_text)
        first = ws.recv(timeout=WAIT_S)
        assert isinstance(first, bytes)  # audio is flowing: now the caller speaks
        ws.send(json.dumps({"type": "clear"}))
        frames = _until(ws, "cleared")
        assert _json(frames[-1]) == {"type": "cleared", "sequence_id": 0}
        _speak(ws, "A new answer starts here.")
        after = _until(ws, "flushed")
    pieces = _pieces(after[:-1])
    assert [s["text"] for _, s in pieces] == ["A new answer starts here."]
    samples, rate = decode(pieces[0][0], "pcm", sample_rate=24000)
    assert len(samples) / rate == pytest.approx(pieces[0][1]["duration_ms"] / 1000, abs=0.02)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        engines = httpx.get(f"{server}/api/v1/sla", headers={"Authorization": f"Bearer {KEY}"}).json()
        if all(e["in_flight"] == 0 for e in engines["engines"].values()) and engines["realtime"]["clears"]:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"engine calls still in flight after clear: {engines['engines']}")
    metrics = httpx.get(f"{server}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert 'voxgate_realtime_clears_total{priority="interactive"}' in metrics
    assert "voxgate_realtime_first_audio_seconds_count" in metrics
    assert "voxgate_realtime_sockets " in metrics


def test_unpunctuated_text_speaks_after_the_delay_and_close_finishes_the_rest(server: str) -> None:
    """Whole words go after max_buffer_delay_ms without flush; close speaks the rest, then closes 1000."""
    with _socket(server) as ws:
        ws.recv(timeout=WAIT_S)
        _speak(ws, "one two three four fi", flush=False)
        timed = _pieces(_until(ws, "segment"))
        assert [s["text"] for _, s in timed] == ["one two three four"]
        _speak(ws, "ve", flush=False)
        ws.send(json.dumps({"type": "close"}))
        rest = _until_closed(ws)
        assert ws.close_code == 1000
    assert [s["text"] for _, s in _pieces(rest)] == ["five"]


def test_a_chinese_clause_mark_starts_synthesis_without_flush(server: str) -> None:
    """，ends a clause: the Chinese voice speaks it with no flush, character by character as it came."""
    with _socket(server, "voice=espeak-cmn&encoding=alaw") as ws:
        assert _json(ws.recv(timeout=WAIT_S))["sample_rate"] == 8000  # type: ignore[index]
        _speak(ws, *"今天天气很好，我们", flush=False)
        pieces = _pieces(_until(ws, "segment"))
    assert [s["text"] for _, s in pieces] == ["今天天气很好，"]
    samples, _ = decode(pieces[0][0], "alaw", sample_rate=8000)
    assert len(samples) > 0.3 * 8000


def test_bad_frames_get_errors_naming_the_field_and_the_socket_goes_on(server: str) -> None:
    """Not JSON, an unknown type, a speak without text and an oversize frame: four errors; speech goes on."""
    with _socket(server, "voice=espeak-en-us") as ws:
        ws.recv(timeout=WAIT_S)
        for frame in (
            "{nope",
            '{"type": "sing"}',
            '{"type": "speak"}',
            json.dumps({"type": "speak", "text": "x" * 2000}),
        ):
            ws.send(frame)
        errors = [_json(ws.recv(timeout=WAIT_S)) for _ in range(4)]
        _speak(ws, "Still here and speaking.")
        frames = _until(ws, "flushed")
    assert [(e["type"], e["code"], e["field"]) for e in errors if e] == [
        ("error", "invalid_json", "frame"),
        ("error", "unknown_type", "type"),
        ("error", "invalid_frame", "text"),
        ("error", "frame_too_large", "frame"),
    ]
    assert [s["text"] for _, s in _pieces(frames[:-1])] == ["Still here and speaking."]


@pytest.mark.parametrize(
    ("query", "key", "status", "field"),
    [
        ("voice=joe", None, 401, None),
        ("voice=joe", "w" * 32, 401, None),
        ("voice=nobody", KEY, 400, "voice"),
        ("voice=joe&encoding=flac", KEY, 422, "encoding"),
        ("voice=joe&encoding=opus&sample_rate=24000", KEY, 422, "sample_rate"),
        ("voice=joe&timestamps=maybe", KEY, 422, "timestamps"),
        ("voice=joe&encoding=mulaw&sample_rate=22050", KEY, 422, "sample_rate"),
        ("voice=joe&priority=batch", KEY, 403, "priority"),
        ("voice=joe&priority=interactive", OTHER, 403, "priority"),
    ],
)
def test_bad_handshakes_are_refused_before_the_upgrade(
    server: str, query: str, key: str | None, status: int, field: str | None
) -> None:
    """A missing or wrong key, a bad parameter or a priority the key lacks: an HTTP error naming the field."""
    with pytest.raises(InvalidStatus) as caught:
        connect(_url(server, query, key), open_timeout=WAIT_S).close()
    response = caught.value.response
    assert response.status_code == status
    assert json.loads(response.body or b"{}")["error"]["field"] == field


def test_a_key_at_its_socket_limit_is_refused_until_one_closes(server: str) -> None:
    """Two sockets per key: a third is refused (429); after one closes a new one opens."""
    with _socket(server, key=OTHER) as first, _socket(server, key=OTHER):
        first.recv(timeout=WAIT_S)
        with pytest.raises(InvalidStatus) as caught:
            connect(_url(server, "voice=joe", OTHER), open_timeout=WAIT_S).close()
        assert caught.value.response.status_code == 429
        assert json.loads(caught.value.response.body or b"{}")["error"]["code"] == "too_many_sockets"
    deadline = time.monotonic() + WAIT_S
    while True:  # the server counts a socket closed once its handler has ended
        try:
            with _socket(server, key=OTHER) as again:
                assert _json(again.recv(timeout=WAIT_S))["type"] == "metadata"  # type: ignore[index]
            break
        except InvalidStatus:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_a_page_of_another_origin_cannot_open_a_socket(server: str) -> None:
    """A handshake whose Origin is another site is refused (403 naming Origin), even with a valid key."""
    with pytest.raises(InvalidStatus) as caught:
        connect(_url(server, "voice=joe"), origin=Origin("http://evil.example"), open_timeout=WAIT_S).close()
    assert caught.value.response.status_code == 403
    assert json.loads(caught.value.response.body or b"{}")["error"]["field"] == "Origin"


def test_the_python_client_speaks_clears_and_closes(server: str) -> None:
    """voxgate.client: audio, events to on_event, nothing from before a clear, iteration ends at close."""

    async def run() -> tuple[dict[str, Any], list[dict[str, Any]], bytes, bytes]:
        events: list[dict[str, Any]] = []
        async with RealtimeClient(server, voice="joe", api_key=KEY, on_event=events.append) as tts:
            await tts.speak(
                " ".join(f"Sentence number {n} of an answer the caller cuts off." for n in range(6))
            )
            await tts.flush()
            audio = aiter(tts)
            before = await anext(audio)
            await tts.clear()
            await tts.speak("A new answer starts here.")
            await tts.close()
            after = b"".join([chunk async for chunk in audio])
        return tts.metadata, events, before, after

    metadata, events, before, after = asyncio.run(run())
    assert metadata["encoding"] == "linear16"
    assert metadata["sample_rate"] == 24000
    assert before
    cleared = next(i for i, e in enumerate(events) if e["type"] == "cleared")
    segments = [e for e in events[cleared:] if e["type"] == "segment"]
    assert [s["text"] for s in segments] == ["A new answer starts here."]
    samples, rate = decode(after, "pcm", sample_rate=24000)
    assert len(samples) / rate == pytest.approx(segments[0]["duration_ms"] / 1000, abs=0.02)


def test_the_python_client_says_why_a_handshake_was_refused(server: str) -> None:
    """A refused handshake raises RealtimeRefused with the status and the field at fault."""

    async def run() -> None:
        async with RealtimeClient(server, voice="joe", encoding="flac", api_key=KEY):
            pass

    with pytest.raises(RealtimeRefused) as caught:
        asyncio.run(run())
    assert (caught.value.status, caught.value.field) == (422, "encoding")


def test_opening_a_socket_counts_against_the_keys_rate_limit(server: str) -> None:
    """A key allowed one request a minute opens one socket; the next handshake is refused (429)."""
    with _socket(server, key=ONCE) as ws:
        assert _json(ws.recv(timeout=WAIT_S))["type"] == "metadata"  # type: ignore[index]
    with pytest.raises(InvalidStatus) as caught:
        connect(_url(server, "voice=joe", ONCE), open_timeout=WAIT_S).close()
    assert caught.value.response.status_code == 429
    assert json.loads(caught.value.response.body or b"{}")["error"]["code"] == "rate_limit"


def test_timestamps_send_each_pieces_words_before_its_audio_timed_from_the_stream_start(server: str) -> None:
    """?timestamps=true: words before each piece's audio; times rise across pieces, inside the audio."""
    with _socket(server, "voice=joe&encoding=mulaw&timestamps=true") as ws:
        ws.recv(timeout=WAIT_S)
        _speak(ws, *TWO_SENTENCES)
        frames = _until(ws, "flushed")
    received_s = 0.0  # mu-law at 8 kHz: one byte a sample
    starts: list[float] = []
    spoken: list[tuple[str, list[dict[str, Any]], float]] = []  # (piece text, words, audio before)
    for frame in frames[:-1]:
        message = _json(frame)
        if message is None:
            assert spoken, "audio before its words frame"
            received_s += len(frame) / 8000
        elif message["type"] == "words":
            spoken.append((message["text"], message["words"], received_s))
        elif message["type"] == "segment":
            text, words, before_s = spoken[-1]
            assert text == message["text"]
            assert [w["text"].strip(".,") for w in words] == text.rstrip(".").split()
            for word in words:
                assert before_s - 0.001 <= word["start"] < word["end"] <= received_s + 0.02  # ms rounding
                starts.append(word["start"])
    assert [text for text, _, _ in spoken] == [t.strip() for t in TWO_SENTENCES]
    assert starts == sorted(starts)
    assert spoken[1][2] > 0.5  # the second piece's words are shifted past the first piece's audio


def _decode_ogg_opus(data: bytes) -> tuple[np.ndarray, int]:
    """Decode a whole Ogg Opus file with PyAV: mono samples and their rate."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(chunks).astype(np.float32), stream.rate


def test_opus_frames_concatenate_into_one_ogg_stream_of_the_speech(server: str) -> None:
    """encoding=opus: the binary frames together are one Ogg Opus file as long as the pieces (±100 ms)."""
    with _socket(server, "voice=joe&encoding=opus") as ws:
        metadata = _json(ws.recv(timeout=WAIT_S))
        _speak(ws, *TWO_SENTENCES)
        ws.send(json.dumps({"type": "close"}))
        frames = _until_closed(ws)
    assert metadata is not None
    assert (metadata["encoding"], metadata["sample_rate"]) == ("opus", 48000)
    audio = b"".join(f for f in frames if isinstance(f, bytes))
    assert audio.startswith(b"OggS")
    segments = [m for m in map(_json, frames) if m and m["type"] == "segment"]
    assert len(segments) == 2
    samples, rate = _decode_ogg_opus(audio)
    assert rate == 48000
    expected_s = sum(s["duration_ms"] for s in segments) / 1000
    assert len(samples) / rate == pytest.approx(expected_s, abs=0.1)
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # speech, not silence


def test_opus_stream_stays_one_playable_file_across_a_clear(server: str) -> None:
    """clear on an Opus socket drops pending audio but keeps the Ogg stream: it still decodes whole."""
    long_text = " ".join(f"This is sentence number {n} of a long answer that gets cut off." for n in range(6))
    with _socket(server, "voice=joe&encoding=opus") as ws:
        ws.recv(timeout=WAIT_S)
        _speak(ws, long_text)
        before: list[Frame] = []
        while not before or not isinstance(before[-1], bytes):
            before.append(ws.recv(timeout=WAIT_S))
        ws.send(json.dumps({"type": "clear"}))
        before += _until(ws, "cleared")
        _speak(ws, "A new answer starts here.", flush=False)
        ws.send(json.dumps({"type": "close"}))
        after = _until_closed(ws)
    new = [m for m in map(_json, after) if m and m["type"] == "segment"]
    assert [s["text"] for s in new] == ["A new answer starts here."]
    audio = b"".join(f for f in before + after if isinstance(f, bytes))
    samples, rate = _decode_ogg_opus(audio)
    assert len(samples) / rate >= new[0]["duration_ms"] / 1000


def test_a_closed_socket_gets_one_access_line_and_is_counted(server: str) -> None:
    """One ``request`` line when the socket ends: key masked, its pieces, characters, close code
    and duration; ``voxgate_websocket_connections_total`` counts it."""
    with capture_logs() as logs:
        with _socket(server) as ws:
            ws.recv(timeout=WAIT_S)  # metadata
            _speak(ws, "The birch canoe slid on the smooth planks.", flush=False)
            ws.send(json.dumps({"type": "close"}))
            _until_closed(ws)
        deadline = time.monotonic() + WAIT_S
        while not [x for x in logs if x.get("method") == "WEBSOCKET"] and time.monotonic() < deadline:
            time.sleep(0.02)  # the server logs once its side of the close is done
    (line,) = [x for x in logs if x.get("method") == "WEBSOCKET"]
    assert KEY not in json.dumps(line)
    assert line["query"] == "voice=joe&key=***"
    assert (line["route"], line["status"], line["close_code"]) == (PATH, 101, 1000)
    counts = (line["client_id"], line["priority"], line["pieces"], line["chars"])
    assert counts == ("agent", "interactive", 1, 42)
    assert line["duration_ms"] > 0
    metrics = httpx.get(f"{server}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    counted = f'voxgate_websocket_connections_total{{close_code="1000",route="{PATH}",status="101"}}'
    assert counted in metrics


def _until_engines_idle(server: str) -> None:
    """Wait (bounded) until no engine call is in flight: work an earlier test left still runs."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        engines = httpx.get(f"{server}/api/v1/sla", headers={"Authorization": f"Bearer {KEY}"}).json()
        if all(e["in_flight"] == 0 for e in engines["engines"].values()):
            return
        time.sleep(0.05)


def test_a_long_clause_is_sent_while_piper_still_speaks_it(server: str) -> None:
    """Streamed (``realtime.stream``, the default; piper's one worker free): a long clause's first
    audio frame leaves before the engine has finished it: its segment's last audio comes well after
    its first."""
    clause = "The birch canoe slid on the smooth planks and the boy was glad to see it come home at last"
    _until_engines_idle(server)  # a busy piper runs the clause whole (it streams only from a free slot)
    with _socket(server, "voice=joe&encoding=linear16&sample_rate=22050") as ws:
        _speak(ws, clause)  # judged by its first window's estimate: piper is not too slow
        frames = _until(ws, "flushed")
    ((audio, segment),) = _pieces(frames[1:-1])
    if segment["engine"] != "piper":
        pytest.skip(f"piper was skipped on this loaded machine ({segment['reason']})")
    assert len(audio) / 2 / 22050 == pytest.approx(segment["duration_ms"] / 1000, abs=0.02)
    assert segment["duration_ms"] > 3000
    # the rest of a 3+ s clause takes piper ≥ 100 ms to decode after its first window (whole: ~0)
    assert segment["last_audio_ms"] - segment["first_audio_ms"] >= 50
    assert segment["synthesis_ms"] <= segment["first_audio_ms"] + 1
