"""Admission: rate limits, daily quotas, load shedding by class, queue caps, Shed events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import limits.aio.storage
import pytest

from voxgate.errors import Rejected
from voxgate.qos.admission import (
    Admission,
    AdmissionConfig,
    Admitted,
    RateLimitStrategy,
    Shed,
    ShedReason,
    StoreFailed,
)
from voxgate.qos.events import EventBus
from voxgate.testing import FakeClock
from voxgate.types import Priority

INTER, API, BATCH = Priority.INTERACTIVE, Priority.API, Priority.BATCH
NEAR_MIDNIGHT = datetime(2026, 5, 28, 23, 59, 0, tzinfo=UTC).timestamp()


def run(coro_fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run one test scenario in a fresh event loop."""
    asyncio.run(coro_fn())


def no_wait(_priority: Priority, _chars: int) -> float:
    """An idle service: nothing is queued."""
    return 0.0


def real_time_clock() -> FakeClock:
    """A fake clock whose wall time starts at the real time, the time base the limits library reads."""
    return FakeClock(wall_start=time.time())


@pytest.fixture(params=["memory", "redis"])
def stores(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Where rate limits and quotas are kept: this process, or one Redis (a fresh database)."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        # generous bounds: these tests are about semantics, not timing
        return {"storage_uri": "async+" + url, "quota_store_uri": url, "store_timeout_s": 5.0}
    return {}


async def admit(
    admission: Admission,
    client: str = "c",
    *,
    priority: Priority = API,
    chars: int = 10,
    deadline: float = 10.0,
    wait: float = 0.0,
    queued: int = 0,
) -> Admitted:
    """Call admit with defaults for everything a case does not vary."""
    return await admission.admit(client, priority, chars, deadline, lambda _p, _c: wait, queued=queued)


async def refusal(admission: Admission, client: str = "c", **kwargs: Any) -> Rejected:
    """Return the Rejected raised by an admit call that must fail."""
    with pytest.raises(Rejected) as info:
        await admit(admission, client, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("strategy", "limit", "window"),
    [
        (RateLimitStrategy.MOVING_WINDOW, "3/minute", 60.0),
        # The counter strategy forgets part of the last window at each rollover: a long window
        # keeps a rollover from landing inside this test.
        (RateLimitStrategy.SLIDING_WINDOW_COUNTER, "3/day", 86_400.0),
    ],
)
def test_request_over_the_rate_limit_is_rejected_with_bounded_retry_after(
    strategy: RateLimitStrategy, limit: str, window: float, stores: dict[str, Any]
) -> None:
    """The N+1-th request in the window is refused with 1 ≤ retry_after ≤ the window."""

    async def scenario() -> None:
        config = AdmissionConfig(rate_limit=limit, strategy=strategy, **stores)
        admission = Admission(config, real_time_clock())
        for _ in range(3):
            await admit(admission)
        rejected = await refusal(admission)
        assert rejected.reason == "rate_limit"
        assert 1.0 <= rejected.retry_after <= window
        await admission.close()

    run(scenario)


def test_rate_limit_retry_after_counts_down_to_the_oldest_hit_leaving_the_window() -> None:
    """With a moving window, retry_after is the oldest hit's expiry minus the clock's now."""

    async def scenario() -> None:
        clock = real_time_clock()
        admission = Admission(AdmissionConfig(rate_limit="2/minute"), clock)
        await admit(admission)
        await admit(admission)
        clock.advance(20)
        assert (await refusal(admission)).retry_after == pytest.approx(40.0, abs=1.0)

    run(scenario)


def test_every_limit_of_a_client_applies_and_the_longest_wait_wins(stores: dict[str, Any]) -> None:
    """With "5/minute;2/hour" the hourly limit refuses the third request, retry ~ one hour."""

    async def scenario() -> None:
        admission = Admission(AdmissionConfig(rate_limit="5/minute;2/hour", **stores), real_time_clock())
        await admit(admission)
        await admit(admission)
        assert (await refusal(admission)).retry_after == pytest.approx(3600.0, abs=2.0)
        await admission.close()

    run(scenario)


def test_clients_are_limited_independently_and_overrides_replace_the_default(stores: dict[str, Any]) -> None:
    """Each client has its own window; an override changes one client's limit, "" lifts it."""

    async def scenario() -> None:
        config = AdmissionConfig(
            rate_limit="2/minute", rate_limit_overrides={"vip": "4/minute", "ops": ""}, **stores
        )
        admission = Admission(config, real_time_clock())
        admitted = {}
        for client in ("alice", "bob", "vip", "ops"):
            count = 0
            for _ in range(6):
                try:
                    await admit(admission, client)
                except Rejected:
                    break
                count += 1
            admitted[client] = count
        assert admitted == {"alice": 2, "bob": 2, "vip": 4, "ops": 6}
        await admission.close()

    run(scenario)


def test_quota_exhaustion_waits_for_utc_midnight_and_resets_there(stores: dict[str, Any]) -> None:
    """Over the daily characters → "quota" until UTC midnight; the next day starts from zero."""

    async def scenario() -> None:
        clock = FakeClock(wall_start=NEAR_MIDNIGHT)
        admission = Admission(AdmissionConfig(rate_limit="", daily_chars=100, **stores), clock)
        await admit(admission, chars=60)
        rejected = await refusal(admission, chars=41)
        assert rejected.reason == "quota"
        assert rejected.retry_after == pytest.approx(60.0)
        await admit(admission, chars=40)  # exactly the allowance is fine
        clock.advance(59.5)
        assert (await refusal(admission, chars=1)).retry_after == pytest.approx(0.5)
        clock.advance(1)
        await admit(admission, chars=100)
        await admission.close()

    run(scenario)


def test_quota_overrides_refusals_and_refunds(stores: dict[str, Any]) -> None:
    """Overrides change a client's allowance; refusals charge nothing; refunds give chars back."""

    async def scenario() -> None:
        config = AdmissionConfig(
            rate_limit="", daily_chars=100, daily_chars_overrides={"big": 500, "free": None}, **stores
        )
        admission = Admission(config, FakeClock(wall_start=NEAR_MIDNIGHT - 3600))
        await admit(admission, "big", chars=500)
        await admit(admission, "free", chars=10_000)
        await refusal(admission, "small", chars=60, wait=100.0)  # shed: must not be charged
        receipt = await admit(admission, "small", chars=100)
        assert (receipt.charged, receipt.day) == (100, "2026-05-28")
        await refusal(admission, "small", chars=1)
        await admission.refund(receipt)
        await admit(admission, "small", chars=100)
        await admission.close()

    run(scenario)


def test_refund_after_midnight_does_not_credit_the_new_day(stores: dict[str, Any]) -> None:
    """A receipt from yesterday cannot add allowance to today."""

    async def scenario() -> None:
        clock = FakeClock(wall_start=NEAR_MIDNIGHT)
        admission = Admission(AdmissionConfig(rate_limit="", daily_chars=100, **stores), clock)
        yesterday = await admit(admission, chars=100)
        clock.advance(120)
        await admit(admission, chars=100)
        await admission.refund(yesterday)
        assert (await refusal(admission, chars=1)).reason == "quota"
        await admission.close()

    run(scenario)


@pytest.mark.parametrize(
    ("wait", "admitted"),
    [
        (4.0, {INTER, API, BATCH}),
        (6.0, {INTER, API}),  # > 0.5 × 10 s
        (9.0, {INTER}),  # > 0.8 × 10 s
        (10.0, {INTER}),  # exactly the deadline still fits
        (10.5, set()),
    ],
)
def test_shedding_order_is_batch_then_api_then_interactive(wait: float, admitted: set[Priority]) -> None:
    """For one estimated wait and deadline, batch is shed first, then api, then interactive."""

    async def scenario() -> None:
        admission = Admission(AdmissionConfig(rate_limit=""), FakeClock())
        refused: dict[Priority, tuple[str, float]] = {}
        for priority in Priority:
            try:
                await admit(admission, priority=priority, deadline=10.0, wait=wait)
            except Rejected as exc:
                refused[priority] = (exc.reason, exc.retry_after)
        assert set(Priority) - set(refused) == admitted
        budget = {INTER: 10.0, API: 8.0, BATCH: 5.0}
        assert {p: reason for p, (reason, _) in refused.items()} == dict.fromkeys(refused, "overload")
        assert {p: retry for p, (_, retry) in refused.items()} == {
            p: pytest.approx(max(1.0, wait - budget[p])) for p in refused
        }

    run(scenario)


def test_expired_deadline_is_overload_even_with_an_empty_queue() -> None:
    """A request with no time left is refused as overload, with retry_after ≥ 1."""

    async def scenario() -> None:
        rejected = await refusal(
            Admission(AdmissionConfig(rate_limit=""), FakeClock()), priority=INTER, deadline=0.0
        )
        assert (rejected.reason, rejected.retry_after) == ("overload", 1.0)

    run(scenario)


@pytest.mark.parametrize(("wait", "retry_after"), [(0.2, 1.0), (7.5, 7.5)])
def test_queue_cap_refuses_with_the_estimated_wait(wait: float, retry_after: float) -> None:
    """At the class's queue cap the request is "queue_full", retry_after = max(1, estimated wait)."""

    async def scenario() -> None:
        config = AdmissionConfig(rate_limit="", max_queued={INTER: 10, API: 5, BATCH: 2})
        admission = Admission(config, FakeClock())
        await admit(admission, priority=BATCH, queued=1, wait=wait, deadline=100.0)
        rejected = await refusal(admission, priority=BATCH, queued=2, wait=wait, deadline=100.0)
        assert (rejected.reason, rejected.retry_after) == ("queue_full", retry_after)
        await admit(admission, priority=API, queued=2, wait=wait, deadline=100.0)

    run(scenario)


def test_each_refusal_publishes_a_shed_event() -> None:
    """Every refusal is published as Shed with the same reason and retry_after as the error."""

    async def scenario() -> None:
        bus = EventBus()
        config = AdmissionConfig(rate_limit="1/minute", rate_limit_overrides={"q": ""}, daily_chars=5)
        admission = Admission(config, real_time_clock(), events=bus)
        with bus.capture() as events:
            await admit(admission, "r", chars=1)
            errors = [
                await refusal(admission, "r", chars=1),
                await refusal(admission, "q", chars=6),
                await refusal(admission, "q", chars=1, priority=BATCH, wait=6.0),
                await refusal(admission, "q", chars=1, queued=100_000),
            ]
        assert [e.reason for e in errors] == ["rate_limit", "quota", "overload", "queue_full"]
        assert events == [
            Shed(c, p, ShedReason(e.reason), e.retry_after)
            for c, p, e in zip(["r", "q", "q", "q"], [API, API, BATCH, API], errors, strict=True)
        ]

    run(scenario)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate_limit": "lots/minute"},
        {"rate_limit_overrides": {"x": "3 per fortnight"}},
        {"daily_chars": -1},
        {"shed_fraction": {INTER: 1.0, API: 0.8}},
        {"max_queued": {INTER: 1, API: 1, BATCH: 0}},
    ],
)
def test_invalid_config_is_refused_at_construction(kwargs: dict[str, Any]) -> None:
    """Bad limit strings, negative quotas and incomplete or non-positive tables raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        AdmissionConfig(**kwargs)


class _UnreachableStorage(limits.aio.storage.MemoryStorage):
    """A limits storage whose server is down: moving-window calls fail like a refused connection."""

    STORAGE_SCHEME = ["async+voxgate-test-unreachable"]  # noqa: RUF012 (limits' registry reads a list)

    @property
    def base_exceptions(self) -> type[Exception]:
        return ConnectionError

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        raise ConnectionError("connection refused")

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        raise ConnectionError("connection refused")


def test_unreachable_rate_limit_storage_fails_open_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """When the limiter's storage is down, requests are admitted and the failure is logged."""

    failures: list[StoreFailed] = []

    async def scenario() -> None:
        config = AdmissionConfig(rate_limit="1/minute", storage_uri="async+voxgate-test-unreachable://")
        bus = EventBus()
        bus.subscribe(StoreFailed, failures.append)
        admission = Admission(config, real_time_clock(), events=bus)
        for _ in range(3):
            await admit(admission)

    run(scenario)
    assert [(f.store, f.op) for f in failures] == [("rate_limit", "check"), ("rate_limit", "hit")] * 3
    assert sum("rate_limit store failed" in r.getMessage() for r in caplog.records) == 1  # once per burst


@pytest.mark.parametrize("uri", ["memory://", "nosuchstore://host"])
def test_storage_must_be_a_known_async_limits_storage(uri: str) -> None:
    """A sync or unknown limits storage URI is a configuration error."""
    with pytest.raises(ValueError, match="storage"):
        Admission(AdmissionConfig(storage_uri=uri), FakeClock())


def test_a_clients_limits_hold_across_gateways_sharing_one_redis(redis_url: str) -> None:
    """Two admissions on one Redis (two gateways): one client's rate limit and quota are counted once."""

    async def scenario() -> None:
        config = AdmissionConfig(
            rate_limit="3/minute",
            daily_chars=100,
            storage_uri="async+" + redis_url,
            quota_store_uri=redis_url,
        )
        one, two = Admission(config, real_time_clock()), Admission(config, real_time_clock())
        await admit(one, chars=40)
        await admit(two, chars=40)
        assert (await refusal(one, chars=40)).reason == "quota"  # 80 + 40 > 100 wherever it lands
        await admit(two, "other", chars=10)
        await admit(one, chars=10)  # the client's third hit
        assert (await refusal(two, chars=1)).reason == "rate_limit"
        assert await one.quota_left("c") == await two.quota_left("c") == 100 - 90
        await one.close()
        await two.close()

    run(scenario)


def test_a_stopped_redis_admits_unchecked_within_a_bounded_time(redis_server, redis_url: str) -> None:
    """Redis SIGSTOPped: requests are admitted (fail open), counted as StoreFailed, one timeout at most."""
    import os
    import signal

    failures: list[StoreFailed] = []

    async def scenario() -> None:
        config = AdmissionConfig(
            rate_limit="1/minute",
            daily_chars=100,
            storage_uri="async+" + redis_url,
            quota_store_uri=redis_url,
        )
        bus = EventBus()
        bus.subscribe(StoreFailed, failures.append)
        admission = Admission(config, real_time_clock(), events=bus)
        await admit(admission, "warm")  # connections made while Redis answers
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            started = time.perf_counter()
            receipt = await admit(admission, chars=60)
            first = time.perf_counter() - started
            started = time.perf_counter()
            for _ in range(5):
                await admit(admission, chars=60)  # over both limits, were they checked
            later = time.perf_counter() - started
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        assert receipt.charged == 0  # the charge failed: nothing to refund later
        assert first < 5.0  # a few 0.25 s bounds; a huge margin for a loaded machine
        assert later < first  # the cool-down: no more timeouts
        await admission.close()

    run(scenario)
    assert {(f.store, f.op) for f in failures} >= {("rate_limit", "check"), ("quota", "check")}
