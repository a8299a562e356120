"""The SLA bench's hostile clients, run beside the legitimate load of scenario 8 (the attackers' I/O).

What each attacker sends and when is in ``_sla_attack.py``. Each attempt is bounded by
``ATTACK_TIMEOUT_S`` (a slow-loris connection by ``LORIS_HOLD_S`` and the scenario's end), no
attempt starts after the scenario's arrival window, and every connection goes to 127.0.0.1. Jobs
an attacker managed to create are cancelled at the end so they do not run into the next scenario.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Collection, Iterator

import httpx

from _sla_attack import (
    ATTACK_TIMEOUT_S,
    ATTACKS,
    HUGE_BODY_BYTES,
    LORIS_BYTES_PER_S,
    LORIS_HOLD_S,
    MULTIPART_BOUNDARY,
    POISON_TEXTS,
    AttackRecord,
    AttackSpec,
    attack_times,
    huge_json,
    huge_multipart,
    leaver_text,
    loris_body_request,
    loris_headers_request,
    pathological_markdown,
    status_of,
)

_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=0)


class Attackers:
    """Every attacker of ``ATTACKS`` against one server.

    Args:
        base_url: ``http://127.0.0.1:<port>``.
        voice: the voice legitimate traffic uses (attackers ask for it too).
        t0: the scenario's start (``time.perf_counter()``).
        duration_s: the scenario's arrival window; no attempt starts after it.
        kinds: the attackers to run (default: all of ``ATTACKS``).

    Raises:
        ValueError: a URL other than 127.0.0.1, or an unknown attacker.
    """

    def __init__(
        self, base_url: str, voice: str, t0: float, duration_s: float, kinds: Collection[str] = ()
    ) -> None:
        if not base_url.startswith("http://127.0.0.1:"):
            raise ValueError(f"attackers only talk to 127.0.0.1, not {base_url}")
        self.base_url = base_url
        self.port = int(base_url.rsplit(":", 1)[1])
        self.voice = voice
        self.t0 = t0
        self.duration_s = duration_s
        known = [spec.kind for spec in ATTACKS]
        unknown = set(kinds) - set(known)
        if unknown:
            raise ValueError(f"unknown attackers {sorted(unknown)}; known: {', '.join(known)}")
        self.specs = [spec for spec in ATTACKS if not kinds or spec.kind in kinds]
        self.records: list[AttackRecord] = []
        self.jobs: list[str] = []

    def now(self) -> float:
        """Seconds since the scenario's start."""
        return time.perf_counter() - self.t0

    async def run(self) -> list[AttackRecord]:
        """Run every attacker to its end; cancel the jobs they created; every attempt's record."""
        async with httpx.AsyncClient(base_url=self.base_url, limits=_LIMITS, timeout=ATTACK_TIMEOUT_S) as c:
            await asyncio.gather(*(self._loop(c, spec) for spec in self.specs))
            for job_id in self.jobs:
                with contextlib.suppress(httpx.HTTPError):
                    await c.delete(f"/api/v1/jobs/{job_id}", timeout=10.0)
        return sorted(self.records, key=lambda r: (r.start_s, r.kind))

    async def _loop(self, client: httpx.AsyncClient, spec: AttackSpec) -> None:
        attempts: list[asyncio.Task[None]] = []
        for seq, at in enumerate(attack_times(spec, self.duration_s)):
            await asyncio.sleep(max(0.0, at - self.now()))
            if self.now() >= self.duration_s:
                break
            task = asyncio.ensure_future(self._attempt(client, spec.kind, seq))
            if spec.sequential:
                await task
            else:
                attempts.append(task)
        await asyncio.gather(*attempts)

    async def _attempt(self, client: httpx.AsyncClient, kind: str, seq: int) -> None:
        start = self.now()
        sent = [0]
        status, error = 0, ""
        try:
            async with asyncio.timeout(ATTACK_TIMEOUT_S + LORIS_HOLD_S):
                status, error = await self._send(client, kind, seq, sent)
        except (TimeoutError, httpx.TimeoutException):
            error = "timeout"
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        except OSError as exc:
            error = type(exc).__name__
        self.records.append(AttackRecord(kind, seq, start, self.now(), status, error, sent[0]))

    async def _send(self, client: httpx.AsyncClient, kind: str, seq: int, sent: list[int]) -> tuple[int, str]:
        if kind in ("huge-json", "huge-chunked"):  # with a Content-Length, then chunked without one
            chunks = huge_json(self.voice)
            return await self._huge(
                client, "/api/v1/tts", chunks, "application/json", sent, kind == "huge-json"
            )
        if kind == "huge-multipart":
            content_type = f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"
            return await self._huge(client, "/api/v1/jobs", huge_multipart(self.voice), content_type, sent)
        if kind == "markdown-job":
            return await self._markdown(client, sent)
        if kind == "poison":
            text = POISON_TEXTS[seq % len(POISON_TEXTS)]
            payload = {"text": text, "voice": self.voice, "priority": "interactive"}
            return _answer(await client.post("/api/v1/tts", json=payload))
        if kind.startswith("leave-"):
            return await self._leave(client, kind, seq)
        if kind == "loris-body":
            head, body = loris_body_request(f"127.0.0.1:{self.port}", self.voice)
            return await self._loris(head, body, sent)
        if kind == "loris-headers":
            return await self._loris(b"", loris_headers_request(f"127.0.0.1:{self.port}"), sent)
        raise ValueError(f"unknown attack {kind!r}")

    async def _huge(
        self,
        client: httpx.AsyncClient,
        path: str,
        chunks: Iterator[bytes],
        content_type: str,
        sent: list[int],
        with_length: bool = True,
    ) -> tuple[int, str]:
        headers = {"Content-Type": content_type}
        if with_length:  # else httpx sends it chunked (Transfer-Encoding), with no length to check
            headers["Content-Length"] = str(HUGE_BODY_BYTES)

        async def stream() -> AsyncIterator[bytes]:
            for piece in chunks:
                sent[0] += len(piece)
                yield piece

        return _answer(await client.post(path, content=stream(), headers=headers))

    async def _markdown(self, client: httpx.AsyncClient, sent: list[int]) -> tuple[int, str]:
        data = pathological_markdown().encode()
        sent[0] = len(data)
        files = {"file": ("hostile.md", data, "text/markdown")}
        response = await client.post("/api/v1/jobs", files=files, data={"voice": self.voice})
        if response.status_code in (200, 201):
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.jobs.append(str(response.json()["id"]))
        return _answer(response)

    async def _leave(self, client: httpx.AsyncClient, kind: str, seq: int) -> tuple[int, str]:
        text = leaver_text(seq)
        if kind == "leave-native":
            path = "/api/v1/tts"
            body: dict[str, object] = {
                "text": text,
                "voice": self.voice,
                "stream": True,
                "priority": "interactive",
            }
        else:
            path = "/v1/audio/speech"
            body = {"model": "gpt-4o-mini-tts", "input": text, "voice": "onyx", "response_format": "pcm"}
            body["stream_format"] = "sse" if kind.endswith("-sse") else "audio"
        async with client.stream("POST", path, json=body) as response:
            if response.status_code >= 300:
                await response.aread()
                return _answer(response)
            async for piece in response.aiter_raw():
                if piece:
                    return response.status_code, "left after first chunk"
            return response.status_code, "ended before the client left"

    async def _loris(self, head: bytes, dribble: bytes, sent: list[int]) -> tuple[int, str]:
        hold = max(0.0, min(LORIS_HOLD_S, self.duration_s - self.now()))
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(head)
            await writer.drain()
            sent[0] += len(head)
            give_up = time.perf_counter() + hold
            step = max(1, round(LORIS_BYTES_PER_S))
            for at in range(0, len(dribble), step):
                if time.perf_counter() >= give_up:
                    return 0, "held open"
                answer = await _read_some(reader, 1.0)
                if answer is not None:
                    return status_of(answer), "closed by server" if not answer else "answered"
                writer.write(dribble[at : at + step])
                await writer.drain()
                sent[0] += len(dribble[at : at + step])
            answer = await _read_some(reader, ATTACK_TIMEOUT_S)
            return (status_of(answer), "answered") if answer else (0, "closed by server")
        except (ConnectionError, BrokenPipeError):
            return 0, "closed by server"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def _read_some(reader: asyncio.StreamReader, wait_s: float) -> bytes | None:
    """What the server sent within ``wait_s`` (``b""``: it closed), or None if it stayed silent."""
    try:
        return await asyncio.wait_for(reader.read(4096), wait_s)
    except TimeoutError:
        return None


def _answer(response: httpx.Response) -> tuple[int, str]:
    if response.status_code < 400:
        return response.status_code, ""
    try:
        return response.status_code, str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return response.status_code, "http"


async def attack(
    base_url: str, voice: str, t0: float, duration_s: float, kinds: Collection[str] = ()
) -> list[AttackRecord]:
    """Run the hostile clients (``kinds``; default all) against ``base_url``; their records."""
    return await Attackers(base_url, voice, t0, duration_s, kinds).run()
