"""The ``X-Voxgate-*`` response headers that say how a request was answered, and a stream's
verdict once its last segment is known (the headers leave with its first)."""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from voxgate.api.middleware import access_extras
from voxgate.service import SynthesisMeta

EXPOSED = [
    "X-Voxgate-Engine",
    "X-Voxgate-Voice",
    "X-Voxgate-Degraded",
    "X-Voxgate-Fallback-Reason",
    "X-Voxgate-Cache",
    "X-Voxgate-Latency-Ms",
    "X-Voxgate-Sample-Rate",
    "X-Voxgate-Ignored",
    "X-Voxgate-Spoken-By",
    "X-Voxgate-Degraded-Turns",
]


def voxgate_headers(meta: SynthesisMeta, latency_s: float) -> dict[str, str]:
    """Headers for an answer: engine, voice, degraded, fallback reason, cache, latency, sample rate,
    ``X-Voxgate-Ignored`` (comma-separated) when the engine that spoke did not act on an option, and
    ``X-Voxgate-Spoken-By`` (``voice@engine``, comma-separated) naming every voice that spoke, and
    ``X-Voxgate-Degraded-Turns`` (indexes from 0, comma-separated) for a dialogue's degraded turns
    (for a stream: those known when the headers leave, i.e. the first segment's)."""
    headers = {
        "X-Voxgate-Engine": meta.engine,
        "X-Voxgate-Voice": meta.voice,
        "X-Voxgate-Degraded": "true" if meta.degraded else "false",
        "X-Voxgate-Fallback-Reason": meta.fallback_reason or "",
        "X-Voxgate-Cache": "hit" if meta.cache_hit else "miss",
        "X-Voxgate-Latency-Ms": str(round(latency_s * 1000)),
        "X-Voxgate-Sample-Rate": str(meta.sample_rate),  # raw pcm does not say
    }
    if meta.ignored:
        headers["X-Voxgate-Ignored"] = ",".join(meta.ignored)
    if meta.spoken_by:
        headers["X-Voxgate-Spoken-By"] = ",".join(meta.spoken_by)
    if meta.degraded_turns:
        headers["X-Voxgate-Degraded-Turns"] = ",".join(map(str, meta.degraded_turns))
    return headers


def verdict(meta: SynthesisMeta) -> dict[str, Any]:
    """How the whole answer was made, for a stream's last event: ``engine`` (the one that spoke
    most segments), ``degraded``, ``fallback_reason`` and ``spoken_by`` (``voice@engine`` list)."""
    return {
        "engine": meta.engine,
        "degraded": meta.degraded,
        "fallback_reason": meta.fallback_reason,
        "spoken_by": list(meta.spoken_by),
    }


class StreamVerdict:
    """``Synthesizer.stream``'s ``on_done``: keeps the whole answer's metadata and puts it on the
    request's access-log line, whose ``engine`` and ``degraded`` would otherwise be the headers'
    (the first segment's).

    Args:
        scope: the request's ASGI scope (its access-log fields).
    """

    def __init__(self, scope: Scope) -> None:
        self.meta: SynthesisMeta | None = None
        self._scope = scope

    def __call__(self, meta: SynthesisMeta) -> None:
        self.meta = meta
        access_extras(self._scope).update(
            engine=meta.engine,
            degraded="true" if meta.degraded else "false",
            fallback_reason=meta.fallback_reason or "",
            spoken_by=",".join(meta.spoken_by),
        )
