"""The uvicorn options `voxgate serve` uses bound request heads (before any middleware runs)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from voxgate.api.server_options import MAX_HEAD_BYTES, uvicorn_options
from voxgate.testing import free_port


async def _ok(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest ASGI app: 200 with an empty body (the options under test act before it)."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A real uvicorn server with voxgate's options, serving the minimal app."""
    chosen = free_port()
    options = uvicorn_options()
    config = uvicorn.Config(_ok, host="127.0.0.1", port=chosen, log_config=None, lifespan="off", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        threading.Event().wait(0.05)
    yield chosen
    server.should_exit = True
    thread.join(timeout=10)


def _send_head(port: int, header_bytes: int) -> bytes:
    """Send a request whose one header is ``header_bytes`` long; return what the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * header_bytes + b"\r\n\r\n"
        try:
            sock.sendall(head)
            return sock.recv(4096)
        except ConnectionError:
            return b""  # refused mid-send: the server closed without reading it all


def test_normal_headers_are_served(port: int) -> None:
    """A request with a few KiB of headers is answered as usual."""
    assert _send_head(port, 4096).startswith(b"HTTP/1.1 200")


def test_oversized_request_head_is_refused(port: int) -> None:
    """A 1 MiB header is not accepted (uvicorn's httptools default answered it 200, holding it all)."""
    answer = _send_head(port, 16 * MAX_HEAD_BYTES)
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:80]
