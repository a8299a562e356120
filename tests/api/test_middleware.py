"""The request-context middleware: request ids, log context, access lines, pass-through, no buffering."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send
from structlog.testing import capture_logs

from voxgate.api.middleware import AccessRecord, RequestContextMiddleware, access_extras
from voxgate.logs import configure_logging
from voxgate.settings import Settings

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def client(
    make_client: Callable[[Settings], TestClient], api_settings: Callable[..., Settings]
) -> TestClient:
    """The real app (piper and espeak)."""
    return make_client(api_settings())


@pytest.fixture
def json_stderr(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """voxgate's JSON logging to a stand-in stderr; yields a reader of its lines. Restores logging."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(json_logs=True)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], root.level = handlers, level
        structlog.reset_defaults()


def _http_scope(path: str = "/", headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "headers": headers or [],
        "client": ("127.0.0.1", 40000),
    }


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


# ---- request ids on the real app -----------------------------------------------------------------
def test_incoming_request_id_is_echoed(client: TestClient) -> None:
    """A sane X-Request-Id (64 chars of the allowed alphabet) comes back unchanged."""
    given = "Abc.def_GHI-123." + "x" * 48
    response = client.get("/healthz", headers={"X-Request-Id": given})
    assert response.headers["x-request-id"] == given


def test_request_id_is_generated_when_absent(client: TestClient) -> None:
    """Without X-Request-Id every response gets a fresh random id."""
    first, second = (client.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize("bad", ["", "x" * 65, "has space", "a/b", "<script>", "semi;colon", "caf\xe9"])
def test_malformed_request_id_is_replaced(client: TestClient, bad: str) -> None:
    """Empty, over-long or oddly-charactered ids are not echoed; a generated one takes their place."""
    response = client.get("/healthz", headers={"X-Request-Id": bad.encode("latin-1")})
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def test_error_responses_carry_the_request_id(client: TestClient) -> None:
    """A 422 from the error table still gets X-Request-Id."""
    response = client.post("/api/v1/tts", json={"text": ""}, headers={"X-Request-Id": "bad-input-1"})
    assert response.status_code == 422
    assert response.headers["x-request-id"] == "bad-input-1"


def test_access_line_describes_a_tts_request(client: TestClient) -> None:
    """One access line per request with id, route, status, bytes, duration and the X-Voxgate headers."""
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        response = client.post("/api/v1/tts", json={"text": "Log this request.", "voice": "joe"})
    assert response.status_code == 200
    lines = [e for e in logs if e["event"] == "request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["request_id"] == response.headers["x-request-id"]
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "POST",
        "/api/v1/tts",
        "/api/v1/tts",
        200,
    )
    assert line["bytes"] == len(response.content)
    assert line["complete"] is True
    assert line["duration_ms"] > 0
    assert line["client"] == "testclient"
    assert (line["engine"], line["degraded"], line["cache"]) == ("piper", "false", "miss")
    assert line["log_level"] == "info"


def test_access_line_of_a_stream_counts_every_chunk(client: TestClient) -> None:
    """A streamed answer is logged once, after its last chunk, with all its bytes."""
    text = "The first sentence streams. The second one follows it."
    with capture_logs() as logs:
        response = client.post(
            "/api/v1/tts", json={"text": text, "voice": "joe", "format": "pcm", "stream": True}
        )
    assert response.status_code == 200
    lines = [e for e in logs if e["event"] == "request"]
    assert [(e["bytes"], e["complete"]) for e in lines] == [(len(response.content), True)]


# ---- the middleware on small ASGI apps ------------------------------------------------------------
def test_every_log_line_of_a_request_carries_its_id(json_stderr: Callable[[], list[dict[str, Any]]]) -> None:
    """stdlib and structlog lines written while serving carry the id; lines after the request do not."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        logging.getLogger("voxgate.test").warning("stdlib line")
        structlog.get_logger("voxgate.test").warning("structlog line")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def main() -> None:
        middleware = RequestContextMiddleware(app)
        await middleware(_http_scope(headers=[(b"x-request-id", b"trace-42")]), _no_body, send)
        logging.getLogger("voxgate.test").warning("after the request")

    asyncio.run(main())
    lines = json_stderr()
    events = {line["event"]: line for line in lines}
    assert set(events) == {"stdlib line", "structlog line", "request", "after the request"}
    for name in ("stdlib line", "structlog line", "request"):
        assert events[name]["request_id"] == "trace-42", name
    assert "request_id" not in events["after the request"]
    assert events["request"]["logger"] == "voxgate.access"
    assert (b"x-request-id", b"trace-42") in sent[0]["headers"]


def test_outer_error_handler_logs_with_the_request_id(
    json_stderr: Callable[[], list[dict[str, Any]]],
) -> None:
    """When the app raises, the id stays bound for Starlette's outer error handler and its log line."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def handler(_request: Request, exc: Exception) -> Response:
        logging.getLogger("voxgate.test").error("unhandled: %s", exc)
        return PlainTextResponse("internal error", status_code=500)

    async def send(_message: Message) -> None:
        return None

    stack = ServerErrorMiddleware(RequestContextMiddleware(app), handler=handler)
    with pytest.raises(RuntimeError, match="boom"):
        asyncio.run(stack(_http_scope(headers=[(b"x-request-id", b"oops-1")]), _no_body, send))
    events = {line["event"]: line for line in json_stderr()}
    assert events["request"]["status"] == 500
    assert events["unhandled: boom"]["request_id"] == "oops-1"


@pytest.mark.parametrize("kind", ["lifespan"])
def test_other_scopes_pass_through_untouched(kind: str) -> None:
    """Lifespan scopes reach the app with the very same scope, receive and send; no log line."""
    seen: list[tuple[Scope, Receive, Send]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append((scope, receive, send))

    async def receive() -> Message:
        return {"type": f"{kind}.startup" if kind == "lifespan" else "websocket.connect"}

    async def send(_message: Message) -> None:
        return None

    scope: Scope = {"type": kind, "path": "/ws", "headers": []}
    with capture_logs() as logs:
        asyncio.run(RequestContextMiddleware(app)(scope, receive, send))
    assert len(seen) == 1
    assert seen[0][0] is scope
    assert seen[0][1] is receive
    assert seen[0][2] is send
    assert logs == []


def test_streaming_body_is_not_buffered() -> None:
    """Chunk 1 reaches the server before the app makes chunk 2; the access line waits for the end."""
    records: list[AccessRecord] = []
    first_chunk_out = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-voxgate-engine", b"piper")]}
        )
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.wait_for(first_chunk_out.wait(), 5.0)  # only the server seeing chunk 1 releases us
        assert records == []  # nothing logged or observed mid-stream
        await send({"type": "http.response.body", "body": b"second", "more_body": False})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)
        if message.get("body") == b"first":
            first_chunk_out.set()

    middleware = RequestContextMiddleware(app, observers=[records.append])
    asyncio.run(asyncio.wait_for(middleware(_http_scope("/stream"), _no_body, send), 10.0))
    assert [m.get("body") for m in sent] == [None, b"first", b"second"]
    assert len(records) == 1
    record = records[0]
    assert (record.status, record.bytes_sent, record.complete, record.engine) == (200, 11, True, "piper")
    assert record.route == "unmatched"  # no router set scope["route"]


def test_a_routes_extras_replace_the_header_fields_of_its_access_line() -> None:
    """A stream states its whole answer's verdict at its end (after its headers): the access line
    and the record carry that, not the first segment's ``X-Voxgate-*`` headers."""
    records: list[AccessRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"x-voxgate-engine", b"piper"), (b"x-voxgate-degraded", b"false")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        access_extras(scope).update(engine="espeak", degraded="true", fallback_reason="piper:crashed")
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def send(_message: Message) -> None:
        return None

    middleware = RequestContextMiddleware(app, observers=[records.append])
    with capture_logs() as logs:
        asyncio.run(middleware(_http_scope("/stream"), _no_body, send))
    (line,) = [e for e in logs if e["event"] == "request"]
    assert (line["engine"], line["degraded"], line["fallback_reason"]) == ("espeak", "true", "piper:crashed")
    assert [(r.engine, r.degraded) for r in records] == [("espeak", "true")]


def test_app_error_is_logged_as_500_and_propagates() -> None:
    """An app that raises before answering: the access line says 500, incomplete, and the error goes on up."""
    records: list[AccessRecord] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    async def send(_message: Message) -> None:
        return None

    middleware = RequestContextMiddleware(app, observers=[records.append])
    with capture_logs() as logs, pytest.raises(RuntimeError, match="boom"):
        asyncio.run(middleware(_http_scope("/explode"), _no_body, send))
    assert [(r.status, r.complete, r.bytes_sent) for r in records] == [(500, False, 0)]
    assert [(e["event"], e["status"]) for e in logs] == [("request", 500)]


def test_a_websocket_gets_one_access_line_when_it_closes() -> None:
    """A WebSocket: one line at its end with status 101, frame bytes, the server's close code,
    the route's extras and the query with its key masked; the observer gets the same record."""
    records: list[AccessRecord] = []
    incoming = [{"type": "websocket.connect"}, {"type": "websocket.receive", "text": "hi"}]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await receive()
        await send({"type": "websocket.send", "bytes": b"\x00" * 10})
        await send({"type": "websocket.send", "text": "ok"})
        access_extras(scope).update(pieces=3, chars=42)
        await send({"type": "websocket.close", "code": 1000})

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1005}

    async def send(_message: Message) -> None:
        return None

    scope: Scope = {
        "type": "websocket",
        "path": "/ws",
        "headers": [(b"x-request-id", b"ws-1")],
        "query_string": b"voice=joe&key=secret-key-value&encoding=mulaw",
        "client": ("10.0.0.7", 5000),
    }
    with capture_logs() as logs:
        asyncio.run(RequestContextMiddleware(app, observers=[records.append])(scope, receive, send))
    (line,) = logs
    assert line["event"] == "request"
    assert line["method"] == "WEBSOCKET"
    assert line["query"] == "voice=joe&key=***&encoding=mulaw"
    assert (line["status"], line["bytes"], line["close_code"]) == (101, 12, 1000)
    assert (line["pieces"], line["chars"], line["client"]) == (3, 42, "10.0.0.7")
    assert "secret-key-value" not in json.dumps(line)
    (record,) = records
    assert (record.request_id, record.close_code, record.extras) == ("ws-1", 1000, {"pieces": 3, "chars": 42})


def test_a_websocket_closed_before_accept_is_logged_403_with_the_client_close_code() -> None:
    """Closed before it was accepted: status 403; a client that left first gives its own close code."""
    records: list[AccessRecord] = []

    async def refuse(_scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    async def leave(_scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the client goes away with 1001

    messages = iter([{"type": "websocket.connect"}, {"type": "websocket.connect"}])

    async def receive() -> Message:
        return next(messages, {"type": "websocket.disconnect", "code": 1001})

    async def send(_message: Message) -> None:
        return None

    for app in (refuse, leave):
        scope: Scope = {"type": "websocket", "path": "/ws", "headers": []}
        asyncio.run(RequestContextMiddleware(app, observers=[records.append])(scope, receive, send))
    assert [(r.status, r.close_code) for r in records] == [(403, 1008), (101, 1001)]
