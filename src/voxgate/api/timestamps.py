"""``"timestamps": true`` on ``POST /api/v1/tts``: the audio with the times of its words.

Whole answers are JSON: ``{audio (base64), format, sample_rate, words, sentences, marks, engine,
degraded, timing, ignored}``; ``words`` and ``sentences`` are ``{text, start, end}`` in seconds,
``marks`` ``{name, time}``, ``timing`` ``engine`` (the engine's own alignment) or ``estimate``.
With ``dialogue``, every word and sentence also has ``turn`` (the turn's index, from 0) and
``voice``; times run on across turns and their pauses.

Streamed answers (``"stream": true``) are Server-Sent Events, one group per sentence as it is
ready: ``event: audio`` (``{"audio": <base64 piece of the encoded stream>}``), then
``event: words`` (``{words, sentences, marks}`` of that piece, times from the start of the
stream); at the end ``event: done`` (``{engine, degraded, fallback_reason, spoken_by, format,
sample_rate, timing}``), which says how the whole answer was made: the ``X-Voxgate-*`` headers
leave with the first piece and say how its first sentence was (a later one may have degraded).
A failure after the first piece is sent as ``event: error`` with the usual error body and ends
the stream.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from voxgate.api.disconnect import client_gone, unless_disconnected
from voxgate.api.errors import response_for
from voxgate.api.headers import StreamVerdict, verdict, voxgate_headers
from voxgate.errors import VoxgateError
from voxgate.requests import SynthesisMeta, SynthesisRequest
from voxgate.service import Synthesizer
from voxgate.timestamps import Timestamps

__all__ = ["timed_answer"]


async def timed_answer(
    http: Request, synth: Synthesizer, request: SynthesisRequest, *, stream: bool, latency_s: float
) -> Response:
    """Answer ``request`` (which asks for timestamps) as JSON, or as SSE when ``stream``."""
    if stream:
        pending: list[Timestamps] = []
        final = StreamVerdict(http.scope)
        streamed = await unless_disconnected(
            http, synth.stream(request, on_timing=pending.append, on_done=final)
        )
        if streamed is None:
            return client_gone()
        meta, chunks = streamed
        headers = voxgate_headers(meta, latency_s)
        events = _events(meta, request, chunks, pending, final)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    result = await unless_disconnected(http, synth.synthesize(request))
    if result is None:
        return client_gone()
    timed = result.timestamps or Timestamps()
    body = {
        "audio": base64.b64encode(result.audio).decode("ascii"),
        "format": request.format.value,
        "sample_rate": result.meta.sample_rate,
        **timed.to_dict(),
        "engine": result.meta.engine,
        "degraded": result.meta.degraded,
        "ignored": list(result.meta.ignored),
    }
    return JSONResponse(body, headers=voxgate_headers(result.meta, result.latency_s))


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: ".encode() + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _events(
    meta: SynthesisMeta,
    request: SynthesisRequest,
    chunks: AsyncIterator[bytes],
    pending: list[Timestamps],
    final: StreamVerdict,
) -> AsyncIterator[bytes]:
    """``audio`` and ``words`` events per piece, then ``done``."""
    estimated = False

    def drained() -> list[bytes]:
        nonlocal estimated
        out = []
        for timed in pending:
            estimated = estimated or timed.estimated
            data = timed.to_dict()
            del data["timing"]
            out.append(_event("words", data))
        pending.clear()
        return out

    try:
        async for piece in chunks:
            if piece:
                yield _event("audio", {"audio": base64.b64encode(piece).decode("ascii")})
            for event in drained():
                yield event
    except VoxgateError as exc:
        yield _event("error", json.loads(bytes(response_for(exc).body)))
        return
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()
    done = {
        **verdict(final.meta or meta),  # the whole answer's, once its last piece is out
        "format": request.format.value,
        "sample_rate": meta.sample_rate,
        "timing": "estimate" if estimated else "engine",
    }
    yield _event("done", done)
