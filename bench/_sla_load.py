"""The SLA bench's load generator: open-model arrivals over HTTP, one record per request.

Open model: arrival times are fixed in advance from the offered rate (Poisson or a fixed
interval), and each request is sent at its time whatever the server is doing, so a slow
server cannot hide by slowing the load. Every run is bounded in count (``MAX_REQUESTS``)
and in time (each request has a client timeout; the run stops waiting after the last one).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from voxgate.testing import HARVARD_SENTENCES

PRIORITIES = ("interactive", "api", "batch")
MAX_REQUESTS = 50_000
"""Most requests one schedule may hold, whatever rate and duration ask for."""
CLIENT_SLACK_S = 15.0
"""Client timeout beyond the server's default deadline for the request (then it counts as dropped)."""
_DEADLINE_BASE_S = {"interactive": 3.0, "api": 10.0, "batch": 120.0}
_DEADLINE_PER_CHAR_S = 0.02


@dataclass(frozen=True, slots=True)
class Mix:
    """What one stream of traffic sends.

    Attributes:
        share: this stream's share of the offered rate (shares of a scenario add up to its load).
        priority: interactive, api or batch.
        min_chars: shortest text.
        max_chars: longest text.
    """

    share: float
    priority: str
    min_chars: int = 20
    max_chars: int = 200


@dataclass(frozen=True, slots=True)
class Planned:
    """One request of a schedule: when to send it and what."""

    seq: int
    at_s: float
    priority: str
    text: str


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What happened to one request (times in seconds from the scenario's start).

    ``status`` is the HTTP status, or 0 when no answer came; ``error`` is then ``timeout`` or the
    transport error's name, and for an error answer the code of its JSON body (``overload``, ...).
    """

    seq: int
    priority: str
    chars: int
    scheduled_s: float
    start_s: float
    end_s: float
    status: int
    engine: str
    degraded: bool
    fallback_reason: str
    retry_after: str
    error: str

    @property
    def latency_s(self) -> float:
        """Seconds from sending to the end of the answer."""
        return self.end_s - self.start_s


def arrival_times(rate: float, duration_s: float, rng: random.Random, *, poisson: bool = True) -> list[float]:
    """Arrival offsets in ``[0, duration_s)`` at ``rate`` per second.

    Args:
        rate: mean arrivals per second (> 0).
        duration_s: length of the schedule.
        rng: randomness for Poisson gaps.
        poisson: exponential gaps; else a fixed interval of ``1 / rate``.

    Returns:
        Increasing offsets, at most ``MAX_REQUESTS`` of them.

    Raises:
        ValueError: if ``rate`` or ``duration_s`` is not positive.
    """
    if rate <= 0 or duration_s <= 0:
        raise ValueError(f"rate and duration must be positive, got {rate} and {duration_s}")
    times: list[float] = []
    t = rng.expovariate(rate) if poisson else 0.0
    while t < duration_s and len(times) < MAX_REQUESTS:
        times.append(t)
        t += rng.expovariate(rate) if poisson else 1.0 / rate
    return times


def make_text(rng: random.Random, serial: int, min_chars: int, max_chars: int) -> str:
    """An English text of about ``min_chars``–``max_chars`` characters, unique per ``serial``."""
    target = rng.randint(min_chars, max_chars)
    text = f"Item {serial}."
    while len(text) < target:
        text = f"{text} {rng.choice(HARVARD_SENTENCES)}"
    if len(text) > target:
        text = text[:target].rsplit(" ", 1)[0].rstrip(",.") + "."
    return text


def plan(mixes: Sequence[Mix], base_rate: float, duration_s: float, seed: int) -> list[Planned]:
    """The schedule of one scenario: each mix's Poisson stream at ``share × base_rate``, merged.

    Raises:
        ValueError: if a stream's rate is not positive.
    """
    rng = random.Random(seed)
    events: list[tuple[float, Mix]] = []
    for mix in mixes:
        events += [(t, mix) for t in arrival_times(mix.share * base_rate, duration_s, rng)]
    events.sort(key=lambda e: e[0])
    return [
        Planned(seq, t, mix.priority, make_text(rng, seed * 1_000_000 + seq, mix.min_chars, mix.max_chars))
        for seq, (t, mix) in enumerate(events[:MAX_REQUESTS])
    ]


def client_timeout_s(priority: str, chars: int) -> float:
    """How long the client waits: the server's default deadline for the request, plus slack."""
    return max(_DEADLINE_BASE_S[priority], chars * _DEADLINE_PER_CHAR_S) + CLIENT_SLACK_S


async def send(
    client: httpx.AsyncClient, voice: str, item: Planned, t0: float, *, fmt: str = "wav"
) -> RequestRecord:
    """POST one request to ``/api/v1/tts``, read the whole body, and record the outcome."""
    body = {"text": item.text, "voice": voice, "priority": item.priority, "format": fmt}
    start = time.perf_counter() - t0
    status, headers, error = 0, httpx.Headers(), ""
    try:
        response = await client.post(
            "/api/v1/tts", json=body, timeout=client_timeout_s(item.priority, len(item.text))
        )
        status, headers = response.status_code, response.headers
        if status >= 400:
            error = _error_code(response)
    except httpx.TimeoutException:
        error = "timeout"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    return RequestRecord(
        seq=item.seq,
        priority=item.priority,
        chars=len(item.text),
        scheduled_s=item.at_s,
        start_s=start,
        end_s=time.perf_counter() - t0,
        status=status,
        engine=headers.get("x-voxgate-engine", ""),
        degraded=headers.get("x-voxgate-degraded", "") == "true",
        fallback_reason=headers.get("x-voxgate-fallback-reason", ""),
        retry_after=headers.get("retry-after", ""),
        error=error,
    )


def _error_code(response: httpx.Response) -> str:
    """The ``error.code`` of a voxgate error body (e.g. ``overload``, ``queue_full``), else ``http``."""
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "http"
    return str(code)


async def run_open(client: httpx.AsyncClient, voice: str, schedule: Sequence[Planned]) -> list[RequestRecord]:
    """Send every planned request at its time; return when each has an answer or timed out."""
    t0 = time.perf_counter()
    tasks: list[asyncio.Task[RequestRecord]] = []
    for item in schedule:
        delay = item.at_s - (time.perf_counter() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(send(client, voice, item, t0)))
    return list(await asyncio.gather(*tasks))


async def measure_capacity(
    client: httpx.AsyncClient, voice: str, engine: str, clients: int, seconds: float, seed: int = 7
) -> tuple[float, int]:
    """Closed loop: ``clients`` callers back to back (batch class) for ``seconds``.

    Returns:
        Requests per second answered by ``engine``, and how many requests were sent.
    """
    rng = random.Random(seed)
    answered = sent = 0
    t0 = time.perf_counter()
    stop_at = t0 + seconds

    async def caller(k: int) -> None:
        nonlocal answered, sent
        serial = 0
        while time.perf_counter() < stop_at:
            serial += 1
            item = Planned(serial, 0.0, "batch", make_text(rng, 900_000_000 + k * 100_000 + serial, 20, 200))
            record = await send(client, voice, item, t0)
            sent += 1
            answered += record.status == 200 and record.engine == engine

    await asyncio.gather(*(caller(k) for k in range(clients)))
    return answered / (time.perf_counter() - t0), sent
