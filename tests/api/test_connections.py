"""`voxgate serve`'s h11 protocol closes slow request heads and caps connections; others are unaffected."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from voxgate.api.connections import default_max_connections
from voxgate.api.server_options import uvicorn_options
from voxgate.settings import ServerSettings
from voxgate.testing import free_port

HEAD_TIMEOUT_S = 0.5
BOUND_S = 15.0
"""How long a test waits for the server to close a slow connection (30 times the setting)."""


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    """200 at once; ``/slow`` after 1 s; ``/echo`` after reading the body, with its length."""
    if scope["type"] != "http":
        return
    body = b""
    if scope["path"] == "/slow":
        await asyncio.sleep(2 * HEAD_TIMEOUT_S)
    if scope["path"] == "/echo":
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
    payload = str(len(body)).encode()
    headers = [(b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[[ServerSettings], int]]:
    """Start real uvicorn servers with voxgate's options around the minimal app; stop them at module end."""
    with ExitStack() as stack:

        def start(server: ServerSettings) -> int:
            port = free_port()
            config = uvicorn.Config(
                _app, host="127.0.0.1", port=port, log_config=None, lifespan="off", **uvicorn_options(server)
            )
            instance = uvicorn.Server(config)
            thread = threading.Thread(target=instance.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 10
            while not instance.started and time.monotonic() < deadline:
                time.sleep(0.02)

            def stop() -> None:
                instance.should_exit = True
                thread.join(timeout=10)

            stack.callback(stop)
            return port

        yield start


@pytest.fixture(scope="module")
def port(serve: Callable[[ServerSettings], int]) -> int:
    """A server whose request heads must arrive within half a second."""
    return serve(ServerSettings(header_timeout_s=HEAD_TIMEOUT_S))


def _read_until_closed(sock: socket.socket, trickle: bytes = b"") -> tuple[bytes, float]:
    """Send ``trickle`` a byte every 0.1 s while reading; return what the server sent and when it closed."""
    began = time.monotonic()
    sock.settimeout(0.1)
    received = b""
    for byte in (trickle[i : i + 1] for i in range(10**6)):
        if time.monotonic() - began > BOUND_S:
            raise AssertionError(f"the server still holds the connection after {BOUND_S} s")
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            if byte:
                try:
                    sock.sendall(byte)
                except OSError:  # closed by the server while we wrote
                    return received, time.monotonic() - began
            continue
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return received, time.monotonic() - began
        received += chunk
    raise AssertionError("unreachable")


def test_slow_request_head_is_answered_408_and_closed(port: int) -> None:
    """A head trickled a byte at a time gets 408 and is closed (uvicorn alone held it indefinitely)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        answer, took = _read_until_closed(sock, trickle=b"a" * 10_000)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert b'"header_timeout"' in answer
    assert took >= HEAD_TIMEOUT_S * 0.9


def test_silent_connection_is_closed(port: int) -> None:
    """A connection that never sends a byte is closed without an answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer, _took = _read_until_closed(sock)
    assert answer == b""


def test_body_trickled_after_the_answer_is_cut(port: int) -> None:
    """A body the app answered without reading, then trickled, holds the connection for bounded time only."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        answer, _took = _read_until_closed(sock, trickle=b"a" * 100_000)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:80]


def test_keep_alive_client_is_unaffected(port: int) -> None:
    """Idle time between requests, a slow app and a body the app reads do not count as a slow head."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        assert client.get("/").status_code == 200
        time.sleep(2 * HEAD_TIMEOUT_S)  # idle keep-alive (uvicorn closes it after 5 s)
        assert client.get("/slow").status_code == 200

        def body() -> Iterator[bytes]:
            yield b"a" * 10
            time.sleep(2 * HEAD_TIMEOUT_S)
            yield b"b" * 10

        answer = client.post("/echo", content=body())
        assert (answer.status_code, answer.text) == (200, "20")
        assert client.get("/").status_code == 200
        assert answer.http_version == "HTTP/1.1"


def test_connection_over_the_cap_is_answered_503(serve: Callable[[ServerSettings], int]) -> None:
    """With ``max_connections`` open, one more is answered 503 and closed; then there is room again."""
    capped = serve(ServerSettings(header_timeout_s=30, max_connections=2))
    with ExitStack() as stack:
        held = [stack.enter_context(socket.create_connection(("127.0.0.1", capped))) for _ in range(2)]
        for sock in held:  # a complete request each: the server has accepted both
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", capped)) as extra:
            answer, _took = _read_until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
        assert b"retry-after: 1" in answer
    deadline = time.monotonic() + BOUND_S  # the server notices the two closed connections
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{capped}/", timeout=5).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "no room after the held connections closed"
        time.sleep(0.05)


def test_default_cap_leaves_file_descriptors_in_reserve() -> None:
    """Without ``max_connections`` the cap is derived from the open-file limit."""
    protocol = uvicorn_options(ServerSettings())["http"]
    assert protocol.max_connections == default_max_connections()
    assert protocol.header_timeout_s == ServerSettings().header_timeout_s


def test_connections_over_the_per_client_cap_are_answered_503(serve: Callable[[ServerSettings], int]) -> None:
    """One address holding ``max_connections_per_client`` gets 503 for one more; another address is served."""
    capped = serve(ServerSettings(header_timeout_s=30, max_connections_per_client=2))
    with ExitStack() as stack:
        for _ in range(2):
            sock = stack.enter_context(socket.create_connection(("127.0.0.1", capped)))
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection(("127.0.0.1", capped)) as extra:
            answer, _took = _read_until_closed(extra)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:80]
        with socket.create_connection(("127.0.0.1", capped), source_address=("127.0.0.2", 0)) as other:
            other.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert other.recv(4096).startswith(b"HTTP/1.1 200")
