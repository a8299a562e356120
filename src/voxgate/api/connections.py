"""Connections bounded before a request reaches the app: a head read timeout and a connection cap.

uvicorn's h11 protocol has no header read timeout: a client that sends its request head a byte
at a time holds a connection (and a file descriptor) for as long as it likes, and a few hundred
such clients exhaust the process's fds, after which no one is served (measured with
``bench/slowloris.py``). uvicorn's ``limit_concurrency`` does not help: it is checked only once
a head is complete, so the slow heads are never refused while complete requests are answered 503.

:class:`GuardedH11Protocol` is uvicorn's h11 protocol plus two bounds, both below the app:

- while the server is reading bytes that no app code is waiting for (a request head, from the
  connection's first byte or the next request's first byte; or the rest of a body the app
  answered without reading, e.g. after a 413), they must all have arrived within
  ``header_timeout_s``: otherwise the connection is answered 408 (when part of a head came) and
  closed. An idle keep-alive connection is uvicorn's business (``timeout_keep_alive``);
- a connection that would make more than ``max_connections``, or more than
  ``max_connections_per_client`` from one client address, is answered 503 and closed at once.

Bodies the app reads are bounded by :mod:`voxgate.api.body_limit` (408 for a slow body).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
from typing import Any, ClassVar

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from voxgate.api.errors import error_body

__all__ = ["FD_RESERVE", "GuardedH11Protocol", "default_max_connections", "guarded_h11"]

log = logging.getLogger(__name__)

FD_RESERVE = 256
"""File descriptors kept for everything but client connections (worker pipes, cache, logs, Redis)."""
_MIN_CONNECTIONS = 64


def default_max_connections() -> int:
    """The connection cap when none is configured: this process's open-file limit minus the reserve.

    Returns:
        The soft ``RLIMIT_NOFILE`` minus :data:`FD_RESERVE` (at least 64), so the cap is reached
        before the process runs out of file descriptors and can no longer accept anyone.
    """
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 16
    return max(_MIN_CONNECTIONS, soft - FD_RESERVE)


def _raw_response(status: int, reason: str, body: dict[str, Any], extra: bytes = b"") -> bytes:
    payload = json.dumps(body).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\nconnection: close\r\n".encode("latin-1")
        + extra
        + b"\r\n"
        + payload
    )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request head read timeout and a connection cap.

    Build a configured subclass with :func:`guarded_h11`; the class attributes are its settings.
    """

    header_timeout_s: ClassVar[float] = 10.0
    """Longest time from the first byte of a request head (or the connection) to its last."""
    max_connections: ClassVar[int | None] = None
    """Most open connections (None: no cap)."""
    max_connections_per_client: ClassVar[int | None] = None
    """Most open connections from one client address (None: no cap)."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._read_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection, or answer 503 when it is one over a connection cap."""
        super().connection_made(transport)
        refusal = self._over_cap()
        if refusal is not None:
            log.debug("connection refused: %s", refusal)
            body = error_body("server_error", "too_many_connections", refusal)
            transport.write(_raw_response(503, "Service Unavailable", body, b"retry-after: 1\r\n"))
            transport.close()
            return
        self._watch_reads()

    def _over_cap(self) -> str | None:
        """Why this new connection is one too many, or None."""
        cap, per_client = self.max_connections, self.max_connections_per_client
        if cap is not None and len(self.connections) > cap:
            return f"the server holds its maximum of {cap} connections"
        if per_client is not None and self.client is not None:
            host = self.client[0]
            # a scan, not a shared counter: uvicorn's set of connections is the one source of truth
            same = sum(1 for c in self.connections if (getattr(c, "client", None) or ("",))[0] == host)
            if same > per_client:
                return f"this client holds the maximum of {per_client} connections per client"
        return None

    def data_received(self, data: bytes) -> None:
        """Feed the parser, then start or stop the read deadline."""
        super().data_received(data)
        self._watch_reads()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the read deadline, then let uvicorn clean up."""
        self._stop_timer()
        super().connection_lost(exc)

    def _unattended(self) -> bool:
        """The client is sending bytes no app code waits for: a request head, or a body already answered."""
        theirs, ours = self.conn.their_state, self.conn.our_state
        return theirs is h11.IDLE or (theirs is h11.SEND_BODY and ours in (h11.DONE, h11.MUST_CLOSE))

    def _watch_reads(self) -> None:
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self or not self._unattended():
            self._stop_timer()  # closed, upgraded (WebSocket), or the app is reading the body
        elif self._read_timer is None:
            self._read_timer = self.loop.call_later(self.header_timeout_s, self._read_timed_out)

    def _stop_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        transport = self.transport
        if transport.is_closing() or not self._unattended():
            return
        partial_head = self.conn.our_state is h11.IDLE and bool(self.conn.trailing_data[0])
        log.debug("closing a connection that sent too slowly (partial head: %s)", partial_head)
        if partial_head:
            message = f"the request head did not arrive within {self.header_timeout_s:g} s"
            body = error_body("invalid_request_error", "header_timeout", message)
            body["error"]["timeout_s"] = self.header_timeout_s
            transport.write(_raw_response(408, "Request Timeout", body))
        transport.close()


def guarded_h11(
    header_timeout_s: float, max_connections: int | None, max_connections_per_client: int | None = None
) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass with these bounds, for uvicorn's ``http`` option.

    Args:
        header_timeout_s: see :attr:`GuardedH11Protocol.header_timeout_s`.
        max_connections: see :attr:`GuardedH11Protocol.max_connections`.
        max_connections_per_client: see :attr:`GuardedH11Protocol.max_connections_per_client`.

    Returns:
        A protocol class uvicorn instantiates once per connection.
    """
    bounds = {
        "header_timeout_s": header_timeout_s,
        "max_connections": max_connections,
        "max_connections_per_client": max_connections_per_client,
    }
    return type("GuardedH11Protocol", (GuardedH11Protocol,), bounds)
