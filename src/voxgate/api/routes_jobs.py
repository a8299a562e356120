"""Long-form jobs over HTTP: ``/api/v1/jobs`` (submit, follow, download, cancel, delete).

Routes parse and delegate to :class:`voxgate.jobs.JobService`; errors go through the one table
in :mod:`voxgate.api.errors`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, JSONResponse, Response

from voxgate.api.deps import ApiKeyAuth, ClientId, LexiconDep
from voxgate.errors import InvalidInput
from voxgate.jobs import AudioFile, JobService, JobSpec
from voxgate.jobs.errors import JobsDisabled
from voxgate.jobs.plan import chapters_from_list, chapters_from_text, check_ssml_markdown, decode_upload

router = APIRouter(tags=["jobs"])

_AUDIO: dict[int | str, dict[str, Any]] = {200: {"content": {"audio/*": {}}, "description": "Audio file."}}


class JobOptions(BaseModel):
    """Options of a job, in a JSON body or as form fields beside an uploaded file."""

    model_config = ConfigDict(extra="forbid")

    voice: str | None = Field(default=None, description="Voice id; default: the book language's default.")
    speed: float = Field(default=1.0, ge=0.5, le=2.0, description="Speaking rate.")
    format: str = Field(
        default="mp3", description="Chapters and book as mp3, opus, flac, wav, mulaw or alaw."
    )
    title: str = Field(default="", max_length=500, description="A name for the book.")
    speak_titles: bool = Field(default=True, description="Read each chapter's title before its text.")
    script: bool = Field(
        default=False,
        description=(
            "The text is a script: lines 'Name: text' are spoken by the speaker's voice; other lines "
            "continue the turn before them (narrator before the first)."
        ),
    )
    speakers: dict[str, str] | None = Field(
        default=None,
        max_length=100,
        description="For a script: speaker name → voice id; 'narrator' reads lines outside turns.",
    )
    ssml: bool = Field(
        default=False,
        description=(
            "Every chapter's text is an SSML document (<speak>...</speak>), parsed at submission as on "
            "POST /api/v1/tts: malformed → 422 naming the chapter, line and column; dropped elements are "
            "listed in the job's 'ignored'. Titles stay plain text. Not with script or Markdown."
        ),
    )

    @field_validator("speakers", mode="before")
    @classmethod
    def _speakers_from_form(cls, value: Any) -> Any:
        """A form field carries the map as a JSON object."""
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError("must be a JSON object of speaker names to voice ids") from None
        return value

    def spec_options(self) -> dict[str, Any]:
        """The script options of a :class:`JobSpec`."""
        return {
            "script": self.script,
            "speakers": tuple((self.speakers or {}).items()),
            "ssml": self.ssml,
        }


class ChapterIn(BaseModel):
    """One chapter of a ``chapters`` list."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(default="", max_length=500)
    text: str


class JobCreate(JobOptions):
    """``POST /api/v1/jobs`` as JSON: ``text`` (split at chapter headings) or ``chapters``."""

    text: str | None = Field(default=None, description="The whole book; split at chapter lines or headings.")
    markdown: bool = Field(default=False, description="``text`` is Markdown: split at its headings.")
    chapters: list[ChapterIn] | None = Field(default=None, description="The book as chapters.")

    @model_validator(mode="after")
    def _one_source(self) -> JobCreate:
        if (self.text is None) == (self.chapters is None):
            raise ValueError("give exactly one of text or chapters")
        return self


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Replace ``$ref``s into ``$defs`` by their target (OpenAPI extras cannot refer to ``$defs``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _request_body_doc() -> dict[str, Any]:
    schema = JobCreate.model_json_schema()
    upload = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "UTF-8 .txt or .md file."},
            **JobOptions.model_json_schema()["properties"],
        },
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _inline(schema, schema.get("$defs", {}))},
                "multipart/form-data": {"schema": upload},
            },
        }
    }


async def get_jobs(request: Request) -> JobService:
    """The jobs facade the lifespan opened.

    Raises:
        JobsDisabled: this gateway does not run jobs (``jobs.enabled = false``).
    """
    jobs: JobService | None = request.state.jobs
    if jobs is None:
        raise JobsDisabled()
    return jobs


async def get_viewer(request: Request, client_id: ClientId) -> str | None:
    """Whose jobs the caller may see: its own when API keys are on, everyone's otherwise."""
    auth: ApiKeyAuth = request.state.auth
    return client_id if auth.enabled else None


Jobs = Annotated[JobService, Depends(get_jobs)]
Viewer = Annotated[str | None, Depends(get_viewer)]


def _validated(model: type[JobOptions], data: bytes | dict[str, Any]) -> Any:
    try:
        if isinstance(data, bytes):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def _parse_json(body: bytes, max_line_chars: int) -> tuple[JobSpec, str]:
    """Validate a JSON submission and split its chapters (CPU-bound: runs in a thread)."""
    data: JobCreate = _validated(JobCreate, body)
    if data.chapters is not None:
        chapters, field = chapters_from_list([(c.title, c.text) for c in data.chapters]), "chapters"
    else:
        text, markdown = data.text or "", data.markdown
        check_ssml_markdown(data.ssml, markdown, "markdown")
        chapters, field = chapters_from_text(text, markdown=markdown, max_line_chars=max_line_chars), "text"
    spec = JobSpec(
        chapters, data.voice, data.speed, data.format, data.title, data.speak_titles, **data.spec_options()
    )
    return spec, field


async def _json_spec(request: Request, max_line_chars: int) -> tuple[JobSpec, str]:
    body = await request.body()  # bounded while read by BodyLimitMiddleware
    return await asyncio.to_thread(_parse_json, body, max_line_chars)


def _parse_upload(
    data: bytes, filename: str | None, fields: dict[str, Any], max_chars: int, max_line_chars: int
) -> JobSpec:
    """Validate an uploaded book and split its chapters (CPU-bound: runs in a thread)."""
    options: JobOptions = _validated(JobOptions, fields)
    text, markdown = decode_upload(data, filename, max_chars=max_chars)
    check_ssml_markdown(options.ssml, markdown, "file")
    title = options.title or PurePath(filename or "").stem
    chapters = chapters_from_text(text, markdown=markdown, max_line_chars=max_line_chars)
    options_ = options.spec_options()
    return JobSpec(
        chapters, options.voice, options.speed, options.format, title, options.speak_titles, **options_
    )


async def _upload_spec(request: Request, max_chars: int, max_line_chars: int) -> JobSpec:
    form = await request.form(max_files=1, max_fields=16)  # bounded while read by BodyLimitMiddleware
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", "attach the book as a file field named 'file' (UTF-8 .txt or .md)")
        data = await upload.read(4 * max_chars + 1)
        fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
    finally:
        await form.close()
    return await asyncio.to_thread(_parse_upload, data, upload.filename, fields, max_chars, max_line_chars)


@router.post("/api/v1/jobs", status_code=201, openapi_extra=_request_body_doc())
async def create_job(
    request: Request,
    jobs: Jobs,
    client_id: ClientId,
    lexicon: LexiconDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=255, description="Retrying with the same key returns the same job (200, not 201)."),
    ] = None,
) -> JSONResponse:
    """Submit a book: JSON ``text`` or ``chapters``, or a multipart upload of a UTF-8 .txt / .md ``file``.

    ``script`` with ``speakers`` (a JSON object; in a form, as JSON text): see :mod:`voxgate.jobs.script`.
    ``ssml``: every chapter's text is an SSML document (see :func:`voxgate.jobs.plan.plan_job`).
    The caller's lexicon (``say``, ``ipa`` and ``pinyin`` entries) applies as on ``POST /api/v1/tts``,
    as it is at submission.
    """
    max_chars = jobs.max_total_chars
    max_line_chars = request.state.settings.text.max_line_chars
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        spec, field = await _upload_spec(request, max_chars, max_line_chars), "file"
    elif content_type in ("", "application/json"):
        spec, field = await _json_spec(request, max_line_chars)
    else:
        raise HTTPException(
            415, f"send the job as application/json or a multipart/form-data upload, not {content_type!r}"
        )
    status, created = await jobs.submit(
        spec, owner=client_id, idempotency_key=idempotency_key, field=field, lexicon=lexicon
    )
    return JSONResponse(
        status, status_code=201 if created else 200, headers={"Location": f"/api/v1/jobs/{status['id']}"}
    )


@router.get("/api/v1/jobs")
async def list_jobs(jobs: Jobs, viewer: Viewer) -> dict[str, Any]:
    """The newest jobs (the caller's own when API keys are on), each with its progress."""
    return {"jobs": await jobs.list_jobs(viewer)}


@router.get("/api/v1/jobs/{job_id}")
async def get_job(job_id: str, jobs: Jobs, viewer: Viewer) -> dict[str, Any]:
    """Status, per-chapter progress, characters done / total, ETA, engines and degraded segments, and
    ``ignored``: SSML dropped at submission and what the engines did not act on (``ssml:pitch``)."""
    return await jobs.status(job_id, viewer)


@router.delete("/api/v1/jobs/{job_id}")
async def delete_job(job_id: str, jobs: Jobs, viewer: Viewer) -> dict[str, Any]:
    """Cancel a queued or running job (its status is returned; what was rendered is kept).

    On a finished, failed or cancelled job: delete it with every file
    (``{"id", "status": "deleted", "freed_bytes"}``); it is gone afterwards (404).
    """
    return await jobs.delete(job_id, viewer)


def _file(audio: AudioFile) -> FileResponse:
    return FileResponse(audio.path, media_type=audio.media_type, filename=audio.filename)


@router.get("/api/v1/jobs/{job_id}/audio", response_class=FileResponse, responses=_AUDIO)
async def book_audio(job_id: str, jobs: Jobs, viewer: Viewer) -> FileResponse:
    """The whole book as one file (chapters separated by a pause)."""
    return _file(await jobs.audio(job_id, viewer))


@router.get("/api/v1/jobs/{job_id}/chapters/{n}/audio", response_class=FileResponse, responses=_AUDIO)
async def chapter_audio(job_id: str, n: int, jobs: Jobs, viewer: Viewer) -> FileResponse:
    """Chapter ``n`` (from 1) as one file; available as soon as that chapter is rendered."""
    return _file(await jobs.audio(job_id, viewer, chapter=n))


@router.get("/api/v1/jobs/{job_id}/index")
async def chapter_index(job_id: str, jobs: Jobs, viewer: Viewer) -> dict[str, Any]:
    """The chapter index of a finished job: title, start time in the book, length, file name."""
    return await jobs.index(job_id, viewer)


@router.get("/api/v1/jobs/{job_id}/captions.vtt", response_class=Response)
async def captions_vtt(job_id: str, jobs: Jobs, viewer: Viewer, words: bool = False) -> Response:
    """WebVTT captions of the whole book, one cue per sentence; ``?words=true``: one cue per word."""
    text = await jobs.captions(job_id, viewer, "vtt", words=words)
    return Response(text, media_type="text/vtt; charset=utf-8")


@router.get("/api/v1/jobs/{job_id}/captions.srt", response_class=Response)
async def captions_srt(job_id: str, jobs: Jobs, viewer: Viewer) -> Response:
    """SubRip captions of the whole book, one cue per sentence."""
    return Response(
        await jobs.captions(job_id, viewer, "srt"), media_type="application/x-subrip; charset=utf-8"
    )
