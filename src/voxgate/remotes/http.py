"""HTTP failures of a remote, mapped onto voxgate's errors (shared by the HTTP kinds).

Who is to blame decides the mapping: the client's input (the router stops and answers 4xx, no
breaker blame), the remote (the breaker counts it and the router falls back), or the gateway's
own configuration of the remote (a wrong key or URL: the remote is unusable, so it is an engine
failure and the router falls back; telling the client "your input is wrong" would be false).

=====================================  ==========================================================
remote answer                          voxgate error
=====================================  ==========================================================
400, 409, 413, 415, 422, other 4xx     ``InvalidInput`` (field from the OpenAI error's ``param``)
4xx naming ``model``/``response_format`` ``EngineError`` (a field the gateway chose: configuration)
401, 403, 404, 405                     ``EngineUnavailable`` (key or URL: configuration)
408, 429, 5xx, 1xx/3xx                 ``EngineError``
connection refused/reset, DNS          ``EngineUnavailable``
timeout                                ``EngineTimeout``
=====================================  ==========================================================

The remote's error text is never forwarded raw: at most its OpenAI-shaped ``message``,
printable characters only, cut at 200 characters (an IndexTTS server answers 500 with a
traceback, which goes nowhere).
"""

from __future__ import annotations

import json

import httpx

from voxgate.errors import EngineError, EngineTimeout, EngineUnavailable, InvalidInput, VoxgateError

_CONFIG_STATUSES = frozenset({401, 403, 404, 405})
_ENGINE_STATUSES = frozenset({408, 429})
_GATEWAY_FIELDS = frozenset({"model", "response_format", "stream_format"})
# OpenAI request fields → the voxgate field the client sent.
_FIELDS = {"input": "text", "voice": "voice", "speed": "speed"}
_MAX_DETAIL = 200


def refusal(engine: str, status: int, body: bytes) -> VoxgateError:
    """The error for a non-2xx answer of ``engine`` (see the module table)."""
    param, message = _detail(body)
    if status in _CONFIG_STATUSES:
        return EngineUnavailable(engine, f"HTTP {status}: check its url and api key")
    if 400 <= status < 500 and status not in _ENGINE_STATUSES:
        if param in _GATEWAY_FIELDS:
            return EngineError(engine, f"HTTP {status} for {param}: check its configuration")
        field = _FIELDS.get(param or "", "text")
        reason = message or f"HTTP {status}"
        return InvalidInput(field, f"remote engine {engine} refused the request: {reason}")
    return EngineError(engine, f"HTTP {status}")


def transport_error(engine: str, exc: httpx.HTTPError, timeout_s: float) -> EngineError:
    """The error for a request to ``engine`` that got no HTTP answer."""
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return EngineTimeout(engine, timeout_s)
    return EngineUnavailable(engine, f"unreachable ({type(exc).__name__})")


def _detail(body: bytes) -> tuple[str | None, str | None]:
    """``param`` and ``message`` of an OpenAI-shaped error body, else ``(None, None)``."""
    try:
        data = json.loads(body[:65536])
    except (ValueError, UnicodeDecodeError):
        return None, None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    param = error.get("param")
    message = error.get("message")
    clean = "".join(c for c in message if c.isprintable())[:_MAX_DETAIL] if isinstance(message, str) else None
    return (param if isinstance(param, str) else None), clean
