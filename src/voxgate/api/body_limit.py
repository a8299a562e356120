"""Request bodies bounded while they are read, as pure ASGI middleware (STYLE.md rule 8).

Every HTTP request has a body limit: the job submission route its own (uploads are large),
every other route the JSON limit. A request whose ``Content-Length`` is over the limit is
answered 413 before a byte of its body is read; a body without one (chunked) is counted as
``receive()`` yields it and answered 413 the moment the count passes the limit. Nothing is
buffered here: each chunk goes to the app as it arrives, so no route ever parses a body that
is too large. A body that stalls for ``timeout_s`` between two chunks, or that averages less
than ``min_rate`` bytes per second once it has taken ``timeout_s``, is answered 408 (a
slow-loris upload holds a connection for bounded time).

Once the middleware has answered, the app's own reading ends (``receive()`` reports a
disconnect), whatever it sends is dropped, and what it raises while unwinding is swallowed.
uvicorn (h11 and httptools alike) reads and discards the rest of the body as it arrives, so a
client that sends its whole body before reading (httpx does) still gets the 413; a 408 closes
the connection.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from voxgate.api.errors import error_body
from voxgate.settings import Settings

__all__ = ["BodyLimitMiddleware", "BodyLimits", "body_limits"]

_KIB = 1024
_MIB = 1024 * _KIB
_JSON_FLOOR = 256 * _KIB
_JSON_BYTES_PER_CHAR = 12  # a \uXXXX\uXXXX surrogate pair
_JSON_SLACK = 16 * _KIB
_JOB_BYTES_PER_CHAR = 4  # UTF-8
_JOB_SLACK = _MIB
JOBS_ROUTE = ("POST", "/api/v1/jobs")
"""The route whose body is a whole book."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Body limits and the body read timeout.

    Attributes:
        default_bytes: the limit of every route without its own.
        routes: ``(method, path)`` → limit, for routes with their own.
        timeout_s: longest wait for the next chunk of a body.
        min_rate: bytes per second a body must average after its first ``timeout_s`` (0: none).
    """

    default_bytes: int
    routes: Mapping[tuple[str, str], int] = field(default_factory=dict)
    timeout_s: float = 30.0
    min_rate: float = 0.0

    def for_scope(self, scope: Scope) -> int:
        """The limit of the request in ``scope``."""
        return self.routes.get((scope["method"], scope["path"]), self.default_bytes)


def body_limits(settings: Settings) -> BodyLimits:
    """The limits that ``settings.limits`` sets, with their defaults worked out.

    Args:
        settings: the configuration (``limits``, ``text.max_chars``, ``jobs.max_total_chars``).

    Returns:
        The JSON limit for every route, the job limit for ``POST /api/v1/jobs``, the timeout.
    """
    limits = settings.limits
    json_bytes = limits.json_body_bytes or max(
        _JSON_FLOOR, _JSON_BYTES_PER_CHAR * settings.text.max_chars + _JSON_SLACK
    )
    job_bytes = limits.job_body_bytes or _JOB_BYTES_PER_CHAR * settings.jobs.max_total_chars + _JOB_SLACK
    return BodyLimits(json_bytes, {JOBS_ROUTE: job_bytes}, limits.body_timeout_s, limits.body_min_rate)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed Content-Length before we are called
    return None


def _too_large(limit: int) -> tuple[int, dict[str, object], list[tuple[bytes, bytes]]]:
    body = error_body(
        "invalid_request_error",
        "body_too_large",
        f"the request body is larger than this route's limit of {limit} bytes",
        "body",
    )
    body["error"]["limit_bytes"] = limit
    return 413, body, []


def _too_slow(timeout_s: float, why: str) -> tuple[int, dict[str, object], list[tuple[bytes, bytes]]]:
    body = error_body("invalid_request_error", "body_timeout", f"{why}; send the body without pauses", "body")
    body["error"]["timeout_s"] = timeout_s
    return 408, body, [(b"connection", b"close")]


async def _answer(send: Send, answer: tuple[int, dict[str, object], list[tuple[bytes, bytes]]]) -> None:
    status, body, extra = answer
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode("latin-1")),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


class BodyLimitMiddleware:
    """Answers 413 for a body over its route's limit and 408 for a stalled one, while it is read.

    Args:
        app: the wrapped ASGI app.
        limits: the limits (see :func:`body_limits`).
    """

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection; scopes other than ``http`` pass through untouched."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limits.for_scope(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, _too_large(limit))
            return
        timeout_s, min_rate = self._limits.timeout_s, self._limits.min_rate
        began = time.monotonic()
        received = 0
        body_done = False
        started = False  # the app began its response
        answered = False  # we answered in its place

        async def bounded_receive() -> Message:
            nonlocal received, body_done, answered
            if body_done or answered:
                return await receive()  # after the body: disconnect notices only
            try:
                message = await asyncio.wait_for(receive(), timeout_s)
            except TimeoutError:
                answer = _too_slow(timeout_s, f"no part of the request body arrived for {timeout_s:g} s")
            else:
                if message["type"] != "http.request":
                    return message
                received += len(message.get("body", b""))
                body_done = not message.get("more_body", False)
                elapsed = time.monotonic() - began
                if received > limit:
                    answer = _too_large(limit)
                elif not body_done and elapsed > timeout_s and received < min_rate * elapsed:
                    rate = f"{received / elapsed:.0f} bytes/s, under the minimum of {min_rate:g}"
                    answer = _too_slow(timeout_s, f"the request body arrives at {rate}")
                else:
                    return message
            if not started:
                answered = True
                await _answer(send, answer)
            return {"type": "http.disconnect"}

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not answered:
                raise
            # The app saw a disconnect while reading the body we refused; it has nothing to say.
