"""Cancel a request's work when its client goes away before the answer.

ASGI tells an app that its client left with an ``http.disconnect`` message on ``receive``. Once a
route has read its body, nothing else reads ``receive`` until the response starts, so a request
whose client left would keep synthesising until its deadline. :func:`unless_disconnected` races the
work against that message and cancels the work when the client leaves first: the Synthesizer then
records the request as ``cancelled`` and refunds its characters. (A streamed body is watched by
Starlette's ``StreamingResponse`` itself once it starts.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive

__all__ = ["CLIENT_CLOSED_REQUEST", "client_gone", "unless_disconnected"]

T = TypeVar("T")

CLIENT_CLOSED_REQUEST = 499
"""Status logged for a request whose client left before the answer (nginx's convention)."""


def client_gone() -> Response:
    """The response to a client that has left: nobody reads it, the access log records 499."""
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def _disconnected(receive: Receive) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass  # more body (already read by the route) or other messages: keep listening
    except Exception:
        return


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Await ``work``, cancelling it if the client disconnects first.

    Call it only after the request body has been read (a JSON body parsed by FastAPI is).

    Args:
        request: the request whose client is watched.
        work: the coroutine that produces the answer.

    Returns:
        ``work``'s result, or ``None`` when the client left first (``work`` has then been
        cancelled and has finished cancelling).

    Raises:
        Exception: whatever ``work`` raises.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    try:
        await asyncio.wait((task, watcher), return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler itself is cancelled (server shutdown)
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))  # let it record and refund before the handler ends
    if task.cancelled():
        return None
    return task.result()
