"""SLA tracker: windows, quantiles, availability and burn rate, per-priority figures, sample cap."""

from __future__ import annotations

import json
import math
import random
from collections import deque

import pytest

from voxgate.qos.sla import (
    OutcomeStatus,
    RequestOutcome,
    SlaTargets,
    SlaTracker,
)
from voxgate.testing import FakeClock
from voxgate.types import Priority

OK, DEGRADED, REJECTED, FAILED, CANCELLED = (
    OutcomeStatus.OK,
    OutcomeStatus.DEGRADED,
    OutcomeStatus.REJECTED,
    OutcomeStatus.FAILED,
    OutcomeStatus.CANCELLED,
)
FIVE_MIN, HOUR = 300.0, 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tracker(clock: FakeClock) -> SlaTracker:
    return SlaTracker(clock)


def outcome(
    clock: FakeClock,
    latency_s: float = 1.0,
    status: OutcomeStatus = OK,
    *,
    priority: Priority = Priority.INTERACTIVE,
    chars: int = 100,
    engine: str | None = "piper",
    fallback_reason: str | None = None,
    cache_hit: bool = False,
) -> RequestOutcome:
    """An outcome that finished now."""
    return RequestOutcome(
        at=clock.monotonic(),
        priority=priority,
        chars=chars,
        latency_s=latency_s,
        status=status,
        engine=engine,
        fallback_reason=fallback_reason,
        cache_hit=cache_hit,
    )


def nearest_rank(values: list[float], q: float) -> float:
    """Reference quantile: the smallest value with at least a fraction q of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered) - 1e-9) - 1)]


@pytest.mark.parametrize(
    ("latencies", "expected"),
    [
        (list(range(1, 101)), (50, 95, 99)),
        (list(range(100, 0, -1)), (50, 95, 99)),
        ([0.1, 0.2, 10.0], (0.2, 10.0, 10.0)),
        ([7.0], (7.0, 7.0, 7.0)),
        ([1.0] * 98 + [20.0, 30.0], (1.0, 1.0, 20.0)),
    ],
)
def test_quantiles_are_nearest_rank_over_answered(clock, tracker, latencies, expected):
    """P50/P95/P99 are the observed values at the nearest rank, whatever the arrival order."""
    for latency in latencies:
        tracker.record(outcome(clock, float(latency)))
    tracker.record(outcome(clock, 999.0, FAILED))  # not an answer: no effect on latency
    stats = tracker.snapshot(FIVE_MIN).by_priority[Priority.INTERACTIVE]
    assert (stats.p50_s, stats.p95_s, stats.p99_s) == pytest.approx(expected)
    assert (stats.requests, stats.answered) == (len(latencies) + 1, len(latencies))


def test_window_eviction_as_the_clock_advances(clock, tracker):
    """An outcome leaves the 5-minute window after 300 s and the hour window after 3600 s."""
    tracker.record(outcome(clock, 2.0))
    clock.advance(FIVE_MIN)
    assert tracker.snapshot(FIVE_MIN).requests == 1  # the window includes its lower edge
    clock.advance(1.0)
    tracker.record(outcome(clock, 4.0))
    five, hour = tracker.snapshot(FIVE_MIN), tracker.snapshot(HOUR)
    assert (five.requests, five.latency.p50_s) == (1, 4.0)
    assert (hour.requests, hour.latency.p50_s, hour.latency.p99_s) == (2, 2.0, 4.0)
    clock.advance(HOUR - 100)
    assert tracker.snapshot(HOUR).requests == 1
    clock.advance(200)
    assert tracker.snapshot(HOUR).requests == 0
    assert set(tracker.snapshots()) == {FIVE_MIN, HOUR}


@pytest.mark.parametrize("trigger", ["record", "snapshot"])
def test_expired_samples_are_freed_lazily(clock, tracker, trigger):
    """Samples older than the longest window are dropped from memory on the next record or snapshot."""
    for _ in range(50):
        tracker.record(outcome(clock))
    assert tracker.retained == 50
    clock.advance(HOUR + 1)
    assert tracker.retained == 50  # nothing runs on a timer
    if trigger == "record":
        tracker.record(outcome(clock))
        assert tracker.retained == 1
    else:
        tracker.snapshot(FIVE_MIN)
        assert tracker.retained == 0


def test_outcome_older_than_longest_window_is_ignored(clock, tracker):
    """A late report of something older than the longest window is not counted."""
    stale = outcome(clock)
    clock.advance(HOUR + 1)
    tracker.record(stale)
    assert tracker.retained == 0
    assert tracker.snapshot(HOUR).requests == 0


def test_availability_burn_rate_and_degradation_arithmetic(clock, tracker):
    """Availability is answered/admitted, burn rate (1-A)/(1-target); rejected and cancelled are excluded."""
    mix = {OK: 990, DEGRADED: 5, FAILED: 5, REJECTED: 10, CANCELLED: 7}
    for status, n in mix.items():
        for _ in range(n):
            tracker.record(outcome(clock, 0.5, status))
    snap = tracker.snapshot(FIVE_MIN)
    assert (snap.requests, snap.admitted, snap.answered) == (1017, 1000, 995)
    assert (snap.degraded, snap.failed, snap.rejected, snap.cancelled) == (5, 5, 10, 7)
    assert snap.availability == pytest.approx(0.995)
    assert snap.burn_rate == pytest.approx(5.0)  # 0.5 % errors against a 0.1 % budget
    assert snap.degradation_rate == pytest.approx(5 / 995)
    assert snap.latency.answered == 995


def test_burn_rate_uses_configured_target(clock):
    """A looser availability target lowers the burn rate in proportion."""
    tracker = SlaTracker(clock, targets=SlaTargets(availability=0.99))
    for status in [OK] * 98 + [FAILED] * 2:
        tracker.record(outcome(clock, 0.5, status))
    assert tracker.snapshot(FIVE_MIN).burn_rate == pytest.approx(2.0)


def test_cancelled_only_gives_no_availability(clock, tracker):
    """Requests the client abandoned count as requests but not as admitted or answered."""
    for _ in range(3):
        tracker.record(outcome(clock, 9.0, CANCELLED))
    snap = tracker.snapshot(FIVE_MIN)
    assert (snap.requests, snap.cancelled, snap.admitted, snap.answered) == (3, 3, 0, 0)
    assert (snap.availability, snap.burn_rate, snap.latency.p95_s) == (None, None, None)


def test_per_priority_figures_are_separate(clock, tracker):
    """Each priority gets its own counts and quantiles; an idle priority reports zeros and None."""
    for i in range(1, 11):
        tracker.record(outcome(clock, 0.1 * i, priority=Priority.INTERACTIVE))
        tracker.record(outcome(clock, 10.0 * i, priority=Priority.BATCH))
    tracker.record(outcome(clock, 1.0, REJECTED, priority=Priority.BATCH))
    snap = tracker.snapshot(FIVE_MIN)
    interactive, api, batch = (snap.by_priority[p] for p in Priority)
    assert list(snap.by_priority) == list(Priority)
    assert (interactive.requests, interactive.answered) == (10, 10)
    assert (interactive.p50_s, interactive.p95_s) == pytest.approx((0.5, 1.0))
    assert (batch.requests, batch.answered) == (11, 10)
    assert (batch.p50_s, batch.p95_s) == pytest.approx((50.0, 100.0))
    assert (api.requests, api.answered, api.p50_s, api.p95_s, api.p99_s) == (0, 0, None, None, None)
    assert snap.latency.answered == 20


@pytest.mark.parametrize(("short_latency", "met"), [(2.9, True), (3.0, True), (3.1, False)])
def test_p95_target_counts_short_requests_only(clock, tracker, short_latency, met):
    """The P95 objective is judged on requests up to 200 characters; long slow ones do not count."""
    for _ in range(20):
        tracker.record(outcome(clock, short_latency, chars=200))
        tracker.record(outcome(clock, 30.0, chars=201))
    tracker.record(outcome(clock, 60.0, FAILED, chars=10))  # no answer: no latency sample
    snap = tracker.snapshot(FIVE_MIN)
    assert snap.p95_short_s == pytest.approx(short_latency)
    assert snap.p95_target_met is met
    assert snap.latency.p95_s == 30.0


def test_reasons_engine_mix_and_cache_hit_ratio(clock, tracker):
    """Fallback reasons count every request carrying one; engine mix and cache hits count answers."""
    tracker.record(outcome(clock, engine="kokoro", cache_hit=True))
    tracker.record(outcome(clock, engine="kokoro"))
    tracker.record(outcome(clock, status=DEGRADED, engine="piper", fallback_reason="breaker_open"))
    tracker.record(outcome(clock, status=DEGRADED, engine="espeak", fallback_reason="deadline"))
    tracker.record(outcome(clock, status=FAILED, engine="piper", fallback_reason="deadline"))
    tracker.record(outcome(clock, status=REJECTED, engine=None))
    snap = tracker.snapshot(FIVE_MIN)
    assert snap.engine_mix == {"kokoro": 2, "piper": 1, "espeak": 1}
    assert snap.fallback_reasons == {"breaker_open": 1, "deadline": 2}
    assert snap.cache_hit_ratio == pytest.approx(1 / 4)
    assert snap.degradation_rate == pytest.approx(2 / 4)


def test_too_many_distinct_labels_fold_into_other(clock, tracker):
    """Free-text fallback reasons cannot grow memory without bound: past 1023 they count as '(other)'."""
    for i in range(1100):
        tracker.record(outcome(clock, status=DEGRADED, fallback_reason=f"reason {i}"))
    reasons = tracker.snapshot(FIVE_MIN).fallback_reasons
    assert len(reasons) == 1024
    assert reasons["(other)"] == 1100 - 1023
    assert sum(reasons.values()) == 1100


def test_empty_window_gives_zeros_and_none(tracker):
    """With no outcomes every count is zero, every ratio and quantile None, and to_dict is JSON."""
    snap = tracker.snapshot(HOUR)
    assert (snap.requests, snap.admitted, snap.answered, snap.rejected) == (0, 0, 0, 0)
    ratios = (snap.availability, snap.degradation_rate, snap.cache_hit_ratio, snap.burn_rate)
    assert ratios == (None, None, None, None)
    assert (snap.p95_short_s, snap.p95_target_met, snap.latency.p50_s) == (None, None, None)
    assert (snap.fallback_reasons, snap.engine_mix, snap.complete) == ({}, {}, True)
    assert json.loads(json.dumps(snap.to_dict()))["by_priority"]["batch"]["requests"] == 0


def test_to_dict_is_plain_json(clock, tracker):
    """to_dict gives plain JSON types with priorities keyed by their string value."""
    tracker.record(outcome(clock, 1.5, priority=Priority.API, fallback_reason="timeout"))
    data = json.loads(json.dumps(tracker.snapshot(FIVE_MIN).to_dict()))
    assert data["by_priority"]["api"] == {
        "requests": 1,
        "answered": 1,
        "p50_s": 1.5,
        "p95_s": 1.5,
        "p99_s": 1.5,
    }
    assert data["targets"] == {"p95_latency_s": 3.0, "p95_max_chars": 200, "availability": 0.999}
    assert (data["window_s"], data["availability"], data["fallback_reasons"]) == (300.0, 1.0, {"timeout": 1})


def test_sample_cap_drops_oldest_and_flags_incomplete_windows(clock):
    """Past max_samples the oldest go first, and only windows that lost samples say so."""
    tracker = SlaTracker(clock, max_samples=10)
    for _ in range(5):
        tracker.record(outcome(clock, 100.0))
    clock.advance(100)
    for _ in range(10):
        tracker.record(outcome(clock, 1.0))
    short, long = tracker.snapshot(60), tracker.snapshot(FIVE_MIN)
    assert (short.requests, short.complete) == (10, True)
    assert (long.requests, long.complete, long.latency.p99_s) == (10, False, 1.0)


# (steps, arrivals per second): slow traffic wraps the 1024-row buffer through time eviction, a burst
# grows it while wrapped and then hits the cap, slow traffic again evicts from a wrapped, partly full ring.
PHASES = [(1500, 1.0), (4000, 50.0), (1000, 2.0)]


def test_matches_a_reference_through_growth_wraparound_and_eviction(clock):
    """Through buffer growth, wrap-around, the cap and eviction, figures match a brute-force model."""
    rng = random.Random(7)
    cap, longest = 3000, 600.0
    tracker = SlaTracker(clock, windows=(60.0, longest), max_samples=cap)
    kept: deque[RequestOutcome] = deque()
    last_dropped = -math.inf
    statuses = [OK] * 8 + [DEGRADED, FAILED, REJECTED, CANCELLED]
    rates = [rate for steps, rate in PHASES for _ in range(steps)]
    for step, rate in enumerate(rates):
        clock.advance(rng.expovariate(rate))
        item = outcome(
            clock, rng.lognormvariate(0, 1), rng.choice(statuses), priority=rng.choice(list(Priority))
        )
        tracker.record(item)
        while kept and kept[0].at < clock.monotonic() - longest:
            kept.popleft()
        if len(kept) == cap:
            last_dropped = kept.popleft().at
        kept.append(item)
        if step % 250 != 249:
            continue
        for window in (60.0, longest):
            cutoff = clock.monotonic() - window
            mine = [o for o in kept if o.at >= cutoff]
            snap = tracker.snapshot(window)
            assert (snap.requests, snap.complete) == (len(mine), last_dropped < cutoff)
            for priority in Priority:
                answered = [
                    o.latency_s for o in mine if o.priority is priority and o.status in (OK, DEGRADED)
                ]
                stats = snap.by_priority[priority]
                assert stats.answered == len(answered)
                assert stats.p95_s == nearest_rank(answered, 0.95)
                assert stats.p50_s == nearest_rank(answered, 0.5)


@pytest.mark.parametrize(
    "build",
    [
        lambda c: SlaTracker(c, windows=()),
        lambda c: SlaTracker(c, windows=(0.0, 60.0)),
        lambda c: SlaTracker(c, max_samples=0),
        lambda c: SlaTargets(availability=1.0),
        lambda c: SlaTargets(p95_latency_s=0.0),
        lambda c: RequestOutcome(at=0.0, priority=Priority.API, chars=-1, latency_s=1.0, status=OK),
        lambda c: RequestOutcome(at=0.0, priority=Priority.API, chars=1, latency_s=math.nan, status=OK),
        lambda c: SlaTracker(c).snapshot(HOUR + 1),
        lambda c: SlaTracker(c).snapshot(0.0),
    ],
)
def test_invalid_configuration_and_input_are_refused(clock, build):
    """Nonsensical windows, caps, targets, outcomes and snapshot windows raise ValueError."""
    with pytest.raises(ValueError):  # noqa: PT011 (each case has its own message)
        build(clock)
