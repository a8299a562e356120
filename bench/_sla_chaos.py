"""The SLA bench's fault injector and metrics sampler, run beside the load.

Faults hit the primary engine's worker processes with real signals: SIGKILL (a crash) or
SIGSTOP (a hang: the process is alive, holds its job and answers nothing). Scenario 7 instead
SIGKILLs every worker of one engine at a time, the last resort included (:func:`kill_all`). A frozen worker is
sent SIGCONT after ``thaw_after_s`` if it is still there; the pool's watchdog is expected to
have killed it long before. Only PIDs that are children of the server under test are touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import psutil

from _sla_server import Server, scrape, workers


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One signal sent (``t_s`` from the scenario's start)."""

    t_s: float
    kind: str  # SIGKILL, SIGSTOP, SIGCONT
    pid: int
    note: str


@dataclass(frozen=True, slots=True)
class RssSample:
    """One worker's resident memory at one scrape."""

    t_s: float
    engine: str
    worker: str
    rss_mb: float


async def inject(
    kind: str,
    client: httpx.AsyncClient,
    server: Server,
    engine: str,
    t0: float,
    *,
    every_s: float,
    duration_s: float,
    thaw_after_s: float = 3.0,
) -> list[FaultEvent]:
    """Every ``every_s`` seconds until ``duration_s``, SIGKILL or SIGSTOP one of ``engine``'s workers.

    A busy worker is chosen when there is one (the fault then hits a request in flight).

    Args:
        kind: ``kill`` or ``freeze``.
        client: talks to the server (worker PIDs come from ``/api/v1/sla``).
        server: the server whose children may be signalled.
        engine: whose workers.
        t0: the scenario's start (``time.perf_counter()``).
        every_s: seconds between faults.
        duration_s: no fault at or after this offset.
        thaw_after_s: SIGCONT a frozen worker that is still alive after this long.

    Returns:
        Every signal sent, in order.

    Raises:
        ValueError: unknown ``kind``.
    """
    if kind not in ("kill", "freeze"):
        raise ValueError(f"unknown fault {kind!r}")
    events: list[FaultEvent] = []
    thaws: list[asyncio.Task[None]] = []
    at = every_s / 2
    while at < duration_s:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        at += every_s
        candidates = await workers(client, server, engine)
        ready = [w for w in candidates if w["state"] in ("busy", "draining", "idle")]
        if not ready:
            events.append(FaultEvent(time.perf_counter() - t0, "none", 0, "no ready worker"))
            continue
        victim = min(ready, key=lambda w: (w["state"] != "busy", w["worker_id"]))
        pid = int(victim["pid"])
        sig = signal.SIGKILL if kind == "kill" else signal.SIGSTOP
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            events.append(FaultEvent(time.perf_counter() - t0, sig.name, pid, f"{victim['state']} worker"))
            if kind == "freeze":
                thaws.append(asyncio.ensure_future(_thaw(pid, thaw_after_s, t0, events)))
    await asyncio.gather(*thaws)
    return events


def kill_rounds(
    engines: Sequence[str], every_s: float, duration_s: float, seed: int
) -> list[tuple[float, str]]:
    """When to kill all workers of which engine: a shuffled round-robin over ``engines``.

    Each round is a fresh shuffle (never the same engine twice in a row across rounds, when there
    are two or more), so every engine is hit once per round. The interval shrinks below ``every_s``
    when needed to give every engine at least one hit within ``duration_s``.

    Args:
        engines: the engines whose workers may be killed (the last resort among them).
        every_s: seconds between two kills at most; the first comes half an interval in.
        duration_s: no kill at or after this offset.
        seed: randomness of the shuffles.

    Returns:
        ``(offset_s, engine)`` in time order.

    Raises:
        ValueError: no engines, or a non-positive ``every_s`` or ``duration_s``.
    """
    if not engines or every_s <= 0 or duration_s <= 0:
        raise ValueError(f"need engines and positive times, got {list(engines)}, {every_s}, {duration_s}")
    step = min(every_s, duration_s / len(engines))
    rng = random.Random(seed)
    order: list[str] = []
    count = math.ceil(duration_s / step - 0.5)
    while len(order) < count:
        shuffled = list(engines)
        rng.shuffle(shuffled)
        if order and len(shuffled) > 1 and shuffled[0] == order[-1]:
            shuffled[0], shuffled[-1] = shuffled[-1], shuffled[0]
        order += shuffled
    return [(step / 2 + k * step, engine) for k, engine in enumerate(order[:count])]


async def kill_all(
    client: httpx.AsyncClient,
    server: Server,
    engines: Sequence[str],
    t0: float,
    *,
    every_s: float,
    duration_s: float,
    seed: int,
) -> list[FaultEvent]:
    """SIGKILL every worker of one engine at each time of :func:`kill_rounds` (busy, idle or starting).

    Args:
        client: talks to the server (worker PIDs come from ``/api/v1/sla``).
        server: the server whose children may be signalled.
        engines: the engines to take turns on.
        t0: the scenario's start (``time.perf_counter()``).
        every_s: seconds between two rounds of kills at most.
        duration_s: no kill at or after this offset.
        seed: randomness of the order.

    Returns:
        Every signal sent, in order (``none`` when an engine had no worker to kill).
    """
    events: list[FaultEvent] = []
    for at, engine in kill_rounds(engines, every_s, duration_s, seed):
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        victims = await workers(client, server, engine)
        if not victims:
            events.append(FaultEvent(time.perf_counter() - t0, "none", 0, f"no {engine} worker"))
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(victim["pid"]), signal.SIGKILL)
                note = f"all {engine} workers ({len(victims)}): {victim['state']}"
                events.append(FaultEvent(time.perf_counter() - t0, "SIGKILL", int(victim["pid"]), note))
    return events


async def _thaw(pid: int, after_s: float, t0: float, events: list[FaultEvent]) -> None:
    await asyncio.sleep(after_s)
    try:
        status = psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return  # the watchdog killed it (and the pool reaped it)
    if status == psutil.STATUS_ZOMBIE:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
        events.append(
            FaultEvent(time.perf_counter() - t0, "SIGCONT", pid, f"still {status} after {after_s:g} s")
        )


async def sample_rss(
    client: httpx.AsyncClient, server: Server, t0: float, every_s: float, stop: asyncio.Event
) -> list[RssSample]:
    """Scrape ``voxgate_worker_rss_bytes`` every ``every_s`` seconds until ``stop`` is set.

    Each round also reads the server's CPU times (see :meth:`Server.cpu_seconds`).
    """
    samples: list[RssSample] = []
    while not stop.is_set():
        await asyncio.to_thread(server.cpu_seconds)
        with contextlib.suppress(httpx.HTTPError):
            metrics = await scrape(client)
            now = time.perf_counter() - t0
            for labels, value in metrics.get("voxgate_worker_rss_bytes", {}).items():
                named = dict(labels)
                samples.append(
                    RssSample(now, named.get("engine", ""), named.get("worker", ""), value / 2**20)
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)
    return samples


async def restarts(client: httpx.AsyncClient) -> dict[str, float]:
    """``voxgate_worker_restarts_total`` per engine and reason (``engine/reason``)."""
    metrics = await scrape(client)
    out: dict[str, float] = {}
    for labels, value in metrics.get("voxgate_worker_restarts_total", {}).items():
        named = dict(labels)
        out[f"{named.get('engine', '')}/{named.get('reason', '')}"] = value
    return out


async def outcomes(client: httpx.AsyncClient) -> dict[str, float]:
    """Requests the server has recorded so far per outcome (``voxgate_synthesis_duration_seconds``)."""
    metrics = await scrape(client)
    out: dict[str, float] = {}
    for labels, value in metrics.get("voxgate_synthesis_duration_seconds_count", {}).items():
        outcome = dict(labels).get("outcome", "")
        out[outcome] = out.get(outcome, 0.0) + value
    return out


def restart_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, int]:
    """Restarts that happened between two readings, per ``engine/reason`` (zeros left out)."""
    delta = {k: round(v - before.get(k, 0.0)) for k, v in after.items()}
    return {k: v for k, v in sorted(delta.items()) if v}
