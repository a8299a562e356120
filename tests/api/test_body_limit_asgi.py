"""BodyLimitMiddleware at the ASGI level: what the app sees, what the client gets, and nothing buffered."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from voxgate.api.body_limit import BodyLimitMiddleware, BodyLimits

LIMIT = 100


def _scope(headers: list[tuple[bytes, bytes]] | None = None) -> Scope:
    return {"type": "http", "method": "POST", "path": "/api/v1/tts", "headers": headers or []}


def _receiver(chunks: list[bytes], *, stall: bool = False) -> Receive:
    """Yield ``chunks`` as http.request messages; then stall forever (if asked) or disconnect."""
    queue = list(chunks)

    async def receive() -> Message:
        if queue:
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue) or stall}
        if stall:
            await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


async def _reading_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body like a route does, then echoes its length; raises on a disconnect."""
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def _run(
    app: Any, scope: Scope, receive: Receive, timeout_s: float = 5.0, min_rate: float = 0.0
) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    middleware = BodyLimitMiddleware(app, limits=BodyLimits(LIMIT, timeout_s=timeout_s, min_rate=min_rate))
    asyncio.run(asyncio.wait_for(middleware(scope, receive, send), 10))
    return sent


def _status_and_body(sent: list[Message]) -> tuple[int, bytes]:
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_body_at_the_limit_reaches_the_app() -> None:
    """Exactly ``limit`` bytes in several chunks pass through, chunk by chunk."""
    sent = _run(_reading_app, _scope(), _receiver([b"x" * 40, b"x" * 40, b"x" * 20]))
    assert _status_and_body(sent) == (200, b"100")


def test_one_byte_over_is_413_and_the_app_unwinds_quietly() -> None:
    """The chunk that passes the limit is never given to the app; its disconnect error is swallowed."""
    sent = _run(_reading_app, _scope(), _receiver([b"x" * 60, b"x" * 41, b"x" * 1000]))
    status, body = _status_and_body(sent)
    assert status == 413
    assert json.loads(body)["error"]["limit_bytes"] == LIMIT
    assert len(sent) == 2  # only our answer: the app's later sends are dropped


def test_declared_length_over_the_limit_never_calls_the_app() -> None:
    """A Content-Length over the limit is refused before the app (or the body) is touched."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not run")

    sent = _run(app, _scope([(b"content-length", b"101")]), _receiver([]))
    assert _status_and_body(sent)[0] == 413


def test_stalled_body_is_408_with_connection_close() -> None:
    """No chunk for ``timeout_s`` → 408 naming the body, and the connection is to be closed."""
    sent = _run(_reading_app, _scope(), _receiver([b"x" * 10], stall=True), timeout_s=0.05)
    status, body = _status_and_body(sent)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "body_timeout"
    assert (b"connection", b"close") in sent[0]["headers"]


def test_trickled_body_under_the_minimum_rate_is_408() -> None:
    """A byte every 20 ms never trips the idle timeout but is far under 1 000 bytes/s: 408."""

    async def trickle() -> Message:
        await asyncio.sleep(0.02)
        return {"type": "http.request", "body": b"x", "more_body": True}

    sent = _run(_reading_app, _scope(), trickle, timeout_s=0.1, min_rate=1000)
    status, body = _status_and_body(sent)
    assert status == 408
    assert "under the minimum of 1000" in json.loads(body)["error"]["message"]


def test_app_errors_of_its_own_still_propagate() -> None:
    """An exception the middleware did not cause is not swallowed."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _run(app, _scope(), _receiver([b"ok"]))


def test_other_scopes_pass_through_untouched() -> None:
    """Lifespan and websocket scopes go to the app with the original receive and send."""
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    for kind in ("lifespan", "websocket"):
        _run(app, {"type": kind}, _receiver([]))
    assert seen == ["lifespan", "websocket"]
