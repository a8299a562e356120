"""``voxgate book``: render a book against a running server (HTTP) or in this process, with a progress bar.

Both ways submit the file with an idempotency key derived from its content and options, so
running the same command again after an interruption picks the same job up where it stopped
(in-process jobs live in ``OUTDIR/.voxgate/``). The results land in OUTDIR: one file per
chapter (``chapter-001.mp3``...), the whole book (``book.mp3``), ``index.json`` and captions
(``captions.vtt``, ``captions.srt``, and one cue per word in ``captions.words.vtt``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from voxgate.cli_common import LOCAL_CLIENT, local_settings, refusal, server_client
from voxgate.clock import SystemClock
from voxgate.jobs import JobService, JobSpec, open_jobs
from voxgate.jobs.captions import book_file_name, chapter_file_name
from voxgate.jobs.plan import chapters_from_text, check_ssml_markdown, decode_upload
from voxgate.settings import Settings
from voxgate.wiring import build_synthesizer

__all__ = ["BookFailed", "render_book"]

POLL_S = 0.5


class BookFailed(Exception):  # noqa: N818 (an outcome the user reads)
    """The job ended failed or cancelled, or the server refused it; the message says why."""


WORD_CAPTIONS = "captions.vtt?words=true"
"""The word-level WebVTT (written as ``captions.words.vtt``)."""


class _Driver(Protocol):
    async def submit(self) -> dict[str, Any]: ...
    async def status(self, job_id: str) -> dict[str, Any]: ...
    async def fetch(self, job_id: str, what: str, target: Path) -> None: ...


class _Local:
    def __init__(self, jobs: JobService, spec: JobSpec, key: str) -> None:
        self._jobs, self._spec, self._key = jobs, spec, key

    async def submit(self) -> dict[str, Any]:
        status, _ = await self._jobs.submit(self._spec, owner=LOCAL_CLIENT, idempotency_key=self._key)
        return status

    async def status(self, job_id: str) -> dict[str, Any]:
        return await self._jobs.status(job_id, None)

    async def fetch(self, job_id: str, what: str, target: Path) -> None:
        if what == "index":
            target.write_text(json.dumps(await self._jobs.index(job_id, None), ensure_ascii=False, indent=2))
        elif what == WORD_CAPTIONS:
            target.write_text(await self._jobs.captions(job_id, None, "vtt", words=True))
        elif what in ("captions.vtt", "captions.srt"):
            target.write_text(
                await self._jobs.captions(job_id, None, "vtt" if what.endswith("vtt") else "srt")
            )
        else:
            chapter = int(what.split("/")[1]) if what.startswith("chapters/") else None
            audio = await self._jobs.audio(job_id, None, chapter)
            await asyncio.to_thread(shutil.copyfile, audio.path, target)


class _Remote:
    def __init__(self, client: Any, data: bytes, name: str, options: dict[str, str], key: str) -> None:
        self._client, self._data, self._name, self._options, self._key = client, data, name, options, key

    def _check(self, response: Any) -> Any:
        if response.status_code >= 400:
            raise BookFailed(str(refusal(response)))
        return response

    async def submit(self) -> dict[str, Any]:
        files = {"file": (self._name, self._data, "text/plain")}
        response = await self._client.post(
            "/api/v1/jobs", files=files, data=self._options, headers={"Idempotency-Key": self._key}
        )
        result: dict[str, Any] = self._check(response).json()
        return result

    async def status(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._check(await self._client.get(f"/api/v1/jobs/{job_id}")).json()
        return result

    async def fetch(self, job_id: str, what: str, target: Path) -> None:
        path = f"/api/v1/jobs/{job_id}/{what}"
        async with self._client.stream("GET", path) as response:
            if response.status_code >= 400:
                await response.aread()
                self._check(response)
            with target.open("wb") as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)


async def _follow(driver: _Driver, console: Console) -> dict[str, Any]:
    status = await driver.submit()
    job_id = status["id"]
    console.print(f"job {job_id}: {status['progress']['chapters_total']} chapters, voice {status['voice']}")
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} chars"),
        TextColumn("ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("starting", total=status["progress"]["chars_total"], eta="?")
        while True:
            progress = status["progress"]
            eta = status.get("eta_s")
            bar.update(
                task,
                completed=progress["chars_done"],
                description=f"chapter {min(progress['chapters_done'] + 1, progress['chapters_total'])}"
                f"/{progress['chapters_total']}",
                eta=f"{eta:.0f} s" if eta is not None else "?",
            )
            if status["status"] in ("done", "failed", "cancelled"):
                return status
            await asyncio.sleep(POLL_S)
            status = await driver.status(job_id)


async def _collect(
    driver: _Driver, status: dict[str, Any], extension: str, out: Path, console: Console
) -> None:
    job_id = status["id"]
    for chapter in status["chapters"]:
        if chapter["audio_ready"]:
            name = chapter_file_name(chapter["n"], extension)
            await driver.fetch(job_id, f"chapters/{chapter['n']}/audio", out / name)
    if status["status"] != "done":
        raise BookFailed(f"job {job_id} {status['status']}: {status.get('error') or 'no reason given'}")
    await driver.fetch(job_id, "audio", out / book_file_name(extension))
    await driver.fetch(job_id, "index", out / "index.json")
    await driver.fetch(job_id, "captions.vtt", out / "captions.vtt")
    await driver.fetch(job_id, "captions.srt", out / "captions.srt")
    await driver.fetch(job_id, WORD_CAPTIONS, out / "captions.words.vtt")
    console.print(f"done: {len(status['chapters'])} chapters, engines {status['engines']} → {out}")


@asynccontextmanager
async def _local_jobs(settings: Settings, work: Path) -> AsyncIterator[JobService]:
    local = local_settings(settings).model_copy(
        update={
            "jobs": settings.jobs.model_copy(
                update={"database": work / "jobs.sqlite3", "audio_dir": work / "audio"}
            ),
        }
    )
    synth = build_synthesizer(local)
    await synth.start()
    try:
        jobs = open_jobs(local, synth, SystemClock())
        await jobs.start()
        try:
            yield jobs
        finally:
            await jobs.stop()
    finally:
        await synth.stop(grace_s=1.0)


async def render_book(
    source: Path,
    out: Path,
    *,
    settings: Settings,
    voice: str | None,
    fmt: str,
    speed: float,
    server: str | None,
    api_key: str | None,
    console: Console,
    ssml: bool = False,
    speakers: tuple[tuple[str, str], ...] | None = None,
) -> None:
    """Render ``source`` into ``out`` (see the module docstring).

    Args:
        source: a UTF-8 .txt or .md file.
        out: the output directory (created if missing).
        settings: configuration (in-process mode).
        voice: voice id, or ``None`` for the book language's default.
        fmt: output format (mp3, opus, flac, wav, mulaw, alaw).
        speed: speaking rate.
        ssml: every chapter's text is an SSML document (not with Markdown or a script).
        speakers: the file is a script ("Name: text" lines); speaker name → voice id.
        server: base URL of a running voxgate server; ``None`` renders in this process.
        api_key: bearer token for the server.
        console: where the progress bar goes.

    Raises:
        BookFailed: the job failed, was cancelled or refused.
        VoxgateError: the file or options are invalid (in-process mode).
    """
    data = source.read_bytes()
    options = {"format": fmt, "speed": str(speed), **({"voice": voice} if voice else {})}
    if ssml:
        options["ssml"] = "true"
    if speakers is not None:
        options |= {"script": "true", "speakers": json.dumps(dict(speakers), ensure_ascii=False)}
    key = hashlib.sha256(data + json.dumps(options, sort_keys=True).encode()).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    extension = {"opus": "opus", "flac": "flac", "wav": "wav", "mulaw": "ulaw", "alaw": "alaw"}.get(
        fmt, "mp3"
    )
    if server is None:
        text, markdown = decode_upload(data, source.name, max_chars=settings.jobs.max_total_chars)
        check_ssml_markdown(ssml, markdown, "file")
        chapters = chapters_from_text(text, markdown=markdown)
        spec = JobSpec(
            chapters,
            voice,
            speed,
            fmt,
            source.stem,
            ssml=ssml,
            script=speakers is not None,
            speakers=speakers or (),
        )
        async with _local_jobs(settings, out / ".voxgate") as jobs:
            local = _Local(jobs, spec, key)
            status = await _follow(local, console)
            await _collect(local, status, extension, out, console)
        return
    import httpx

    async with server_client(server, api_key, timeout_s=60.0) as client:
        remote = _Remote(client, data, source.name, options, key)
        try:
            status = await _follow(remote, console)
            await _collect(remote, status, extension, out, console)
        except httpx.HTTPError as exc:
            raise BookFailed(f"cannot reach {server}: {exc}") from exc
