"""configure_logging: structlog and stdlib lines as one JSON stream on stderr."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from voxgate.logs import configure_logging


@pytest.fixture
def lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """JSON logging at INFO to a stand-in stderr; yields a reader of its lines. Restores logging."""
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(json_logs=True, level=logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], root.level = handlers, level
        structlog.reset_defaults()


def test_structlog_and_stdlib_lines_share_keys_and_context(lines: Callable[[], list[dict[str, Any]]]) -> None:
    """Both kinds of line carry event, level, logger, timestamp and the bound context; extras survive."""
    tokens = structlog.contextvars.bind_contextvars(request_id="r-1")
    try:
        structlog.get_logger("voxgate.access").info("request", status=200)
        logging.getLogger("voxgate.pool").warning("worker %d died", 3, extra={"engine": "piper"})
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
    native, stdlib = lines()
    common = {"event", "level", "logger", "timestamp", "request_id"}
    assert common <= native.keys()
    assert common <= stdlib.keys()
    assert (native["logger"], native["level"], native["status"]) == ("voxgate.access", "info", 200)
    assert (stdlib["event"], stdlib["level"], stdlib["engine"]) == ("worker 3 died", "warning", "piper")


def test_level_filters_both_kinds(lines: Callable[[], list[dict[str, Any]]]) -> None:
    """Below the configured level nothing is written, from structlog or stdlib."""
    structlog.get_logger("voxgate.x").debug("hidden")
    logging.getLogger("voxgate.x").debug("hidden too")
    assert lines() == []


def test_exceptions_render_and_uvicorn_colour_copies_are_dropped(
    lines: Callable[[], list[dict[str, Any]]],
) -> None:
    """A logged exception carries its traceback as text; uvicorn's color_message extra is not kept."""
    try:
        raise ValueError("bad")
    except ValueError:
        structlog.get_logger("voxgate.x").exception("failed")
    logging.getLogger("uvicorn.error").info(
        "Started %d", 1, extra={"color_message": "\x1b[36mStarted\x1b[0m"}
    )
    failed, started = lines()
    assert failed["level"] == "error"
    assert "ValueError: bad" in failed["exception"]
    assert started["event"] == "Started 1"
    assert "color_message" not in started


def test_httpx_request_lines_are_quiet_at_info(lines: Callable[[], list[dict[str, Any]]]) -> None:
    """httpx's INFO line per request (remote engine calls, health probes) is not written; warnings are."""
    httpx_log = logging.getLogger("httpx")
    try:
        httpx_log.info('HTTP Request: GET http://gpu-box/v1/models "HTTP/1.1 200 OK"')
        httpx_log.warning("something is wrong")
        assert [line["event"] for line in lines() if line["logger"] == "httpx"] == ["something is wrong"]
    finally:
        httpx_log.setLevel(logging.NOTSET)


def test_api_keys_in_websocket_query_strings_are_masked(lines: Callable[[], list[dict[str, Any]]]) -> None:
    """uvicorn's handshake line with ?key= (the realtime socket's browser key) has the key masked."""
    path = "/api/v1/tts/realtime?voice=joe&key=s3cret-key-value"
    logging.getLogger("uvicorn.error").info('%s - "WebSocket %s" [accepted]', "127.0.0.1:5", path)
    (line,) = lines()
    assert "s3cret" not in json.dumps(line)
    assert line["event"] == '127.0.0.1:5 - "WebSocket /api/v1/tts/realtime?voice=joe&key=***" [accepted]'
