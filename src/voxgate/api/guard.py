"""Keep web pages from using the local user's browser against this server (CSRF, DNS rebinding).

Without API keys (the default, on localhost) anything that reaches the port is trusted, and any web
page the local user opens can make the browser send requests to it:

- **CSRF**: a page on another site POSTs to ``http://127.0.0.1:8000``. The browser sends "simple"
  cross-origin requests (``text/plain``, form-urlencoded or multipart bodies, or a body without a
  type) without asking the server first. So a state-changing request (POST, PUT, PATCH, DELETE)
  with a body must be ``application/json`` (which a page can only send cross-origin after a CORS
  preflight that this server never approves) or ``multipart/form-data``, and an ``Origin`` header,
  which browsers send with every cross-origin POST, must be this server's own or one of
  ``server.allowed_origins``. Non-browser clients (curl, SDKs) send no ``Origin`` and pass.
- **DNS rebinding**: a page on ``evil.example`` makes its own name resolve to 127.0.0.1, and is
  then same-origin with this server as far as the browser knows: it can read every answer. The
  ``Host`` header still says ``evil.example``, so requests naming a host outside the allow-list
  (localhost names, the bind address, ``server.allowed_hosts``) are refused with 421.

WebSocket handshakes (the realtime socket) get the ``Host`` check and the ``Origin`` check (a
browser sends ``Origin`` with every handshake, and CORS does not apply to sockets).

The content-type and ``Origin`` rules hold with API keys too (no legitimate client needs to break
them); the ``Host`` allow-list applies without keys, or with keys once ``allowed_hosts`` is set
(a server exposed on purpose under a public name needs its names listed). ``/healthz`` and
``/readyz`` are exempt from the ``Host`` check (probes call pods by address). Refusals are JSON
naming the header at fault. Pure ASGI: nothing is read or buffered.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from voxgate.api.errors import error_body
from voxgate.api.ws_deny import deny_websocket

__all__ = ["LOCAL_HOSTS", "BrowserGuardMiddleware"]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})
"""Host names accepted by default (plus ``*.localhost``, which browsers resolve to loopback)."""
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROBES = frozenset({"/healthz", "/readyz"})


def _hostname(host: str) -> str:
    """``Host`` header value without its port, lowercased (``[::1]:8000`` → ``[::1]``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _media_type(headers: Headers) -> str:
    return headers.get("content-type", "").partition(";")[0].strip().lower()


def _json_or_multipart(media: str) -> bool:
    return media in ("application/json", "multipart/form-data") or (
        media.startswith("application/") and media.endswith("+json")
    )


def _has_body(headers: Headers) -> bool:
    return headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in headers


class BrowserGuardMiddleware:
    """Refuses requests a web page could make through the user's browser.

    Args:
        app: the wrapped ASGI app.
        allowed_hosts: host names (no port) accepted besides :data:`LOCAL_HOSTS`; ``"*"`` = any.
        allowed_origins: origins (``scheme://host[:port]``) allowed besides the server's own.
        check_host: enforce the ``Host`` allow-list.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        check_host: bool = True,
    ) -> None:
        self.app = app
        # an IPv6 bind address ("::1") appears in Host headers in brackets ("[::1]:8000")
        extra = {
            _hostname(f"[{h}]" if h.count(":") > 1 and not h.startswith("[") else h) for h in allowed_hosts
        }
        self._any_host = "*" in extra
        self._hosts = LOCAL_HOSTS | extra
        self._origins = {o.strip().rstrip("/").lower() for o in allowed_origins}
        self._check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check an HTTP request's Host, Origin and Content-Type, a WebSocket handshake's Host and
        Origin; other scopes pass through."""
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        elif scope["type"] == "websocket":
            refusal = self._ws_refusal(scope)
            if refusal is not None:
                await deny_websocket(refusal, scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _ws_refusal(self, scope: Scope) -> JSONResponse | None:
        """A page on another site must not open a socket from the user's browser (cross-site
        WebSocket hijacking): browsers send ``Origin`` with every handshake, and no CORS applies."""
        headers = Headers(scope=scope)
        host = headers.get("host")
        if self._check_host and host is not None and not self._host_ok(host):
            message = f"this server does not answer to Host {host!r}; add the name to server.allowed_hosts"
            return _refuse(421, "host_not_allowed", message, "Host")
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, host):
            message = f"Origin {origin!r} may not open this socket (see server.allowed_origins)"
            return _refuse(403, "origin_not_allowed", message, "Origin")
        return None

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        headers = Headers(scope=scope)
        host = headers.get("host")
        if self._check_host and host is not None and scope["path"] not in _PROBES and not self._host_ok(host):
            message = (
                f"this server does not answer to Host {host!r}; add the name to server.allowed_hosts "
                "if it is yours"
            )
            return _refuse(421, "host_not_allowed", message, "Host")
        if scope["method"] not in _STATE_CHANGING:
            return None
        origin = headers.get("origin")
        if origin is not None and not self._origin_ok(origin, host):
            message = f"Origin {origin!r} may not send this request (see server.allowed_origins)"
            return _refuse(403, "origin_not_allowed", message, "Origin")
        media = _media_type(headers)
        if (_has_body(headers) or media) and not _json_or_multipart(media):
            sent = repr(media) if media else "no type"
            message = f"Content-Type must be application/json (multipart/form-data for uploads), not {sent}"
            return _refuse(415, "unsupported_media_type", message, "Content-Type")
        return None

    def _host_ok(self, host: str) -> bool:
        name = _hostname(host)
        return self._any_host or name in self._hosts or name.endswith(".localhost")

    def _origin_ok(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self._origins:
            return True
        return origin != "null" and host is not None and urlsplit(origin).netloc == host.strip().lower()


def _refuse(status: int, code: str, message: str, header: str) -> JSONResponse:
    return JSONResponse(error_body("invalid_request_error", code, message, header), status_code=status)
