"""uvicorn options that bound what a client can make the HTTP server hold before the app sees a request.

The body limits live in :mod:`voxgate.api.body_limit`; they apply once a request's headers are
complete. Before that only the HTTP parser stands between a client and the server's memory:
uvicorn's httptools parser (its default when installed) accepts a header of any size (measured:
a 32 MB header line raised the server's RSS by 64 MB and was answered 200), while its h11
parser refuses any request head over ``h11_max_incomplete_event_size``. HTTP parsing is a
negligible share of a speech request, so voxgate serves with h11.

Not covered here: a client that sends its headers a byte at a time holds a connection (uvicorn
has no header read timeout); put a reverse proxy with one in front of a server exposed to
untrusted networks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_HEAD_BYTES", "uvicorn_options"]

MAX_HEAD_BYTES = 64 * 1024
"""Largest request line plus headers accepted (browsers send a few KiB; cookies rarely 16 KiB)."""
KEEP_ALIVE_S = 5
"""An idle keep-alive connection is closed after this long (uvicorn's default, written down)."""


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` that bound request heads.

    Returns:
        ``http``, ``h11_max_incomplete_event_size`` and ``timeout_keep_alive``.
    """
    return {
        "http": "h11",
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
