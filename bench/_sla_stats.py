"""The SLA bench's statistics: per-scenario summary, targets, RSS slope and latency drift (pure)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from _sla_chaos import RssSample
from _sla_load import PRIORITIES, RequestRecord

if TYPE_CHECKING:  # both import this module at run time (their targets are its Checks)
    from _sla_attack import AttackStats
    from _sla_probe import HealthStats

INTERACTIVE_P95_S = 3.0
AVAILABILITY_PCT = 99.9
RSS_SLOPE_MB_PER_H = 5.0
STRICT, OVERLOAD = "strict", "overload"
"""Target sets: no failed request at all, or overload turned into degradation and 429."""


@dataclass(frozen=True, slots=True)
class Latency:
    """Latency of the answered (2xx) requests of one class, in seconds (NaN when none)."""

    n: int
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True, slots=True)
class Check:
    """One target, met or not, and the numbers behind it."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Summary:
    """One scenario, as the report shows it."""

    key: str
    title: str
    kind: str
    offered_rps: float
    duration_s: float
    requests: int
    goodput_rps: float
    latency: Mapping[str, Latency]
    ok_pct: float
    rejected_pct: float
    server_error_pct: float
    dropped_pct: float
    other_pct: float
    degraded_pct: float
    availability_pct: float
    engines: Mapping[str, int]
    fallbacks: Mapping[str, int]
    errors: Mapping[str, int]
    missing_retry_after: int
    restarts: Mapping[str, int] = field(default_factory=dict)
    max_rss_mb: float = math.nan
    generator_cpu_pct: float = math.nan
    server_cpu_pct: float = math.nan
    send_lag_p99_ms: float = math.nan
    server_errors: int = 0
    health: HealthStats | None = None
    attacks: tuple[AttackStats, ...] = ()
    server_outcomes: Mapping[str, int] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()

    @property
    def passed(self) -> bool:
        """Every target met."""
        return all(c.ok for c in self.checks)


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def latency_of(records: Iterable[RequestRecord]) -> Latency:
    """P50/P95/P99 of the 2xx answers among ``records``."""
    values = [r.latency_s for r in records if 200 <= r.status < 300]
    return Latency(len(values), quantile(values, 0.5), quantile(values, 0.95), quantile(values, 0.99))


def failed(record: RequestRecord) -> bool:
    """A 5xx or no answer at all (timeout, connection error)."""
    return record.status == 0 or record.status >= 500


def summarize(
    records: Sequence[RequestRecord],
    *,
    key: str,
    title: str,
    kind: str,
    offered_rps: float,
    duration_s: float,
    restarts: Mapping[str, int] | None = None,
    rss: Sequence[RssSample] = (),
    generator_cpu_pct: float = math.nan,
    server_cpu_pct: float = math.nan,
    health: HealthStats | None = None,
    attacks: Sequence[AttackStats] = (),
    server_outcomes: Mapping[str, int] | None = None,
    extra_checks: Sequence[Check] = (),
) -> Summary:
    """Summarise one scenario's records and check its targets.

    Args:
        records: every request of the scenario.
        key: short name (file names).
        title: what the scenario does.
        kind: ``STRICT`` or ``OVERLOAD`` (which targets apply).
        offered_rps: the planned arrival rate.
        duration_s: the arrival window.
        restarts: worker restarts during the scenario, per ``engine/reason``.
        rss: worker RSS samples taken during the scenario.
        generator_cpu_pct: the bench process's CPU, % of one core.
        server_cpu_pct: the server's and its workers' CPU, % of one core.
        health: the ``/healthz`` probe beside the load, if one ran.
        attacks: the hostile clients beside ``records``, per kind, if any ran.
        server_outcomes: requests the server recorded during the scenario, per outcome.
        extra_checks: targets of the scenario's own (probe, attackers), after the common ones.

    Returns:
        The summary with its checks.
    """
    n = len(records)

    def pct(count: int, of: int = n) -> float:
        return 100.0 * count / of if of else 0.0

    ok = [r for r in records if 200 <= r.status < 300]
    rejected = [r for r in records if r.status == 429]
    admitted = n - len(rejected)
    latency = {p: latency_of(r for r in records if r.priority == p) for p in PRIORITIES}
    latency["all"] = latency_of(records)
    lags = [1000 * (r.start_s - r.scheduled_s) for r in records]
    summary = Summary(
        key=key,
        title=title,
        kind=kind,
        offered_rps=offered_rps,
        duration_s=duration_s,
        requests=n,
        goodput_rps=len(ok) / duration_s if duration_s > 0 else 0.0,
        latency=latency,
        ok_pct=pct(len(ok)),
        rejected_pct=pct(len(rejected)),
        server_error_pct=pct(sum(r.status >= 500 for r in records)),
        dropped_pct=pct(sum(r.status == 0 for r in records)),
        other_pct=pct(sum(r.status != 429 and 300 <= r.status < 500 for r in records)),
        degraded_pct=pct(sum(r.degraded for r in ok), len(ok)),
        availability_pct=pct(len(ok), admitted) if admitted else 100.0,
        engines=dict(Counter(r.engine for r in ok).most_common()),
        fallbacks=dict(Counter(r.fallback_reason for r in ok if r.fallback_reason).most_common()),
        errors=dict(Counter(f"{r.status} {r.error}" for r in records if not 200 <= r.status < 300)),
        missing_retry_after=sum(not r.retry_after for r in rejected),
        restarts=dict(restarts or {}),
        max_rss_mb=max((s.rss_mb for s in rss), default=math.nan),
        generator_cpu_pct=generator_cpu_pct,
        server_cpu_pct=server_cpu_pct,
        send_lag_p99_ms=quantile(lags, 0.99),
        server_errors=sum(r.status >= 500 for r in records),
        health=health,
        attacks=tuple(attacks),
        server_outcomes=dict(server_outcomes or {}),
    )
    return _with_checks(summary, records, extra_checks)


def _with_checks(summary: Summary, records: Sequence[RequestRecord], extra: Sequence[Check]) -> Summary:
    checks: list[Check] = []
    n_5xx = summary.server_errors
    n_dropped = sum(r.status == 0 for r in records)
    checks.append(Check("0 × 5xx", n_5xx == 0, f"{n_5xx} 5xx"))
    checks.append(Check("nothing dropped", n_dropped == 0, f"{n_dropped} dropped (timeout or no answer)"))
    if summary.kind == OVERLOAD:
        checks.append(
            Check(
                "429 carries Retry-After",
                summary.missing_retry_after == 0,
                f"{summary.missing_retry_after} without",
            )
        )
    interactive = summary.latency["interactive"]
    checks.append(
        Check(
            f"interactive P95 ≤ {INTERACTIVE_P95_S:g} s",
            interactive.n > 0 and interactive.p95 <= INTERACTIVE_P95_S,
            f"{interactive.p95:.2f} s over {interactive.n}",
        )
    )
    checks.append(
        Check(
            f"availability ≥ {AVAILABILITY_PCT} %",
            summary.availability_pct >= AVAILABILITY_PCT,
            f"{summary.availability_pct:.2f} %",
        )
    )
    other = sum(r.status != 429 and 300 <= r.status < 500 for r in records)
    checks.append(Check("no other 3xx/4xx", other == 0, f"{other}"))
    checks += extra
    return replace(summary, checks=tuple(checks))


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of ``(seconds, value)`` points, in value per hour (NaN under 2 times)."""
    if len({t for t, _ in points}) < 2:
        return math.nan
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)
    num = sum((t - mean_t) * (v - mean_v) for t, v in points)
    den = sum((t - mean_t) ** 2 for t, _ in points)
    return 3600.0 * num / den


@dataclass(frozen=True, slots=True)
class RssTrend:
    """One worker's memory over a soak."""

    engine: str
    worker: str
    samples: int
    span_s: float
    first_mb: float
    last_mb: float
    slope_mb_per_h: float


def rss_trends(samples: Sequence[RssSample], min_span_s: float, warmup_s: float = 0.0) -> list[RssTrend]:
    """RSS slope per worker (one series per engine and worker id) over at least ``min_span_s``.

    A restarted worker gets a new id, so each series is one process's life. The first
    ``warmup_s`` of each life are left out: a fresh worker's memory grows while its model pages
    in and its allocator arenas fill, which is not a leak.
    """
    series: dict[tuple[str, str], list[RssSample]] = {}
    for s in samples:
        series.setdefault((s.engine, s.worker), []).append(s)
    trends = []
    for (engine, worker), points in sorted(series.items()):
        points = [p for p in points if p.t_s >= points[0].t_s + warmup_s]
        span = points[-1].t_s - points[0].t_s if points else 0.0
        if span < min_span_s:
            continue
        slope = slope_per_hour([(p.t_s, p.rss_mb) for p in points])
        trends.append(RssTrend(engine, worker, len(points), span, points[0].rss_mb, points[-1].rss_mb, slope))
    return trends


def drift(
    records: Sequence[RequestRecord], window_s: float, priority: str | None = None
) -> tuple[Latency, Latency]:
    """Latency of the first and of the last ``window_s`` seconds of arrivals (optionally one class)."""
    mine = [r for r in records if priority is None or r.priority == priority]
    if not mine:
        empty = latency_of([])
        return empty, empty
    end = max(r.scheduled_s for r in mine)
    first = latency_of(r for r in mine if r.scheduled_s < window_s)
    last = latency_of(r for r in mine if r.scheduled_s >= end - window_s)
    return first, last
