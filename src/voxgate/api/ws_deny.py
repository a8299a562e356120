"""Refusing a WebSocket handshake with an HTTP answer (status and JSON body), before it is accepted."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["POLICY_VIOLATION", "deny_websocket"]

POLICY_VIOLATION = 1008
"""Close code when the server cannot answer a handshake with HTTP (the handshake then fails with 403)."""


async def deny_websocket(response: Response, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a WebSocket handshake with ``response`` instead of accepting it.

    With the ASGI denial-response extension (uvicorn, Starlette's TestClient) the client gets the
    response's status, headers and JSON body; without it, the handshake is closed, which the
    server answers with 403.
    """
    if "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)
    else:
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": ""})
