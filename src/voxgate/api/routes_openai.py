"""The OpenAI-compatible API: ``POST /v1/audio/speech`` and ``GET /v1/models``.

Works unmodified with OpenAI's clients (``client.audio.speech.create``, its streaming variant,
``client.models.list``). Model and voice names are resolved in :mod:`voxgate.api.openai_voices`.

Differences from OpenAI, on purpose:
- the answer is always streamed, one encoded piece per sentence (OpenAI streams too); the audio
  cache is therefore not consulted on this route;
- ``pcm`` is 24 kHz signed 16-bit little-endian mono, as OpenAI's; the other formats keep the
  voice's native rate (Opus: 48 kHz);
- ``mulaw`` and ``alaw`` (an extension: raw G.711 at 8 kHz, no container, for telephony) are
  accepted besides OpenAI's formats;
- ``instructions`` is read for what it says plainly about rate and emotion ("Speak slowly and
  cheerfully.", see :mod:`voxgate.instructions`): the rate multiplies ``speed`` (kept within
  0.25–4), the emotion becomes the native ``emotion`` option; what was not understood is listed
  in ``X-Voxgate-Ignored`` as ``instructions:<words>`` (or ``instructions``), and an engine that
  cannot act on the emotion adds ``emotion`` there, as on the native route;
- ``stream_format: sse`` sends ``data:`` lines, ``{"type": "speech.audio.delta", "audio": <base64>}``
  per piece and one ``{"type": "speech.audio.done", "usage": {...}}``; voxgate has no tokens, so
  ``input_tokens`` counts the input's characters and ``output_tokens`` is 0. A failure after the
  first piece is reported as ``{"type": "error", "error": {...}}`` and ends the stream. As on
  OpenAI, ``sse`` is refused for ``tts-1`` and ``tts-1-hd``.

An ``input`` that starts with ``<speak`` is SSML, as on the native route.

Errors have OpenAI's shape (``{"error": {"message", "type", "param", "code"}}``, see
:mod:`voxgate.api.errors`) and name OpenAI's fields (``input``, not ``text``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from starlette.responses import JSONResponse, Response, StreamingResponse

from voxgate.api.deps import CallerDep, ClientId, LexiconDep, Synth
from voxgate.api.disconnect import client_gone, unless_disconnected
from voxgate.api.errors import error_body, response_for
from voxgate.api.headers import StreamVerdict, verdict, voxgate_headers
from voxgate.api.openai_voices import LEGACY_MODELS, model_names, parse_model, resolve_voice
from voxgate.audio.formats import parse_format
from voxgate.errors import InvalidInput, InvalidOption, TextTooLong, VoxgateError
from voxgate.instructions import read_instructions
from voxgate.planning import MAX_SPEED, MIN_SPEED
from voxgate.service import SynthesisRequest
from voxgate.text.ssml import is_ssml, rough_text
from voxgate.types import AudioFormat, Priority

router = APIRouter(tags=["openai"])

MAX_INPUT_CHARS = 4096
"""OpenAI's limit on ``input``; longer texts belong in a batch job."""
PCM_RATE = 24000
"""OpenAI's ``pcm`` is 24 kHz."""
_CREATED = 0
"""``created`` of every model: voxgate does not date its models."""
# Synthesizer field names → the OpenAI request field a client sent.
_FIELDS = {"text": "input", "format": "response_format", "sample_rate": "response_format"}

_AUDIO: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"audio/*": {}, "text/event-stream": {}},
        "description": "Audio bytes (chunked), or Server-Sent Events with stream_format=sse.",
    }
}


def _voice_id(value: Any) -> Any:
    """Accept OpenAI's custom-voice object ``{"id": ...}`` as its id (other values pass unchanged)."""
    if isinstance(value, dict) and set(value) == {"id"} and isinstance(value["id"], str):
        return value["id"]
    return value


# A plain string to validate (so errors name "voice", not a union member), documented as both forms.
VoiceName = Annotated[
    str,
    Field(min_length=1, max_length=200),
    BeforeValidator(_voice_id),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 200},
                {
                    "type": "object",
                    "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 200}},
                    "required": ["id"],
                    "additionalProperties": False,
                },
            ]
        }
    ),
]


class SpeechRequest(BaseModel):
    """``POST /v1/audio/speech``, OpenAI's request body."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1,
        max_length=200,
        description="tts-1, tts-1-hd, gpt-4o-mini-tts, voxgate, or an engine name (see GET /v1/models).",
    )
    input: str = Field(
        min_length=1,
        description=f"Text or an SSML document (<speak>...), at most {MAX_INPUT_CHARS} characters.",
    )
    voice: VoiceName = Field(
        description='An OpenAI voice name (alloy, ash, ...) or a voxgate voice id, or {"id": <either>}.'
    )
    instructions: str | None = Field(
        default=None,
        max_length=4096,
        description="Plain words for rate and emotion are acted on ('Speak slowly and cheerfully.'); "
        "the rest is listed in X-Voxgate-Ignored as instructions:<words>.",
    )
    response_format: str = Field(
        default="mp3",
        description="mp3, opus, aac, flac, wav, pcm (24 kHz s16le), or mulaw/alaw (raw G.711, 8 kHz).",
    )
    speed: float = Field(default=1.0, ge=0.25, le=4.0, description="Speaking rate.")
    stream_format: Literal["audio", "sse"] = Field(
        default="audio", description="audio: chunked bytes; sse: speech.audio.delta events."
    )


@contextmanager
def _openai_fields() -> Iterator[None]:
    """Rename the field of an input error to the OpenAI request field the client sent."""
    try:
        yield
    except InvalidInput as exc:
        exc.field = _FIELDS.get(exc.field, exc.field)
        raise


def _model_not_found(model: str, status: int = 400) -> JSONResponse:
    # "model" exists only on this API, so it has no domain error; the body is the shared shape.
    message = f"unknown model {model!r}; see GET /v1/models"
    return JSONResponse(error_body("invalid_request_error", "model_not_found", message, "model"), status)


@router.post("/v1/audio/speech", responses=_AUDIO, response_class=Response)
async def speech(
    body: SpeechRequest, synth: Synth, caller: CallerDep, http: Request, lexicon: LexiconDep
) -> Response:
    """Speak ``input`` as OpenAI's speech endpoint does: chunked audio bytes, or SSE events.

    Priority ``api`` (``batch`` for a key allowed only that): OpenAI's clients are programs.
    """
    started = time.perf_counter()
    choice = parse_model(body.model, synth.engines())
    if choice is None:
        return _model_not_found(body.model)
    if body.stream_format == "sse" and body.model in LEGACY_MODELS:
        raise InvalidOption("stream_format", f"stream_format 'sse' is not supported for {body.model}")
    if len(body.input) > MAX_INPUT_CHARS:
        raise TextTooLong(len(body.input), MAX_INPUT_CHARS, field="input")
    asked = read_instructions(body.instructions)
    with _openai_fields():
        fmt = parse_format(body.response_format)
        ssml = is_ssml(body.input)
        hint = rough_text(body.input) if ssml else body.input  # the language of the words, not the tags
        request = SynthesisRequest(
            text=body.input,
            voice=resolve_voice(body.voice, hint, synth.catalog, choice.engine),
            speed=min(MAX_SPEED, max(MIN_SPEED, body.speed * asked.rate)),
            format=fmt,
            sample_rate=PCM_RATE if fmt is AudioFormat.PCM else None,
            priority=caller.entitlements.best(Priority.API, Priority.BATCH),
            client_id=caller.client_id,
            ssml=ssml,
            text_field="input",
            lexicon=lexicon,
            emotion=asked.emotion,
        )
        final = StreamVerdict(http.scope)
        streamed = await unless_disconnected(http, synth.stream(request, on_done=final))
    if streamed is None:
        return client_gone()
    meta, chunks = streamed
    headers = voxgate_headers(
        replace(meta, ignored=(*meta.ignored, *asked.ignored)), time.perf_counter() - started
    )
    if body.stream_format == "sse":
        headers["Cache-Control"] = "no-cache"
        events = _sse_events(chunks, len(body.input), final)
        return StreamingResponse(events, media_type="text/event-stream", headers=headers)
    return StreamingResponse(chunks, media_type=meta.media_type, headers=headers)


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


async def _sse_events(
    chunks: AsyncIterator[bytes], input_chars: int, final: StreamVerdict | None = None
) -> AsyncIterator[bytes]:
    """One ``speech.audio.delta`` per encoded piece, then ``speech.audio.done`` with usage and
    ``voxgate`` (how the whole answer was made: the headers say how its first sentence was)."""
    try:
        async for piece in chunks:
            if piece:
                yield _event({"type": "speech.audio.delta", "audio": base64.b64encode(piece).decode("ascii")})
    except VoxgateError as exc:
        yield _event({"type": "error", **json.loads(bytes(response_for(exc).body))})
        return
    finally:
        if isinstance(chunks, AsyncGenerator):
            await chunks.aclose()
    usage = {"input_tokens": input_chars, "output_tokens": 0, "total_tokens": input_chars}
    done: dict[str, Any] = {"type": "speech.audio.done", "usage": usage}
    if final is not None and final.meta is not None:
        done["voxgate"] = verdict(final.meta)
    yield _event(done)


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": "voxgate"}


@router.get("/v1/models")
async def models(synth: Synth, _client: ClientId) -> dict[str, Any]:
    """The model names ``/v1/audio/speech`` accepts, in OpenAI's list format (needs the API key)."""
    return {"object": "list", "data": [_model(name) for name in model_names(synth.engines())]}


@router.get("/v1/models/{model}", response_model=None)
async def retrieve_model(model: str, synth: Synth, _client: ClientId) -> dict[str, Any] | JSONResponse:
    """One model, as OpenAI's ``GET /v1/models/{model}``; 404 naming ``model`` when unknown."""
    if parse_model(model, synth.engines()) is None:
        return _model_not_found(model, status=404)
    return _model(model)
