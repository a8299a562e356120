"""The native API: ``POST /api/v1/tts`` and ``GET /api/v1/voices``."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from voxgate.api.deps import CallerDep, LexiconDep, Synth
from voxgate.api.disconnect import client_gone, unless_disconnected
from voxgate.api.headers import StreamVerdict, voxgate_headers
from voxgate.api.schemas import TtsRequest
from voxgate.api.timestamps import timed_answer
from voxgate.audio.formats import parse_format
from voxgate.emotion import parse_emotion
from voxgate.engines.registry import engines_off
from voxgate.service import SynthesisRequest
from voxgate.settings import Settings
from voxgate.text.dialogue import DialogueTurn
from voxgate.text.ssml import is_ssml
from voxgate.types import Priority

router = APIRouter(tags=["native"])

_AUDIO: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"audio/*": {}, "application/json": {}, "text/event-stream": {}},
        "description": (
            "Audio, with X-Voxgate-* headers; with timestamps: JSON (audio in base64, words, sentences, "
            "marks), or Server-Sent Events when streamed."
        ),
    }
}


@router.post("/api/v1/tts", responses=_AUDIO, response_class=Response)
async def tts(
    body: TtsRequest, synth: Synth, caller: CallerDep, http: Request, lexicon: LexiconDep
) -> Response:
    """Speak ``text``; answer with audio bytes (or a chunked stream) and how it was made.

    403 naming ``priority`` or ``deadline_ms`` when the caller may not ask for them. A client that
    leaves before the answer cancels the synthesis. 422 naming ``emotion`` or ``emotion.<name>``
    for an emotion that is not one (see :func:`voxgate.emotion.parse_emotion`). A ``text`` that
    starts with ``<speak`` is SSML (see :mod:`voxgate.text.ssml`): malformed → 422 naming ``text``
    with the line and column; dropped elements and attributes are listed in ``X-Voxgate-Ignored``.
    ``dialogue`` instead of ``text``: each turn in its own voice (422 naming ``dialogue[i].voice``
    for an unknown one), an exact pause after each turn but the last; ``X-Voxgate-Degraded-Turns``
    lists the turns a fallback engine spoke; with ``timestamps`` each word names its turn and
    voice (see :mod:`voxgate.api.timestamps`). The caller's pronunciation lexicon
    (``/api/v1/lexicon``) applies to the text, every turn, or the SSML document's text.
    """
    started = time.perf_counter()
    caller.check(body.priority, body.deadline_ms)
    body.check_source()
    text = body.text or ""
    dialogue = None
    if body.dialogue is not None:
        dialogue = tuple(
            DialogueTurn(t.voice, t.text, t.pause_ms / 1000 if t.pause_ms is not None else None)
            for t in body.dialogue
        )
    request = SynthesisRequest(
        text=text,
        voice=body.voice or (dialogue[0].voice if dialogue else None),
        speed=body.speed,
        format=parse_format(body.format),
        sample_rate=body.sample_rate,
        priority=body.priority,
        deadline_s=body.deadline_ms / 1000 if body.deadline_ms is not None else None,
        client_id=caller.client_id,
        emotion=parse_emotion(body.emotion),
        ssml=is_ssml(text),
        dialogue=dialogue,
        lexicon=lexicon,
        timestamps=body.timestamps,
    )
    if body.timestamps:
        return await timed_answer(
            http, synth, request, stream=body.stream, latency_s=time.perf_counter() - started
        )
    if body.stream:
        streamed = await unless_disconnected(http, synth.stream(request, on_done=StreamVerdict(http.scope)))
        if streamed is None:
            return client_gone()
        meta, chunks = streamed
        headers = voxgate_headers(meta, time.perf_counter() - started)
        return StreamingResponse(chunks, media_type=meta.media_type, headers=headers)
    result = await unless_disconnected(http, synth.synthesize(request))
    if result is None:
        return client_gone()
    return Response(
        result.audio,
        media_type=result.meta.media_type,
        headers=voxgate_headers(result.meta, result.latency_s),
    )


@router.get("/api/v1/voices")
async def voices(synth: Synth, request: Request, caller: CallerDep) -> dict[str, Any]:
    """Every voice with its languages, gender, engine, sample rate and fallback chain per language.

    ``limits`` are the caller's: the text limit, the priorities it may ask for (most urgent
    first) and its shortest deadline. ``engines_off`` names each local engine that offers no
    voices and why (disabled, or an optional engine's package or model files missing).
    """
    settings: Settings = request.state.settings
    allowed = caller.entitlements.priorities
    running = {v.engine for v in synth.voices()}
    return {
        "limits": {
            "max_chars": settings.text.max_chars,
            "priorities": [p.value for p in Priority if p in allowed],
            "min_deadline_ms": caller.entitlements.min_deadline_ms,
        },
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
        "engines_off": {name: why for name, why in engines_off(settings).items() if name not in running},
    }
