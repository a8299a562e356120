"""The native API: ``POST /api/v1/tts`` and ``GET /api/v1/voices``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from voxgate.api.deps import ClientId, Synth
from voxgate.api.headers import voxgate_headers
from voxgate.api.schemas import TtsRequest
from voxgate.audio.formats import parse_format
from voxgate.service import SynthesisRequest
from voxgate.settings import Settings

router = APIRouter(tags=["native"])

_AUDIO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"audio/*": {}}, "description": "Audio, with X-Voxgate-* headers."}
}


@router.post("/api/v1/tts", responses=_AUDIO, response_class=Response)
async def tts(body: TtsRequest, synth: Synth, client_id: ClientId) -> Response:
    """Speak ``text``; answer with audio bytes (or a chunked stream) and how it was made."""
    started = time.perf_counter()
    request = SynthesisRequest(
        text=body.text,
        voice=body.voice,
        speed=body.speed,
        format=parse_format(body.format),
        sample_rate=body.sample_rate,
        priority=body.priority,
        deadline_s=body.deadline_ms / 1000 if body.deadline_ms is not None else None,
        client_id=client_id,
    )
    if body.stream:
        meta, chunks = await synth.stream(request)
        headers = voxgate_headers(meta, time.perf_counter() - started)
        return StreamingResponse(chunks, media_type=meta.media_type, headers=headers)
    result = await synth.synthesize(request)
    return Response(
        result.audio,
        media_type=result.meta.media_type,
        headers=voxgate_headers(result.meta, result.latency_s),
    )


@router.get("/api/v1/voices")
async def voices(synth: Synth, request: Request) -> dict[str, Any]:
    """Every voice with its languages, gender, engine, sample rate and fallback chain per language."""
    settings: Settings = request.state.settings
    return {
        "limits": {"max_chars": settings.text.max_chars},
        "voices": [
            {
                "id": v.id,
                "engine": v.engine,
                "languages": list(v.languages),
                "gender": v.gender.value,
                "sample_rate": v.sample_rate,
                "description": v.description,
                "fallback_chain": synth.chains.describe(v),
            }
            for v in synth.voices()
        ],
    }
