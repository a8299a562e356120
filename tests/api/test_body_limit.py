"""Request bodies are bounded while they are read, on a real uvicorn server (sockets, chunked bodies).

The TestClient reads a whole body before the app sees it, so these tests talk to a real server,
several of them over a raw socket: a refusal that arrives while the client has not yet sent the
body proves the server did not read it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from voxgate.api.body_limit import BodyLimits, body_limits
from voxgate.settings import Settings

JSON_LIMIT = 256 * 1024
JOB_LIMIT = 1024 * 1024
BODY_TIMEOUT_S = 1.0
ANSWER_BOUND_S = 10.0
"""Generous bound for an answer that must not wait for the body (it used to take 30+ s)."""


@pytest.fixture(scope="module")
def server(make_server: Callable[[Settings], str], api_settings: Callable[..., Settings]) -> str:
    """A real server with the default JSON limit, a 1 MiB job limit and a 1 s body timeout."""
    return make_server(api_settings(limits={"job_body_bytes": JOB_LIMIT, "body_timeout_s": BODY_TIMEOUT_S}))


def _connect(server: str) -> socket.socket:
    url = urlsplit(server)
    return socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=ANSWER_BOUND_S)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict[str, Any]]:
    """Read one HTTP/1.1 response with a Content-Length body from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers["content-length"])
    while len(body) < length:
        body += sock.recv(65536)
    return status, headers, json.loads(body[:length])


def _head(path: str, content_type: str, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    return head.encode()


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def _assert_too_large(status: int, body: dict[str, Any], limit: int) -> None:
    assert status == 413, body
    error = body["error"]
    assert error["code"] == "body_too_large"
    assert error["field"] == "body"
    assert error["limit_bytes"] == limit
    assert str(limit) in error["message"]


def test_declared_64_mb_body_is_refused_before_it_is_sent(server: str) -> None:
    """A Content-Length of 64 MB is answered 413 at once, while not one body byte has been sent."""
    with _connect(server) as sock:
        started = time.monotonic()
        sock.sendall(_head("/api/v1/tts", "application/json", 64 * 1024 * 1024))
        status, _, body = _read_response(sock)
    assert time.monotonic() - started < ANSWER_BOUND_S
    _assert_too_large(status, body, JSON_LIMIT)


def test_64_mb_body_sent_in_full_gets_413_quickly(server: str) -> None:
    """A client that sends all 64 MB anyway (httpx does) still reads the 413, and soon."""
    payload = b'{"text": "' + b"a" * (64 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    response = httpx.post(
        f"{server}/api/v1/tts", content=payload, headers={"content-type": "application/json"}, timeout=60
    )
    assert time.monotonic() - started < 30  # the server discards it at socket speed; no parsing
    _assert_too_large(response.status_code, response.json(), JSON_LIMIT)


def test_chunked_body_without_length_is_cut_off_at_the_limit(server: str) -> None:
    """A chunked body is counted as it arrives: 413 once it passes the limit, before it ends."""
    with _connect(server) as sock:
        sock.sendall(_head("/api/v1/tts", "application/json", None))
        for _ in range(JSON_LIMIT // 65536 + 2):  # a little over the limit, and no final chunk
            sock.sendall(_chunk(b"a" * 65536))
        status, _, body = _read_response(sock)
    _assert_too_large(status, body, JSON_LIMIT)


def test_multipart_upload_over_the_job_limit_is_refused(server: str) -> None:
    """A multipart job upload over the job limit gets 413 naming that limit (no spooling to disk)."""
    response = httpx.post(
        f"{server}/api/v1/jobs", files={"file": ("book.txt", b"word " * (JOB_LIMIT // 4), "text/plain")}
    )
    _assert_too_large(response.status_code, response.json(), JOB_LIMIT)


def test_chunked_multipart_upload_is_cut_off_at_the_job_limit(server: str) -> None:
    """A chunked multipart upload is refused the moment it passes the job limit."""
    boundary = "voxgateboundary"
    opening = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="book.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    with _connect(server) as sock:
        sock.sendall(_head("/api/v1/jobs", f"multipart/form-data; boundary={boundary}", None))
        sock.sendall(_chunk(opening))
        for _ in range(JOB_LIMIT // 65536 + 2):
            sock.sendall(_chunk(b"word " * 13107))
        status, _, body = _read_response(sock)
    _assert_too_large(status, body, JOB_LIMIT)


def test_job_route_accepts_bodies_the_json_limit_would_refuse(server: str) -> None:
    """The job route has its own, larger limit: a 300 KiB job body is parsed (4xx for its content)."""
    response = httpx.post(f"{server}/api/v1/jobs", json={"text": "a" * (300 * 1024), "speed": 9})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "speed"


def test_stalled_body_gets_408(server: str) -> None:
    """A body that stops arriving is answered 408 after the body timeout, and the connection closes."""
    with _connect(server) as sock:
        sock.sendall(_head("/api/v1/tts", "application/json", 100) + b'{"text": ')
        started = time.monotonic()
        status, headers, body = _read_response(sock)
        waited = time.monotonic() - started
    assert status == 408, body
    assert body["error"]["code"] == "body_timeout"
    assert body["error"]["field"] == "body"
    assert headers.get("connection") == "close"
    assert BODY_TIMEOUT_S * 0.9 <= waited < BODY_TIMEOUT_S + ANSWER_BOUND_S


def test_small_requests_pass_untouched(server: str) -> None:
    """Bodies within the limit reach the routes as before (a real synthesis answers 200)."""
    response = httpx.post(f"{server}/api/v1/tts", json={"text": "Hello there."}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("audio/")


def test_default_limits_follow_the_text_and_job_limits() -> None:
    """Unset limits derive from text.max_chars and jobs.max_total_chars; set ones win."""
    limits = body_limits(Settings(text={"max_chars": 100_000}, jobs={"max_total_chars": 1000}))
    assert limits.default_bytes == 12 * 100_000 + 16 * 1024
    assert limits.for_scope({"method": "POST", "path": "/api/v1/jobs"}) == 4 * 1000 + 1024 * 1024
    assert limits.for_scope({"method": "GET", "path": "/api/v1/jobs"}) == limits.default_bytes
    assert body_limits(Settings()).default_bytes == JSON_LIMIT
    explicit = body_limits(Settings(limits={"json_body_bytes": 2048, "job_body_bytes": 4096}))
    assert (explicit.default_bytes, explicit.routes) == (2048, {("POST", "/api/v1/jobs"): 4096})
    assert isinstance(explicit, BodyLimits)


PATHOLOGICAL_MARKDOWN = "\n".join(
    ["# a" + " " * 3000 + "#" + " " * 3000 + "b", "**a " * 4000, "# a" + " " * 3000 + "#" + " " * 3000 + "b"]
)
"""Issue 11's upload: heading lines that made the ATX regex backtrack cubically, and unclosed bold."""


@pytest.fixture
def probe(server: str) -> Iterator[list[float]]:
    """Probe /healthz every 100 ms in a thread while the test runs; yields the probe latencies."""
    latencies: list[float] = []
    stop = threading.Event()

    def run() -> None:
        with httpx.Client(base_url=server, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                client.get("/healthz").raise_for_status()
                latencies.append(time.monotonic() - started)
                stop.wait(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        stop.set()
        thread.join(timeout=40)


def test_pathological_markdown_upload_does_not_stall_the_server(server: str, probe: list[float]) -> None:
    """Issue 11's Markdown job is answered promptly while /healthz keeps answering within 1 s."""
    time.sleep(0.3)  # the probe is running
    started = time.monotonic()
    response = httpx.post(
        f"{server}/api/v1/jobs",
        files={"file": ("book.md", PATHOLOGICAL_MARKDOWN.encode(), "text/markdown")},
        timeout=60,
    )
    answered = time.monotonic() - started
    time.sleep(0.3)
    assert response.status_code < 500, response.text
    assert answered < 20, answered
    if response.status_code in (200, 201):
        job = response.json()
        assert [c["title"] for c in job["chapters"]] == ["a # b", "a # b"]
        httpx.delete(f"{server}/api/v1/jobs/{job['id']}", timeout=30)  # keep piper free for the rest
    assert len(probe) >= 3
    assert max(probe) < 1.0, probe
