"""Logging setup: one JSON object per line on stderr, from structlog and stdlib loggers alike.

structlog loggers (the access log) render natively, without a detour through stdlib
``logging`` (half the cost per line, which matters on every request); stdlib records
(uvicorn, the rest of voxgate) go through the same processors via structlog's
``ProcessorFormatter``. Both carry the context bound with ``structlog.contextvars`` (the
request id) and the same keys: ``event``, ``level``, ``logger``, ``timestamp``.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict


class _NamedWriteLogger(structlog.WriteLogger):
    """A ``WriteLogger`` with a ``name``, so ``add_logger_name`` works as for stdlib loggers."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _NamedWriteLoggerFactory:
    """Builds ``_NamedWriteLogger``s; ``structlog.get_logger(name)`` passes ``name`` here."""

    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._file, str(args[0]) if args else "root")


def _drop_color_message(_logger: Any, _method: str, event_dict: EventDict) -> EventDict:
    """uvicorn passes an ANSI-coloured copy of each message as an extra; JSON logs do not want it."""
    event_dict.pop("color_message", None)
    return event_dict


_QUERY_KEY = re.compile(r"([?&]key=)[^&\s\"']+")


class _RedactQueryKeys(logging.Filter):
    """Masks ``?key=`` values in log lines: uvicorn logs every WebSocket handshake with its query
    string, and browsers send the realtime socket's API key there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "key=" in record.msg:
            record.msg = _QUERY_KEY.sub(r"\1***", record.msg)
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "key=" in a for a in record.args):
            record.args = tuple(_QUERY_KEY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def configure_logging(*, json_logs: bool = True, level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging (voxgate, uvicorn) to one renderer on stderr.

    Context bound with ``structlog.contextvars`` (the request id) appears on every line.

    Args:
        json_logs: one JSON object per line; False for human-readable console lines.
        level: the lowest level written, for both structlog and stdlib loggers.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    stream = sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(_RedactQueryKeys())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # httpx writes a line per request it sends at INFO: every remote engine call (the access log
    # already has the request) and every health probe (every few seconds per remote). Warnings stay.
    logging.getLogger("httpx").setLevel(logging.WARNING if level > logging.DEBUG else level)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_NamedWriteLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
