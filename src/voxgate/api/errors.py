"""The one table that maps domain errors to HTTP responses.

Every error body has the same shape, OpenAI-compatible and naming the field at fault::

    {"error": {"type": "invalid_request_error", "code": "unknown_voice",
               "message": "unknown voice 'x'", "field": "voice", "param": "voice"}}

No handler ever puts a stack trace in a response.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match, Mount

from voxgate.errors import (
    EngineError,
    InvalidInput,
    NoEngineAvailable,
    NotEntitled,
    QueueTimeout,
    Rejected,
    TextTooLong,
    Unauthorized,
    UnknownVoice,
    UnsupportedFormat,
    UnsupportedLanguage,
    VoxgateError,
)
from voxgate.jobs.errors import DiskBudgetExceeded, JobNotFound, JobsUnavailable

log = logging.getLogger(__name__)

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# (error class, status, error type, code); the first matching row wins, so subclasses come first.
_TABLE: list[tuple[type[VoxgateError], int, str, str]] = [
    (TextTooLong, 413, "invalid_request_error", "text_too_long"),
    (DiskBudgetExceeded, 413, "invalid_request_error", "disk_budget_exceeded"),
    (UnknownVoice, 400, "invalid_request_error", "unknown_voice"),
    (UnsupportedFormat, 400, "invalid_request_error", "unsupported_format"),
    (UnsupportedLanguage, 400, "invalid_request_error", "unsupported_language"),
    (NotEntitled, 403, "permission_error", "not_entitled"),
    (InvalidInput, 422, "invalid_request_error", "invalid_value"),
    (Unauthorized, 401, "authentication_error", "invalid_api_key"),
    (JobNotFound, 404, "invalid_request_error", "not_found"),  # and JobNotReady: no such audio yet
    (Rejected, 429, "rate_limit_error", "rejected"),
    (NoEngineAvailable, 503, "service_unavailable", "no_engine_available"),
    (QueueTimeout, 503, "service_unavailable", "queue_timeout"),
    (EngineError, 503, "service_unavailable", "engine_error"),
    (JobsUnavailable, 503, "service_unavailable", "jobs_unavailable"),
]


def error_body(kind: str, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON body every error response carries."""
    return {"error": {"type": kind, "code": code, "message": message, "field": field, "param": field}}


def response_for(error: VoxgateError) -> JSONResponse:
    """Map a domain error to its response (status, body, headers)."""
    status, kind, code = next(
        ((st, k, c) for cls, st, k, c in _TABLE if isinstance(error, cls)),
        (500, "internal_error", "internal_error"),
    )
    field = error.field if isinstance(error, InvalidInput) else None
    message = error.message if isinstance(error, InvalidInput) else str(error)
    headers: dict[str, str] = {}
    if type(error) is TextTooLong:  # a job over its size limit must not be pointed at jobs
        message += "; submit long texts as a batch job (POST /api/v1/jobs)"
    if isinstance(error, Rejected):
        code = error.reason
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    if isinstance(error, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(kind, code, message, field), status_code=status, headers=headers)


async def _domain(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, VoxgateError)
    return response_for(exc)


def _is_json(content_type: str) -> bool:
    media = content_type.partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _dotted(location: Sequence[Any]) -> str | None:
    """A field path as clients write it: ``dialogue[3].voice`` for ``("dialogue", 3, "voice")``."""
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or None


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":  # its loc is ("body", <character offset>), not a field
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        return JSONResponse(
            error_body("invalid_request_error", "invalid_json", f"malformed JSON body: {detail}", "body"),
            status_code=400,
        )
    content_type = request.headers.get("content-type")
    if tuple(first.get("loc", ())) == ("body",) and content_type and not _is_json(content_type):
        message = f"the body must be JSON (Content-Type: application/json), not {content_type!r}"
        return JSONResponse(
            error_body("invalid_request_error", "unsupported_media_type", message, "body"),
            status_code=415,
        )
    location = [part for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    field = _dotted(location)
    message = f"{field}: {first.get('msg', 'invalid')}" if field else str(first.get("msg", "invalid request"))
    body = error_body("invalid_request_error", "validation_error", message, field)
    body["error"]["details"] = [
        {"field": _dotted(e.get("loc", ())[1:]), "message": e.get("msg")} for e in errors
    ]
    return JSONResponse(body, status_code=422)


def _allowed_methods(request: Request) -> set[str]:
    """Methods API routes serve at this path when none serves this method, else nothing.

    The web UI is mounted at ``/`` and answers 404 for ``GET /api/v1/tts``: that must be a 405.
    """
    routes = [route for route in request.app.router.routes if not isinstance(route, Mount)]

    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in routes)

    if served(request.method):  # a route ran and answered 404/405 itself
        return set()
    return {method for method in _METHODS if served(method)}


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status, message, headers = exc.status_code, str(exc.detail), getattr(exc, "headers", None)
    allowed = _allowed_methods(request) if status in (404, 405) else set()
    if allowed:
        status, message = 405, f"{request.method} is not allowed here; use {', '.join(sorted(allowed))}"
        headers = {"Allow": ", ".join(sorted(allowed))}
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    return JSONResponse(
        error_body("invalid_request_error", code, message), status_code=status, headers=headers
    )


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "internal_error", "internal server error"), status_code=500
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the table on an app."""
    app.add_exception_handler(VoxgateError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
