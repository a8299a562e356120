"""Request ids and access logs, as pure ASGI middleware (STYLE.md rule 8).

Every HTTP request gets an id: the caller's ``X-Request-Id`` when it is sane (1–64 characters
of ``[A-Za-z0-9._-]``), else a fresh one. The id is bound into structlog's context variables
for the request's lifetime, so every log line written while serving it (structlog or stdlib,
through :func:`voxgate.logs.configure_logging`) carries ``request_id``; it is echoed in the
``X-Request-Id`` response header. When the response ends (for a stream: after its last
chunk) one ``request`` line is logged and an :class:`AccessRecord` goes to each observer
(the metrics). The body passes through untouched: nothing is buffered. A route may add fields
to that line, or replace the ones taken from ``X-Voxgate-*`` headers, with :func:`access_extras`
(a stream states its whole answer's engine and verdict there, known only after its headers).

A WebSocket connection gets the same: an id bound while it is served, and one ``request`` line
(method ``WEBSOCKET``) when it ends, with its status (101 once accepted, a refusal's HTTP status,
403 when closed before it was accepted), its duration, the bytes of the frames sent, the close
code (the server's, else the client's) and its query string with any ``key`` masked. A route
adds its own figures (a realtime socket's pieces and characters) with :func:`access_extras`.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_VOXGATE_HEADERS = {
    b"x-voxgate-engine": "engine",
    b"x-voxgate-degraded": "degraded",
    b"x-voxgate-cache": "cache",
}
UNMATCHED_ROUTE = "unmatched"
"""Route label of a request no route matched (bounded label values for metrics)."""
WEBSOCKET = "WEBSOCKET"
"""The ``method`` of a WebSocket connection's record."""
_EXTRAS = "voxgate.access_extras"
_QUERY_KEY = re.compile(r"(^|&)(key=)[^&]*")


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One finished HTTP request.

    Attributes:
        request_id: the id echoed in ``X-Request-Id``.
        method: HTTP method.
        path: the request path (no query string: it may hold secrets).
        route: the matched route's template (e.g. ``/api/v1/tts``), or ``"unmatched"``.
        status: response status; 500 when the app raised before answering.
        duration_s: seconds from the request's arrival to its last body byte.
        client: the peer address, if known.
        bytes_sent: response body bytes.
        complete: the body ended normally (False: the app raised or the client went away).
        engine: ``X-Voxgate-Engine`` of the response, if any (a stream's: of the whole answer,
            when the route put its verdict in :func:`access_extras`).
        degraded: ``X-Voxgate-Degraded``, if any (likewise).
        cache: ``X-Voxgate-Cache``, if any.
        close_code: a WebSocket's close code: the server's, else the client's (None: HTTP, or
            the connection ended without one).
        extras: what the route added with :func:`access_extras`.
    """

    request_id: str
    method: str
    path: str
    route: str
    status: int
    duration_s: float
    client: str | None
    bytes_sent: int
    complete: bool
    engine: str | None = None
    degraded: str | None = None
    cache: str | None = None
    close_code: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)


AccessObserver = Callable[[AccessRecord], None]


def access_extras(scope: Scope) -> dict[str, Any]:
    """The fields a route adds to its request's access line (a dict it may write into).

    Outside :class:`RequestContextMiddleware` (a bare app in a test) the fields go nowhere.
    """
    extras: dict[str, Any] = scope.setdefault(_EXTRAS, {})
    return extras


def masked_query(scope: Scope) -> str:
    """The query string with the value of any ``key`` parameter replaced by ``***``."""
    query: str = scope.get("query_string", b"").decode("latin-1")
    return _QUERY_KEY.sub(r"\1\2***", query)


def request_id_from(scope: Scope) -> str:
    """The caller's ``X-Request-Id`` when it is sane, else a new random id (32 hex digits)."""
    for key, value in scope.get("headers", ()):
        if key == _REQUEST_ID_KEY:
            candidate: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(16).hex()


def route_of(scope: Scope) -> str:
    """The template of the route the router matched (set in ``scope["route"]``), else ``"unmatched"``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) and template else UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Assigns request ids, binds them to the log context, and logs one line per request.

    Args:
        app: the wrapped ASGI app.
        observers: called with each finished request's :class:`AccessRecord` (e.g. metrics).
            An observer must be cheap and must not raise.
        logger_name: name of the access logger.
    """

    def __init__(
        self, app: ASGIApp, *, observers: Sequence[AccessObserver] = (), logger_name: str = "voxgate.access"
    ) -> None:
        self.app = app
        self._observers = tuple(observers)
        self._log = structlog.get_logger(logger_name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection; scopes other than ``http`` and ``websocket`` pass through untouched."""
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_from(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        id_header = (_REQUEST_ID_KEY, request_id.encode("latin-1"))
        status = 500
        sent = 0
        complete = False
        seen: dict[str, str] = {}

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent, complete
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                for key, value in headers:
                    field = _VOXGATE_HEADERS.get(key)  # ASGI header names are lowercase
                    if field is not None:
                        seen[field] = value.decode("latin-1")
                headers.append(id_header)
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
                complete = not message.get("more_body", False)
            await send(message)

        raised = True
        try:
            await self.app(scope, receive, send_with_id)
            raised = False
        finally:
            client = scope.get("client")
            seen.update(access_extras(scope))  # a stream's verdict replaces its first segment's headers
            record = AccessRecord(
                request_id=request_id,
                method=scope["method"],
                path=scope["path"],
                route=route_of(scope),
                status=status,
                duration_s=time.perf_counter() - started,
                client=client[0] if client else None,
                bytes_sent=sent,
                complete=complete,
                engine=seen.get("engine"),
                degraded=seen.get("degraded"),
                cache=seen.get("cache"),
            )
            self._finish(record, **{k: v for k, v in seen.items() if v})
            # On an exception the id stays bound: the outer error handler (Starlette's
            # ServerErrorMiddleware) logs it after we return, still within this request's task.
            if not raised:
                structlog.contextvars.reset_contextvars(**tokens)

    def _finish(self, record: AccessRecord, **fields: Any) -> None:
        """Write the access-log line of a finished request or connection and tell the observers."""
        self._log.info(
            "request",
            method=record.method,
            path=record.path,
            route=record.route,
            status=record.status,
            duration_ms=round(record.duration_s * 1000, 3),
            client=record.client,
            bytes=record.bytes_sent,
            complete=record.complete,
            **fields,
        )
        for observe in self._observers:
            observe(record)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one WebSocket connection and log it when it ends (see the module docstring)."""
        started = time.perf_counter()
        request_id = request_id_from(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        extras = access_extras(scope)
        status = 500
        sent = 0
        server_code: int | None = None
        client_code: int | None = None

        async def watch_send(message: Message) -> None:
            nonlocal status, sent, server_code
            kind = message["type"]
            if kind == "websocket.accept":
                status = 101
            elif kind == "websocket.http.response.start":  # a refusal with an HTTP answer
                status = message["status"]
            elif kind == "websocket.http.response.body":
                sent += len(message.get("body", b""))
            elif kind == "websocket.send":
                sent += len(message.get("bytes") or b"") + len((message.get("text") or "").encode())
            elif kind == "websocket.close":
                status = 403 if status == 500 else status  # closed before it was accepted
                server_code = server_code or message.get("code", 1000)
            await send(message)

        async def watch_receive() -> Message:
            nonlocal client_code
            message = await receive()
            if message["type"] == "websocket.disconnect" and client_code is None:
                client_code = message.get("code", 1005)
            return message

        raised = True
        try:
            await self.app(scope, watch_receive, watch_send)
            raised = False
        finally:
            client = scope.get("client")
            record = AccessRecord(
                request_id=request_id,
                method=WEBSOCKET,
                path=scope["path"],
                route=route_of(scope),
                status=status,
                duration_s=time.perf_counter() - started,
                client=client[0] if client else None,
                bytes_sent=sent,
                complete=not raised,
                close_code=server_code if server_code is not None else client_code,
                extras=dict(extras),
            )
            self._finish(record, query=masked_query(scope), close_code=record.close_code, **record.extras)
            if not raised:
                structlog.contextvars.reset_contextvars(**tokens)
