"""Engine faults under the realtime socket, on a real server with real worker subprocesses.

The piece's engine killed or frozen while the socket is open: the pieces fall back (``segment``
frames marked degraded), the socket stays open and later pieces are served; a client that
vanishes mid-piece (a reset, no close frame) leaves no engine call in flight and no socket open.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from voxgate.settings import Settings

pytestmark = pytest.mark.long  # fault drills: run by CI after the default suite (`-m long`)

PATH = "/api/v1/tts/realtime"
WAIT_S = 60.0  # "does not hang" bound: the machine is shared and noisy
Frame = str | bytes


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """piper and espeak, one worker each; a frozen piper worker is killed 1 s past its deadline.

    Pieces get at least 10 s (not 1 s), so a healthy piper on a loaded machine is not skipped
    as too slow: the pieces that fall back here do so because of the fault.
    """
    settings = api_settings(engines={"piper": {"hang_after_s": 1.0}}, qos={"first_audio_s": 10.0})
    return make_server(settings)


@contextmanager
def _socket(server: str) -> Iterator[ClientConnection]:
    url = server.replace("http://", "ws://") + PATH + "?voice=joe"
    with connect(url, open_timeout=WAIT_S, max_size=None) as ws:
        assert json.loads(ws.recv(timeout=WAIT_S))["type"] == "metadata"
        yield ws


def _sla(server: str) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(f"{server}/api/v1/sla", timeout=WAIT_S).json()
    return status


def _wait(server: str, ok: Callable[[dict[str, Any]], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ok(status := _sla(server)):
        assert time.monotonic() < deadline, f"{what}: {status}"
        time.sleep(0.05)


def _piper_ready(status: dict[str, Any]) -> bool:
    return bool(status["engines"]["piper"]["ready"])


def _frames_until(ws: ClientConnection, kind: str) -> list[dict[str, Any]]:
    """The JSON frames up to and including the first of type ``kind`` (audio skipped)."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT_S
    while True:
        frame = ws.recv(timeout=max(0.1, deadline - time.monotonic()))
        if isinstance(frame, str):
            frames.append(json.loads(frame))
            if frames[-1]["type"] == kind:
                return frames


def _say(ws: ClientConnection, text: str) -> list[dict[str, Any]]:
    ws.send(json.dumps({"type": "speak", "text": text}))
    ws.send(json.dumps({"type": "flush"}))
    return _frames_until(ws, "flushed")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "frozen"])
def test_the_pieces_engine_dying_mid_socket_degrades_pieces_not_the_socket(
    server: str, sig: signal.Signals
) -> None:
    """piper killed / frozen mid-socket: pieces come from espeak (degraded), no error, the socket goes on."""
    _wait(server, _piper_ready, "piper not ready")
    victims: list[int] = []
    try:
        with _socket(server) as ws:
            before = _say(ws, "The birch canoe slid on the smooth planks.")
            assert [f["engine"] for f in before if f["type"] == "segment"] == ["piper"]
            victims = [w["pid"] for w in _sla(server)["engines"]["piper"]["workers"] if w["pid"]]
            ws.send(json.dumps({"type": "speak", "text": "Glue the sheet to the dark blue background. "}))
            for pid in victims:
                os.kill(pid, sig)
            ws.send(json.dumps({"type": "speak", "text": "It is easy to tell the depth of a well."}))
            ws.send(json.dumps({"type": "flush"}))
            during = _frames_until(ws, "flushed")
            after = _say(ws, "These days a chicken leg is a rare dish.")
            ws.send(json.dumps({"type": "close"}))
            with pytest.raises(ConnectionClosed):
                _frames_until(ws, "never")  # the server closes once the rest is spoken
            assert ws.close_code == 1000
    finally:
        for pid in victims:  # a frozen worker the pool has not killed yet
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    frames = during + after
    assert [f for f in frames if f["type"] == "error"] == []
    segments = [f for f in frames if f["type"] == "segment"]
    spoken = "".join(s["text"] for s in segments).replace(" ", "")
    assert spoken.endswith("dish.")
    assert "background.Itiseasy" in spoken  # every piece came, in order
    assert "depthofawell.These" in spoken
    degraded = [s for s in segments if s["degraded"]]
    assert degraded
    assert all(s["engine"] == "espeak" for s in degraded)
    assert all(s["reason"].startswith("piper:") for s in degraded)


def test_a_client_that_vanishes_mid_piece_frees_the_engine_and_the_socket(server: str) -> None:
    """A reset mid-piece (no close frame): no engine call stays in flight, no socket stays open."""
    _wait(server, _piper_ready, "piper not ready")
    text = " ".join(f"This is sentence number {n} of a long answer nobody will hear." for n in range(12))
    with _socket(server) as ws:
        ws.send(json.dumps({"type": "speak", "text": text}))
        ws.send(json.dumps({"type": "flush"}))
        while not isinstance(ws.recv(timeout=WAIT_S), bytes):
            pass
        assert _sla(server)["realtime"]["sockets_open"] == 1
        raw: socket.socket = ws.socket
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()  # a reset: the client is gone mid-piece
    _wait(
        server,
        lambda s: (
            s["realtime"]["sockets_open"] == 0 and all(e["in_flight"] == 0 for e in s["engines"].values())
        ),
        "the vanished client's socket or engine calls are still there",
    )
    with _socket(server) as ws:  # and the next client is served
        frames = _say(ws, "A new caller is served.")
    assert [f["engine"] for f in frames if f["type"] == "segment"] == ["piper"]
