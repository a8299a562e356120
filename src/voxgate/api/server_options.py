"""uvicorn options that bound what a client can make the HTTP server hold before the app sees a request.

The body limits live in :mod:`voxgate.api.body_limit`; they apply once a request's headers are
complete. Before that only the HTTP parser stands between a client and the server's memory:
uvicorn's httptools parser (its default when installed) accepts a header of any size (measured:
a 32 MB header line raised the server's RSS by 64 MB and was answered 200), while its h11
parser refuses any request head over ``h11_max_incomplete_event_size``. HTTP parsing is a
negligible share of a speech request, so voxgate serves with h11.

uvicorn has no header read timeout, so voxgate serves with its own h11 protocol
(:mod:`voxgate.api.connections`): a request head must arrive within ``server.header_timeout_s``
and at most ``server.max_connections`` connections are open at once
(``server.max_connections_per_client`` from one address).
"""

from __future__ import annotations

from typing import Any

from voxgate.api.connections import default_max_connections, guarded_h11
from voxgate.settings import ServerSettings

__all__ = ["MAX_HEAD_BYTES", "uvicorn_options"]

MAX_HEAD_BYTES = 64 * 1024
"""Largest request line plus headers accepted (browsers send a few KiB; cookies rarely 16 KiB)."""
KEEP_ALIVE_S = 5
"""An idle keep-alive connection is closed after this long (uvicorn's default, written down)."""


def uvicorn_options(server: ServerSettings | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` that bound request heads.

    Args:
        server: ``header_timeout_s``, ``max_connections`` and ``max_connections_per_client``
            (default: the defaults).

    Returns:
        ``http`` (voxgate's guarded h11 protocol), ``h11_max_incomplete_event_size`` and
        ``timeout_keep_alive``.
    """
    server = server or ServerSettings()
    max_connections = server.max_connections or default_max_connections()
    return {
        "http": guarded_h11(server.header_timeout_s, max_connections, server.max_connections_per_client),
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
