"""Admission control, run before a request is queued: rate limits, daily quota, load shedding.

Checks, in order; the first that fails raises ``Rejected(reason, retry_after)`` and
publishes a ``Shed`` event:

1. ``rate_limit``: the client's rate limits (``"60/minute;1000/hour"``), enforced with
   the ``limits`` library's async API over a storage URI (``async+memory://`` by default,
   ``async+redis://…`` to share limits between gateways). ``retry_after`` is the time
   until the window frees a hit.
2. ``quota``: the client's characters for the current UTC day; ``retry_after`` runs to
   UTC midnight.
3. ``queue_full``: requests already queued in this priority class reach its cap.
4. ``overload``: the estimated queue wait exceeds ``shed_fraction[priority]`` of the time
   left before the request's deadline, so batch is shed first, then api, then interactive.

Nothing is charged until every check has passed; then the quota is charged and one hit is
recorded on each rate limit. ``refund`` gives the characters back when a later stage
drops an admitted request.

Time: quota days and ``retry_after`` come from ``clock.wall()``. The ``limits`` library
reads ``time.time()`` itself, so a clock whose wall time is not the real one (a
``FakeClock`` left at its default) only skews rate-limit ``retry_after``, which stays
clamped to [1 s, the limit's window].

Availability over strictness: when the rate-limit storage or the quota store fails (Redis
unreachable, slow, or full), the check is skipped (the request is admitted; a quota charge that
failed is not refunded later) rather than refusing every request. A TTS gateway whose shared
counters are down should keep speaking: the engines are still protected by this gateway's own
shedding (queue caps, estimated wait), which needs no shared state; what is lost for the outage
is cross-gateway fairness and billing accuracy. Each failure publishes a ``StoreFailed`` event
(metrics count them); the log says so once per burst. Every storage call is bounded
(:mod:`voxgate.redis_store`) and a failure makes the next calls of the following second skip the
store at once, so a dead Redis adds at most one timeout per second to one request.

Concurrency: one asyncio event loop. Between the checks and the charge other coroutines
may run; two racing requests of one client can therefore both pass the checks, and the
second is then refused by the atomic charge or hit (it may leave a hit on a limit that
did not refuse it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NoReturn

import limits
import limits.aio.storage
import limits.aio.strategies
import limits.storage
from limits.errors import ConfigurationError, StorageError

from voxgate.clock import Clock
from voxgate.errors import Rejected
from voxgate.qos.events import EventBus
from voxgate.qos.limits_memory import LoopMemoryStorage
from voxgate.qos.quota import QuotaStore, quota_store_from_url, seconds_until_utc_midnight, utc_day
from voxgate.redis_store import DEFAULT_TIMEOUT_S, Cooldown, SharedStoreError, connection_pool
from voxgate.types import Priority

__all__ = [
    "Admission",
    "AdmissionConfig",
    "Admitted",
    "RateLimitStrategy",
    "Shed",
    "ShedReason",
    "StoreFailed",
]

_STORE_ERRORS = (StorageError, SharedStoreError, TimeoutError)
"""What a failing rate-limit storage or quota store raises (the ``limits`` library wraps its own)."""

_LOG_EVERY_S = 60.0

logger = logging.getLogger(__name__)

_NAMESPACE = "voxgate-admission"
"""First identifier of every rate-limit key, so other users of the storage cannot collide."""


class ShedReason(StrEnum):
    """Why admission refused a request; stable strings for metrics."""

    RATE_LIMIT = "rate_limit"
    QUOTA = "quota"
    OVERLOAD = "overload"
    QUEUE_FULL = "queue_full"


class RateLimitStrategy(StrEnum):
    """The ``limits`` strategy counting hits."""

    MOVING_WINDOW = "moving-window"
    """Exact: one timestamp per hit (memory grows with the limit's amount)."""
    SLIDING_WINDOW_COUNTER = "sliding-window-counter"
    """Approximate: two counters per limit, weighted by the window's overlap."""


@dataclass(frozen=True, slots=True)
class AdmissionConfig:
    """How admission limits clients and sheds load.

    Raises:
        ValueError: from the constructor, if a limit string does not parse or a value is
            out of range.
    """

    rate_limit: str = "60/minute;1000/hour"
    """Default per-client rate limits in ``limits`` notation, ``;``-separated; "" = none."""
    rate_limit_overrides: Mapping[str, str] = field(default_factory=dict)
    """Client id → rate limit string replacing the default ("" = unlimited)."""
    storage_uri: str = "async+memory://"
    """``limits`` async storage URI, e.g. ``async+redis://localhost:6379``."""
    strategy: RateLimitStrategy = RateLimitStrategy.MOVING_WINDOW
    """How hits are counted."""
    daily_chars: int | None = 4_000_000
    """Default characters per client per UTC day; ``None`` = unlimited."""
    daily_chars_overrides: Mapping[str, int | None] = field(default_factory=dict)
    """Client id → daily characters replacing the default (``None`` = unlimited)."""
    quota_store_uri: str = "memory://"
    """Where daily usage is kept (``quota_store_from_url``)."""
    store_timeout_s: float = DEFAULT_TIMEOUT_S
    """Bound on each call to a Redis rate-limit storage or quota store; past it the store is skipped."""
    shed_fraction: Mapping[Priority, float] = field(
        default_factory=lambda: {Priority.INTERACTIVE: 1.0, Priority.API: 0.8, Priority.BATCH: 0.5}
    )
    """Shed when estimated wait > fraction × remaining deadline; smaller sheds earlier."""
    max_queued: Mapping[Priority, int] = field(
        default_factory=lambda: {Priority.INTERACTIVE: 2048, Priority.API: 1024, Priority.BATCH: 256}
    )
    """Refuse as ``queue_full`` when this many segments (sentences) of the class are already queued
    at the primary engine; a request queues one entry per segment, so 256 is ~40 batch requests."""

    def __post_init__(self) -> None:
        for text in (self.rate_limit, *self.rate_limit_overrides.values()):
            _parse_limits(text)
        for quota in (self.daily_chars, *self.daily_chars_overrides.values()):
            if quota is not None and quota < 0:
                raise ValueError(f"daily character quotas must be ≥ 0, got {quota}")
        for name, table in (("shed_fraction", self.shed_fraction), ("max_queued", self.max_queued)):
            if set(table) != set(Priority):
                raise ValueError(f"{name} needs exactly one entry per priority, got {sorted(table)}")
            if any(value <= 0 for value in table.values()):
                raise ValueError(f"{name} values must be > 0, got {dict(table)}")
        # Freeze the mappings too, so a config can be shared safely.
        for name in ("rate_limit_overrides", "daily_chars_overrides", "shed_fraction", "max_queued"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))


@dataclass(frozen=True, slots=True)
class Shed:
    """Published for every refusal.

    Attributes:
        client_id: the refused client.
        priority: the request's class.
        reason: which check refused it.
        retry_after: seconds the client was told to wait.
    """

    client_id: str
    priority: Priority
    reason: ShedReason
    retry_after: float


@dataclass(frozen=True, slots=True)
class StoreFailed:
    """Published when a shared store failed and admission went on without it (failing open).

    Attributes:
        store: ``rate_limit`` or ``quota``.
        op: ``check``, ``hit``, ``charge`` or ``refund``.
        error: the exception's type and message.
    """

    store: str
    op: str
    error: str


@dataclass(frozen=True, slots=True)
class Admitted:
    """Receipt of an admitted request, to hand back to ``Admission.refund``.

    Attributes:
        client_id: the client.
        charged: characters charged to its quota (0 when it has none).
        day: the UTC day they were charged to.
    """

    client_id: str
    charged: int
    day: str


class Admission:
    """Decides whether a request may be queued.

    Args:
        config: limits, quotas and shedding thresholds.
        clock: wall time for quota days and ``retry_after``.
        events: receives a ``Shed`` per refusal; a private bus if omitted.
        quota_store: daily usage store; built from ``config.quota_store_uri`` if omitted.
        cooldown: the rate-limit storage's and quota store's cool-down after a failure, shared
            with the audio cache when it is in the same Redis; a new one if omitted.

    Raises:
        ValueError: if ``config.storage_uri`` is unknown or not an async storage.
    """

    def __init__(
        self,
        config: AdmissionConfig,
        clock: Clock,
        *,
        events: EventBus | None = None,
        quota_store: QuotaStore | None = None,
        cooldown: Cooldown | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        scheme = config.storage_uri.partition("://")[0]
        if scheme in ("async+redis", "async+rediss"):  # redis-py, bounded and never retried
            server = config.storage_uri.removeprefix("async+")
            pool = connection_pool(server, config.store_timeout_s)
            options = {"implementation": "redispy", "connection_pool": pool}
        self._pool = options.get("connection_pool")
        try:
            storage: object = (
                LoopMemoryStorage(wrap_exceptions=True)  # limits' own hops to a thread per check
                if config.storage_uri == "async+memory://"
                else limits.storage.storage_from_string(config.storage_uri, wrap_exceptions=True, **options)
            )
        except ConfigurationError as exc:
            raise ValueError(f"unusable rate-limit storage {config.storage_uri!r}: {exc}") from exc
        if not isinstance(storage, limits.aio.storage.Storage):
            raise ValueError(f"rate-limit storage {config.storage_uri!r} is not async; use an async+ scheme")
        self._limiter: limits.aio.strategies.RateLimiter
        if config.strategy is RateLimitStrategy.MOVING_WINDOW:
            self._limiter = limits.aio.strategies.MovingWindowRateLimiter(storage)
        else:
            self._limiter = limits.aio.strategies.SlidingWindowCounterRateLimiter(storage)
        self._config = config
        self._clock = clock
        self._events = events if events is not None else EventBus()
        self._storage_cooldown = cooldown or Cooldown(clock)  # the quota store's too: usually one Redis
        self._quota = (
            quota_store
            if quota_store is not None
            else quota_store_from_url(
                config.quota_store_uri,
                clock=clock,
                cooldown=self._storage_cooldown,
                timeout_s=config.store_timeout_s,
            )
        )
        self._logged_at: float | None = None
        self._suppressed = 0
        self._default_limits = _parse_limits(config.rate_limit)
        self._override_limits = {c: _parse_limits(s) for c, s in config.rate_limit_overrides.items()}

    async def admit(
        self,
        client_id: str,
        priority: Priority,
        chars: int,
        deadline_s_remaining: float,
        estimate_wait: Callable[[Priority, int], float],
        *,
        queued: int,
        rate_limited: bool = True,
    ) -> Admitted:
        """Admit the request or refuse it; on admission charge quota and rate limits.

        Args:
            client_id: API key, else remote address.
            priority: the request's class.
            chars: characters to synthesise.
            deadline_s_remaining: seconds left before the request's deadline.
            estimate_wait: seconds a request of this class and length would wait in the
                queue (called once, after the rate and quota checks).
            queued: requests of ``priority`` already waiting where this one would queue.
            rate_limited: count the request against the client's rate limits (False for the
                segments of an admitted batch job, which are paced by capacity and quota instead).

        Returns:
            A receipt for ``refund``.

        Raises:
            Rejected: with ``reason`` one of ``ShedReason`` and ``retry_after`` ≥ 1 s.
        """
        now = self._clock.wall()
        items = self._override_limits.get(client_id, self._default_limits) if rate_limited else []
        retry = await self._rate_limit_retry(client_id, items, now)
        if retry is not None:
            self._refuse(client_id, priority, ShedReason.RATE_LIMIT, retry)
        day = utc_day(now)
        quota = self._config.daily_chars_overrides.get(client_id, self._config.daily_chars)
        if quota is not None and await self._quota_used(client_id, day) + chars > quota:
            self._refuse(client_id, priority, ShedReason.QUOTA, seconds_until_utc_midnight(now))
        wait = estimate_wait(priority, chars)
        if queued >= self._config.max_queued[priority]:
            self._refuse(client_id, priority, ShedReason.QUEUE_FULL, max(1.0, wait))
        budget = self._config.shed_fraction[priority] * deadline_s_remaining
        if deadline_s_remaining <= 0 or wait > budget:
            self._refuse(client_id, priority, ShedReason.OVERLOAD, max(1.0, wait - max(budget, 0.0)))

        charged = 0
        if quota is not None:
            try:
                if not await self._quota.try_charge(client_id, day, chars, quota):
                    self._refuse(client_id, priority, ShedReason.QUOTA, seconds_until_utc_midnight(now))
                charged = chars
            except _STORE_ERRORS as exc:
                self._store_failed("quota", "charge", exc)
        if not await self._hit(client_id, items):
            if charged:
                await self.refund(Admitted(client_id, charged, day))
            retry = await self._rate_limit_retry(client_id, items, now)
            self._refuse(client_id, priority, ShedReason.RATE_LIMIT, retry or 1.0)
        return Admitted(client_id, charged, day)

    async def quota_left(self, client_id: str) -> int | None:
        """Characters ``client_id`` may still be charged today; ``None`` when it has no quota.

        For a check ahead of many requests (a job's whole text at submission); each request is
        still charged when it is admitted.
        """
        quota = self._config.daily_chars_overrides.get(client_id, self._config.daily_chars)
        if quota is None:
            return None
        return max(0, quota - await self._quota_used(client_id, utc_day(self._clock.wall())))

    def quota_resets_in(self) -> float:
        """Seconds until the quota day rolls over (UTC midnight)."""
        return seconds_until_utc_midnight(self._clock.wall())

    async def refund(self, admitted: Admitted) -> None:
        """Give back the characters of a request dropped after admission (e.g. shed later).

        Rate-limit hits are not given back. A refund after the quota day rolled over has no
        effect.

        Args:
            admitted: the receipt ``admit`` returned.
        """
        if admitted.charged:
            try:
                await self._quota.refund(admitted.client_id, admitted.day, admitted.charged)
            except _STORE_ERRORS as exc:
                self._store_failed("quota", "refund", exc)

    async def close(self) -> None:
        """Close the shared stores' connections (the gateway is stopping)."""
        close = getattr(self._quota, "close", None)
        if close is not None:
            await close()
        if self._pool is not None:
            await self._pool.disconnect()

    async def _quota_used(self, client_id: str, day: str) -> int:
        """The day's usage; 0 when the store failed (fail open)."""
        try:
            return await self._quota.used(client_id, day)
        except _STORE_ERRORS as exc:
            self._store_failed("quota", "check", exc)
            return 0

    def _store_failed(self, store: str, op: str, exc: BaseException) -> None:
        """Count a store failure; log it once per burst (the first after a quiet minute)."""
        error = f"{type(exc).__name__}: {exc}"
        self._events.publish(StoreFailed(store, op, error))
        now = self._clock.monotonic()
        if self._logged_at is not None and now - self._logged_at < _LOG_EVERY_S:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more failures since the last line)" if self._suppressed else ""
        logger.warning("%s store failed (%s); admitting unchecked: %s%s", store, op, error, more)
        self._logged_at, self._suppressed = now, 0

    async def _rate_limit_retry(
        self, client_id: str, items: list[limits.RateLimitItem], now: float
    ) -> float | None:
        """Seconds until every exhausted limit frees a hit, or ``None`` if none is exhausted."""
        retry: float | None = None
        if not items:
            return None
        try:
            self._storage_cooldown.check()
            async with asyncio.timeout(2 * len(items) * self._config.store_timeout_s):
                for item in items:
                    if await self._limiter.test(item, _NAMESPACE, client_id):
                        continue
                    stats = await self._limiter.get_window_stats(item, _NAMESPACE, client_id)
                    wait = max(1.0, min(stats.reset_time - now, float(item.get_expiry())))
                    retry = wait if retry is None else max(retry, wait)
        except _STORE_ERRORS as exc:
            self._storage_failed("check", exc)
            return None
        self._storage_cooldown.succeeded()
        return retry

    async def _hit(self, client_id: str, items: list[limits.RateLimitItem]) -> bool:
        """Record one hit on each limit; ``False`` if one was exhausted meanwhile."""
        if not items:
            return True
        try:
            self._storage_cooldown.check()
            async with asyncio.timeout(2 * len(items) * self._config.store_timeout_s):
                for item in items:
                    if not await self._limiter.hit(item, _NAMESPACE, client_id):
                        return False
        except _STORE_ERRORS as exc:
            self._storage_failed("hit", exc)
            return True
        self._storage_cooldown.succeeded()
        return True

    def _storage_failed(self, op: str, exc: BaseException) -> None:
        if not isinstance(exc, SharedStoreError):  # a real failure, not the cool-down: start one
            self._storage_cooldown.failed()
        self._store_failed("rate_limit", op, exc)

    def _refuse(self, client_id: str, priority: Priority, reason: ShedReason, retry_after: float) -> NoReturn:
        self._events.publish(Shed(client_id, priority, reason, retry_after))
        raise Rejected(reason.value, retry_after)


def _parse_limits(text: str) -> list[limits.RateLimitItem]:
    """Parse a ``;``-separated limit string; "" means no limit.

    Raises:
        ValueError: if the string does not parse.
    """
    return limits.parse_many(text) if text.strip() else []
