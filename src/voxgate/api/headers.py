"""The ``X-Voxgate-*`` response headers that say how a request was answered."""

from __future__ import annotations

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
