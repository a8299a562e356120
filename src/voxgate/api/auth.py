"""Who is calling and what they may ask for: API keys, the metrics token, entitlements.

With API keys configured (``server.api_keys``) every route needs one, except ``/healthz`` and
``/readyz`` (probes) and the web UI's static files: the HTML, JS and CSS hold no data, and a
browser cannot attach a bearer token to a page navigation, so the UI loads, asks for the key and
sends it with every API call it makes. :class:`RequireKeyMiddleware` enforces this before any
route runs, for every route the app has (so a new route cannot be left open by forgetting a
dependency); ``/metrics`` also accepts ``server.metrics_token``.

Entitlements: each key names the priorities it may ask for and its shortest deadline; keyless
requests get ``server.keyless``'s, and the web UI (a browser request from a page of this server,
:func:`same_origin`) may also use ``interactive`` when ``server.keyless.ui_interactive`` is on.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers, QueryParams
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from voxgate.api.errors import response_for
from voxgate.api.ws_deny import deny_websocket
from voxgate.errors import NotEntitled, Unauthorized
from voxgate.settings import ServerSettings
from voxgate.types import Priority

__all__ = ["PUBLIC_PATHS", "ApiKeyAuth", "Caller", "Entitlements", "RequireKeyMiddleware", "query_key"]

PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})
"""Routes that never need a key (liveness and readiness probes)."""
METRICS_PATH = "/metrics"


@dataclass(frozen=True, slots=True)
class Entitlements:
    """What a client may ask for.

    Attributes:
        priorities: the scheduling classes it may use.
        min_deadline_ms: the shortest deadline it may ask for.
    """

    priorities: frozenset[Priority]
    min_deadline_ms: int

    def best(self, *preferred: Priority) -> Priority:
        """The first of ``preferred`` it may use, else its most urgent allowed class."""
        for priority in preferred:
            if priority in self.priorities:
                return priority
        return next(p for p in Priority if p in self.priorities)


@dataclass(frozen=True, slots=True)
class Caller:
    """An identified client.

    Attributes:
        client_id: the API key's name, or the remote address without keys.
        entitlements: what it may ask for.
    """

    client_id: str
    entitlements: Entitlements

    def check(self, priority: Priority, deadline_ms: int | None) -> None:
        """Refuse a priority or an explicit deadline the caller is not entitled to.

        Raises:
            NotEntitled: ``field`` ``priority`` or ``deadline_ms``.
        """
        allowed = self.entitlements.priorities
        if priority not in allowed:
            names = ", ".join(p.value for p in Priority if p in allowed)
            raise NotEntitled(
                "priority", f"priority {priority.value!r} is not allowed for this client; use {names}"
            )
        least = self.entitlements.min_deadline_ms
        if deadline_ms is not None and deadline_ms < least:
            raise NotEntitled("deadline_ms", f"deadline_ms must be at least {least} for this client")


def _bearer(headers: Headers, query_key: str | None = None) -> bytes | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        return token.encode()
    return query_key.encode() if query_key else None


def query_key(scope: Scope) -> str | None:
    """The ``key`` query parameter of a WebSocket handshake (browsers cannot set its headers).

    Only WebSocket handshakes may carry the key in the URL: an HTTP request's URL ends up in
    access logs and browser history, and every HTTP client can send a header.
    """
    if scope["type"] != "websocket":
        return None
    return QueryParams(scope.get("query_string", b"")).get("key") or None


def same_origin(headers: Headers) -> bool:
    """Whether a browser sent the request from a page this server served.

    Browsers say so with ``Sec-Fetch-Site: same-origin`` on every request, and with an ``Origin``
    naming the host the request was sent to on POSTs (older browsers send only the latter).
    """
    if headers.get("sec-fetch-site") == "same-origin":
        return True
    origin, host = headers.get("origin"), headers.get("host")
    if not origin or not host or origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


class ApiKeyAuth:
    """Identifies clients and their entitlements.

    Args:
        settings: ``api_keys`` (name → key, entitlements), ``metrics_token`` and ``keyless``.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self._keys = [(name, k.key.get_secret_value().encode()) for name, k in settings.api_keys.items()]
        self._entitlements = {
            name: Entitlements(frozenset(k.priorities), k.min_deadline_ms)
            for name, k in settings.api_keys.items()
        }
        keyless = settings.keyless
        self._keyless = Entitlements(frozenset(keyless.priorities), keyless.min_deadline_ms)
        self._ui = Entitlements(self._keyless.priorities | {Priority.INTERACTIVE}, keyless.min_deadline_ms)
        self._ui_interactive = keyless.ui_interactive
        token = settings.metrics_token
        self._metrics_token = token.get_secret_value().encode() if token is not None else None

    @classmethod
    def from_keys(cls, keys: Mapping[str, str]) -> ApiKeyAuth:
        """Keys with default entitlements (name → token), e.g. for tests."""
        return cls(ServerSettings.model_validate({"api_keys": {n: {"key": k} for n, k in keys.items()}}))

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a key."""
        return bool(self._keys)

    @property
    def guards_metrics(self) -> bool:
        """Whether ``/metrics`` needs a key or the metrics token."""
        return self.enabled or self._metrics_token is not None

    def client_name(self, headers: Headers, key: str | None = None) -> str:
        """The name of the key a request carries.

        Args:
            headers: the request's headers (``Authorization: Bearer <key>``).
            key: a key given otherwise (a WebSocket's ``?key=``), used without the header.

        Raises:
            Unauthorized: no key, or not a known one.
        """
        presented = _bearer(headers, key)
        if presented is None:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        match = None
        for name, secret in self._keys:  # compare against every key: no timing hint of which exists
            if hmac.compare_digest(presented, secret):
                match = name
        if match is None:
            raise Unauthorized("invalid API key")
        return match

    def metrics_allowed(self, headers: Headers) -> bool:
        """Whether a request may read ``/metrics``: the metrics token, or any API key."""
        presented = _bearer(headers)
        token = self._metrics_token
        if presented is not None and token is not None and hmac.compare_digest(presented, token):
            return True
        if not self.enabled:
            return False
        try:
            self.client_name(headers)
        except Unauthorized:
            return False
        return True

    def identify(self, headers: Headers, peer: str | None, key: str | None = None) -> Caller:
        """The caller of a request.

        Args:
            headers: the request's headers.
            peer: the remote address, the client id when no keys are configured.
            key: a key given otherwise (a WebSocket's ``?key=``), used without the header.

        Raises:
            Unauthorized: keys are configured and the request has no valid one.
        """
        if self._keys:
            name = self.client_name(headers, key)
            return Caller(name, self._entitlements[name])
        ui = self._ui_interactive and same_origin(headers)
        return Caller(peer or "local", self._ui if ui else self._keyless)


def _api_route(scope: Scope) -> bool:
    """Whether any route of the app (not the web UI's static mount) serves this path."""
    app = scope.get("app")
    routes = getattr(getattr(app, "router", None), "routes", ())
    return any(not isinstance(r, Mount) and r.matches(scope)[0] is not Match.NONE for r in routes)


class RequireKeyMiddleware:
    """Refuses (401) requests without a valid key to every route but the public ones.

    Public: :data:`PUBLIC_PATHS` and whatever no route of the app serves (the web UI's static
    files, and 404s). ``/metrics`` takes the metrics token or a key. Pure ASGI; nothing is
    buffered.

    Args:
        app: the wrapped ASGI app.
        auth: the keys.
    """

    def __init__(self, app: ASGIApp, *, auth: ApiKeyAuth) -> None:
        self.app = app
        self._auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the key of an HTTP request or WebSocket handshake, then pass it on; others pass through."""
        if scope["type"] in ("http", "websocket") and not await self._allowed(scope, receive, send):
            return
        await self.app(scope, receive, send)

    async def _allowed(self, scope: Scope, receive: Receive, send: Send) -> bool:
        path: str = scope["path"]
        headers = Headers(scope=scope)
        if path == METRICS_PATH and self._auth.guards_metrics:
            if self._auth.metrics_allowed(headers):
                return True
            error = Unauthorized("send the metrics token or an API key: 'Authorization: Bearer <token>'")
        elif not self._auth.enabled or path in PUBLIC_PATHS:
            return True
        else:
            try:
                self._auth.client_name(headers, query_key(scope))
                return True
            except Unauthorized as exc:
                if not _api_route(scope):  # matched only now: most requests carry a valid key
                    return True
                error = exc
        if scope["type"] == "websocket":  # refused before the upgrade is accepted
            await deny_websocket(response_for(error), scope, receive, send)
        else:
            await response_for(error)(scope, receive, send)
        return False
