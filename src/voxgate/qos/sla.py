"""Service-level tracking over sliding time windows (by default the last 5 minutes and the last hour).

The facade records one :class:`RequestOutcome` per request; :meth:`SlaTracker.snapshot` summarises
a window: latency quantiles per priority, availability, degradation, fallback reasons, cache hit
ratio, engine mix and the error-budget burn rate against :class:`SlaTargets`.

Definitions (per window):

- *admitted* = every request except ``REJECTED`` and ``CANCELLED`` (a client that went away says
  nothing about the service, so it counts on neither side);
- *answered* = ``OK`` + ``DEGRADED`` (the client got audio);
- availability = answered / admitted; burn rate = (1 − availability) / (1 − target availability),
  so 1.0 spends the error budget exactly over the SLO period and 14.4 empties a 30-day budget in
  two days;
- latency quantiles are nearest-rank (``numpy`` ``inverted_cdf``) over answered requests, so
  "P95 = x" means at least 95 % of answers took at most x seconds; the P95 target is checked
  over answered requests of at most ``p95_max_chars`` characters only.

Samples live in one ring buffer sized for the longest window, capped at ``max_samples`` (oldest
dropped first); a snapshot tells whether the cap cut into its window (``complete``). Old samples
are evicted lazily on ``record`` and ``snapshot``; nothing runs on a timer.

Concurrency: used from one asyncio event loop; no locks, not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from voxgate.clock import Clock
from voxgate.types import Priority

__all__ = [
    "DEFAULT_WINDOWS",
    "LatencyStats",
    "OutcomeStatus",
    "RequestOutcome",
    "SlaSnapshot",
    "SlaTargets",
    "SlaTracker",
]

DEFAULT_WINDOWS: tuple[float, ...] = (300.0, 3600.0)
"""Window lengths in seconds: 5 minutes and 1 hour."""

_QUANTILES = (0.5, 0.95, 0.99)
_MAX_LABELS = 1024
_OTHER_LABEL = "(other)"
_COLUMNS: dict[str, type[np.generic]] = {
    "at": np.float64,
    "latency": np.float64,
    "chars": np.int64,
    "priority": np.int8,
    "status": np.int8,
    "cache_hit": np.bool_,
    "engine": np.int16,
    "reason": np.int16,
}
"""One sample per row, in the order ``_Ring.append`` takes them; labels are ``_Labels`` codes."""


class OutcomeStatus(StrEnum):
    """How a request ended."""

    OK = "ok"
    """Audio from the voice's first-choice engine."""
    DEGRADED = "degraded"
    """Audio, but from a fallback engine (or with some sentences from one)."""
    REJECTED = "rejected"
    """Refused by admission (rate limit, quota, load shedding)."""
    FAILED = "failed"
    """Admitted, but no audio: every engine failed or the deadline passed."""
    CANCELLED = "cancelled"
    """The client went away before the answer."""


_STATUSES = tuple(OutcomeStatus)
_STATUS_CODE = {s: i for i, s in enumerate(_STATUSES)}
_PRIORITIES = tuple(Priority)
_PRIORITY_CODE = {p: i for i, p in enumerate(_PRIORITIES)}


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What happened to one request.

    Attributes:
        at: monotonic time the outcome was known (normally when the request finished).
        priority: the request's scheduling class.
        chars: characters of text requested.
        latency_s: seconds from arrival to the last byte (or to the refusal/failure).
        status: how it ended.
        engine: the engine that produced the audio, if any.
        fallback_reason: why the first-choice engine did not answer, if it did not.
        cache_hit: answered from the audio cache.

    Raises:
        ValueError: from the constructor, if ``chars`` or ``latency_s`` is negative or not finite.
    """

    at: float
    priority: Priority
    chars: int
    latency_s: float
    status: OutcomeStatus
    engine: str | None = None
    fallback_reason: str | None = None
    cache_hit: bool = False

    def __post_init__(self) -> None:
        if self.chars < 0 or not (math.isfinite(self.latency_s) and self.latency_s >= 0):
            raise ValueError(f"chars and latency_s must be non-negative and finite: {self}")


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """The service-level objectives.

    Attributes:
        p95_latency_s: P95 latency objective for short requests, in seconds.
        p95_max_chars: requests up to this many characters are held to ``p95_latency_s``.
        availability: objective for answered / admitted, strictly between 0 and 1.

    Raises:
        ValueError: from the constructor, if a value is out of range.
    """

    p95_latency_s: float = 3.0
    p95_max_chars: int = 200
    availability: float = 0.999

    def __post_init__(self) -> None:
        if not (self.p95_latency_s > 0 and self.p95_max_chars >= 0 and 0 < self.availability < 1):
            raise ValueError(f"invalid SLA targets: {self}")


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Request counts and latency quantiles (``None`` when nothing was answered).

    Attributes:
        requests: requests recorded in the window (every status).
        answered: requests that got audio (``OK`` or ``DEGRADED``).
        p50_s: median latency of answered requests.
        p95_s: 95th percentile latency of answered requests.
        p99_s: 99th percentile latency of answered requests.
    """

    requests: int
    answered: int
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None


@dataclass(frozen=True, slots=True)
class SlaSnapshot:
    """A summary of one window; ratios are ``None`` when their denominator is zero.

    Attributes:
        window_s: window length in seconds.
        at: monotonic time of the snapshot; the window holds outcomes with ``at - window_s <= outcome.at``.
        wall: wall-clock time of the snapshot (epoch seconds).
        complete: False if samples inside the window were dropped by the sample cap.
        requests: every request recorded in the window.
        admitted: requests minus rejected minus cancelled.
        answered: ``OK`` + ``DEGRADED``.
        degraded: ``DEGRADED`` requests.
        failed: ``FAILED`` requests.
        rejected: ``REJECTED`` requests.
        cancelled: ``CANCELLED`` requests.
        availability: answered / admitted.
        degradation_rate: degraded / answered.
        cache_hit_ratio: answers served from the cache / answered.
        burn_rate: (1 − availability) / (1 − target availability).
        p95_short_s: P95 latency of answered requests of at most ``targets.p95_max_chars`` characters.
        p95_target_met: ``p95_short_s <= targets.p95_latency_s``.
        latency: counts and quantiles over all priorities.
        by_priority: counts and quantiles per priority (every priority present, most urgent first).
        fallback_reasons: fallback reason → requests (any status) that carried it.
        engine_mix: engine → answered requests it produced.
        targets: the objectives the figures were judged against.
    """

    window_s: float
    at: float
    wall: float
    complete: bool
    requests: int
    admitted: int
    answered: int
    degraded: int
    failed: int
    rejected: int
    cancelled: int
    availability: float | None
    degradation_rate: float | None
    cache_hit_ratio: float | None
    burn_rate: float | None
    p95_short_s: float | None
    p95_target_met: bool | None
    latency: LatencyStats
    by_priority: dict[Priority, LatencyStats]
    fallback_reasons: dict[str, int]
    engine_mix: dict[str, int]
    targets: SlaTargets

    def to_dict(self) -> dict[str, Any]:
        """Return the snapshot as plain JSON-serialisable types (priorities as their string values)."""
        out = asdict(self)
        out["by_priority"] = {p.value: asdict(stats) for p, stats in self.by_priority.items()}
        return out


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _quantiles(latencies: NDArray[np.float64], qs: tuple[float, ...]) -> list[float | None]:
    if latencies.size == 0:
        return [None] * len(qs)
    return [float(q) for q in np.quantile(latencies, qs, method="inverted_cdf")]


def _latency(requests: int, answered_latencies: NDArray[np.float64]) -> LatencyStats:
    p50, p95, p99 = _quantiles(answered_latencies, _QUANTILES)
    return LatencyStats(requests=requests, answered=answered_latencies.size, p50_s=p50, p95_s=p95, p99_s=p99)


class _Labels:
    """Interns engine names and fallback reasons as small ints (``-1`` = none), at most ``_MAX_LABELS``."""

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}
        self.names: list[str] = []

    def code(self, label: str | None) -> int:
        if label is None:
            return -1
        code = self._codes.get(label)
        if code is None:
            if len(self.names) >= _MAX_LABELS - 1 and label != _OTHER_LABEL:
                return self.code(_OTHER_LABEL)
            code = self._codes[label] = len(self.names)
            self.names.append(label)
        return code

    def count(self, codes: NDArray[np.int16]) -> dict[str, int]:
        counts = np.bincount(codes[codes >= 0], minlength=0)
        return {self.names[i]: int(n) for i, n in enumerate(counts) if n}


class _Ring:
    """A growable ring buffer of samples stored by column, at most ``limit`` rows; the oldest makes room."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._capacity = min(limit, 1024)
        self._cols = {name: np.zeros(self._capacity, dtype) for name, dtype in _COLUMNS.items()}
        self._start = 0
        self._len = 0
        self.last_dropped_at = -math.inf

    def __len__(self) -> int:
        return self._len

    def append(self, row: tuple[float, float, int, int, int, bool, int, int]) -> None:
        if self._len == self._capacity:
            if self._capacity < self._limit:
                live = self.columns()
                self._capacity = min(self._limit, 2 * self._capacity)
                self._cols = {name: np.zeros(self._capacity, dtype) for name, dtype in _COLUMNS.items()}
                for name, col in self._cols.items():
                    col[: self._len] = live[name]
                self._start = 0
            else:
                self.last_dropped_at = max(self.last_dropped_at, float(self._cols["at"][self._start]))
                self._pop_front()
        i = (self._start + self._len) % self._capacity
        for col, value in zip(self._cols.values(), row, strict=True):
            col[i] = value
        self._len += 1

    def _pop_front(self) -> None:
        self._start = (self._start + 1) % self._capacity
        self._len -= 1

    def evict_before(self, cutoff: float) -> None:
        """Drop rows from the front while they are older than ``cutoff`` (amortised O(1) per row)."""
        at = self._cols["at"]
        while self._len and at[self._start] < cutoff:
            self._pop_front()

    def columns(self) -> dict[str, NDArray[Any]]:
        """Return the live rows by column, oldest first (views, or copies when they wrap around)."""
        start, end = self._start, self._start + self._len
        if end <= self._capacity:
            return {name: col[start:end] for name, col in self._cols.items()}
        wrap = end - self._capacity
        return {name: np.concatenate((col[start:], col[:wrap])) for name, col in self._cols.items()}


class SlaTracker:
    """Records request outcomes and summarises sliding windows of them.

    Args:
        clock: source of monotonic and wall time.
        windows: window lengths in seconds that :meth:`snapshots` reports; the longest sets retention.
        targets: the objectives to judge against.
        max_samples: cap on retained samples; the oldest are dropped first.

    Raises:
        ValueError: if a window is not positive or there is none, or ``max_samples`` < 1.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        windows: Iterable[float] = DEFAULT_WINDOWS,
        targets: SlaTargets | None = None,
        max_samples: int = 100_000,
    ) -> None:
        self._windows = tuple(sorted({float(w) for w in windows}))
        if not self._windows or self._windows[0] <= 0 or max_samples < 1:
            raise ValueError(f"need positive windows and max_samples >= 1: {self._windows}, {max_samples}")
        self._clock = clock
        self.targets = targets if targets is not None else SlaTargets()
        self._ring = _Ring(max_samples)
        self._engines = _Labels()
        self._reasons = _Labels()

    @property
    def windows(self) -> tuple[float, ...]:
        """The configured window lengths in seconds, shortest first."""
        return self._windows

    @property
    def retained(self) -> int:
        """Samples held now (old ones are evicted lazily, on the next ``record`` or ``snapshot``)."""
        return len(self._ring)

    def record(self, outcome: RequestOutcome) -> None:
        """Add one outcome; outcomes older than the longest window are ignored.

        Args:
            outcome: the finished request.
        """
        cutoff = self._clock.monotonic() - self._windows[-1]
        self._ring.evict_before(cutoff)
        if outcome.at < cutoff:
            return
        self._ring.append(
            (
                outcome.at,
                outcome.latency_s,
                outcome.chars,
                _PRIORITY_CODE[outcome.priority],
                _STATUS_CODE[outcome.status],
                outcome.cache_hit,
                self._engines.code(outcome.engine),
                self._reasons.code(outcome.fallback_reason),
            )
        )

    def snapshots(self) -> dict[float, SlaSnapshot]:
        """Return a snapshot of every configured window, keyed by its length in seconds."""
        return {w: self.snapshot(w) for w in self._windows}

    def snapshot(self, window: float) -> SlaSnapshot:
        """Summarise the outcomes of the last ``window`` seconds.

        Args:
            window: window length in seconds; at most the longest configured window.

        Returns:
            The summary; an empty window gives zero counts and ``None`` ratios and quantiles.

        Raises:
            ValueError: if ``window`` is not positive or longer than the longest configured window.
        """
        if not 0 < window <= self._windows[-1]:
            raise ValueError(f"window must be in (0, {self._windows[-1]}] seconds, got {window}")
        now = self._clock.monotonic()
        self._ring.evict_before(now - self._windows[-1])
        cutoff = now - window
        rows = self._ring.columns()
        inside = rows["at"] >= cutoff
        if not inside.all():
            rows = {name: col[inside] for name, col in rows.items()}
        count = len(rows["at"])
        status, latency = rows["status"], rows["latency"]
        per_status = np.bincount(status, minlength=len(_STATUSES))
        counts = {s: int(n) for s, n in zip(_STATUSES, per_status, strict=True)}
        ok = (status == _STATUS_CODE[OutcomeStatus.OK]) | (status == _STATUS_CODE[OutcomeStatus.DEGRADED])
        answered = counts[OutcomeStatus.OK] + counts[OutcomeStatus.DEGRADED]
        admitted = count - counts[OutcomeStatus.REJECTED] - counts[OutcomeStatus.CANCELLED]
        availability = _ratio(answered, admitted)
        priority = rows["priority"]
        by_priority: dict[Priority, LatencyStats] = {}
        for p, code in _PRIORITY_CODE.items():
            mine = priority == code
            by_priority[p] = _latency(int(np.count_nonzero(mine)), latency[mine & ok])
        (short,) = _quantiles(latency[ok & (rows["chars"] <= self.targets.p95_max_chars)], (0.95,))
        return SlaSnapshot(
            window_s=float(window),
            at=now,
            wall=self._clock.wall(),
            complete=self._ring.last_dropped_at < cutoff,
            requests=count,
            admitted=admitted,
            answered=answered,
            degraded=counts[OutcomeStatus.DEGRADED],
            failed=counts[OutcomeStatus.FAILED],
            rejected=counts[OutcomeStatus.REJECTED],
            cancelled=counts[OutcomeStatus.CANCELLED],
            availability=availability,
            degradation_rate=_ratio(counts[OutcomeStatus.DEGRADED], answered),
            cache_hit_ratio=_ratio(int(np.count_nonzero(rows["cache_hit"] & ok)), answered),
            burn_rate=None if availability is None else (1 - availability) / (1 - self.targets.availability),
            p95_short_s=short,
            p95_target_met=None if short is None else short <= self.targets.p95_latency_s,
            latency=_latency(count, latency[ok]),
            by_priority=by_priority,
            fallback_reasons=self._reasons.count(rows["reason"]),
            engine_mix=self._engines.count(rows["engine"][ok]),
            targets=self.targets,
        )
