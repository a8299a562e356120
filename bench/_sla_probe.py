"""The SLA bench's ``/healthz`` probe: a liveness check every 100 ms beside the load, as a balancer would.

Open model like the load: each probe leaves at its planned time whether or not the previous one
has answered, so a server whose event loop is stuck shows every probe it kept waiting, not one.
A probe that fails (no answer within ``PROBE_TIMEOUT_S``, or not 200) counts with the time it took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from _sla_stats import Check, quantile

PROBE_EVERY_S = 0.1
PROBE_TIMEOUT_S = 10.0
HEALTHZ_P99_MS = 100.0
"""Target: P99 of the probe's latency."""
_MAX_PROBES = 20_000


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """One ``GET /healthz`` (times in seconds from the scenario's start; status 0: no answer)."""

    t_s: float
    latency_s: float
    status: int


@dataclass(frozen=True, slots=True)
class HealthStats:
    """The probes of one scenario, in milliseconds (NaN when there were none)."""

    n: int
    failed: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def ok(self) -> bool:
        """P99 within ``HEALTHZ_P99_MS`` and every probe answered 200."""
        return self.n > 0 and self.failed == 0 and self.p99_ms <= HEALTHZ_P99_MS


def health_stats(probes: Sequence[HealthProbe]) -> HealthStats:
    """Count, failures and P50 / P99 / max latency of ``probes`` (failed ones with their time)."""
    ms = [1000 * p.latency_s for p in probes]
    return HealthStats(
        n=len(probes),
        failed=sum(p.status != 200 for p in probes),
        p50_ms=quantile(ms, 0.5),
        p99_ms=quantile(ms, 0.99),
        max_ms=max(ms, default=float("nan")),
    )


def health_check(stats: HealthStats) -> Check:
    """The probe's target as a report row."""
    detail = (
        f"P99 {stats.p99_ms:.0f} ms, max {stats.max_ms:.0f} ms over {stats.n} probes, {stats.failed} failed"
    )
    return Check(f"/healthz P99 ≤ {HEALTHZ_P99_MS:g} ms, every probe 200", stats.ok, detail)


def probe_times(every_s: float, duration_s: float) -> list[float]:
    """Planned offsets of the probes: every ``every_s`` in ``[0, duration_s)``, at most 20 000."""
    if every_s <= 0:
        raise ValueError(f"every_s must be positive, got {every_s}")
    return [k * every_s for k in range(min(_MAX_PROBES, int(duration_s / every_s + 1e-9)))]


async def probe_health(
    base_url: str, t0: float, duration_s: float, every_s: float = PROBE_EVERY_S
) -> list[HealthProbe]:
    """Probe ``{base_url}/healthz`` every ``every_s`` for ``duration_s`` from its own connections.

    Returns:
        One record per probe, in planned order.
    """
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=20)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=PROBE_TIMEOUT_S) as client:

        async def one(at: float) -> HealthProbe:
            start = time.perf_counter()
            status = 0
            try:
                status = (await client.get("/healthz")).status_code
            except httpx.HTTPError:
                status = 0
            return HealthProbe(at, time.perf_counter() - start, status)

        tasks: list[asyncio.Task[HealthProbe]] = []
        for at in probe_times(every_s, duration_s):
            await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
            tasks.append(asyncio.ensure_future(one(time.perf_counter() - t0)))
        return list(await asyncio.gather(*tasks))
