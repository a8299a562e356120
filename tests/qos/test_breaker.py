"""Circuit breaker state machine, its registry, and the QoS event bus it publishes on."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

import pytest

from voxgate.qos import (
    LEGAL_TRANSITIONS,
    BreakerConfig,
    BreakerRegistry,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    EventBus,
    IllegalTransition,
)
from voxgate.testing import FakeClock

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FAST, SLOW = 0.1, 6.0  # seconds, either side of the default slow_call_duration of 5 s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


def make(clock: FakeClock, bus: EventBus, **config: Any) -> CircuitBreaker:
    return CircuitBreaker("piper", BreakerConfig(**config), clock=clock, bus=bus)


def feed(breaker: CircuitBreaker, outcomes: str, duration: float = FAST) -> None:
    """Report outcomes: ``F`` failure, ``S`` success, lowercase for a slow call."""
    for outcome in outcomes:
        seconds = SLOW if outcome.islower() else duration
        if outcome.upper() == "F":
            breaker.on_failure(seconds)
        else:
            breaker.on_success(seconds)


def open_breaker(breaker: CircuitBreaker) -> None:
    feed(breaker, "F" * breaker.config.minimum_calls)
    assert breaker.state is OPEN


def half_open_breaker(breaker: CircuitBreaker, clock: FakeClock) -> None:
    """Open the breaker, wait it out, and take the first trial permit."""
    open_breaker(breaker)
    clock.advance(breaker.config.wait_duration_open)
    assert breaker.try_acquire()
    assert breaker.state is HALF_OPEN


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"window_size": 0}, "window_size"),
        ({"minimum_calls": 0}, "minimum_calls"),
        ({"window_size": 4, "minimum_calls": 5}, "minimum_calls"),
        ({"failure_rate_threshold": 0.0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 1.5}, "failure_rate_threshold"),
        ({"slow_call_rate_threshold": 0.0}, "slow_call_rate_threshold"),
        ({"slow_call_duration": 0.0}, "slow_call_duration"),
        ({"wait_duration_open": -1.0}, "wait_duration_open"),
        ({"permitted_calls_half_open": 0}, "permitted_calls_half_open"),
    ],
)
def test_config_rejects_out_of_range_values(config: dict[str, Any], field: str) -> None:
    """Every config field is range-checked when the config is built, naming the field."""
    with pytest.raises(ValueError, match=field):
        BreakerConfig(**config)


def test_closed_grants_every_call_and_ignores_rates_below_minimum_calls(clock, bus) -> None:
    """Below minimum_calls even a 100 % failure rate keeps the breaker CLOSED; the minimum trips it."""
    breaker = make(clock, bus)
    feed(breaker, "FFFF")
    assert breaker.state is CLOSED
    assert all(breaker.try_acquire() for _ in range(100))
    feed(breaker, "F")
    assert breaker.state is OPEN


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ("SSSFF", CLOSED),  # 0.4 < 0.5
        ("SSSFFF", OPEN),  # 0.5 reaches the threshold
        ("SSSSSSSSSSFFFFFFFFF", CLOSED),  # 9/19
        ("SSSSSSSSSSFFFFFFFFFF", OPEN),  # 10/20
        ("sssSS", CLOSED),  # slow rate 0.6 < 0.8
        ("ssssS", OPEN),  # slow rate 0.8 even though every call succeeded
        ("ffSSS", CLOSED),  # slow failures count in both rates: 0.4 and 0.4
        ("fffSS", OPEN),  # failure rate 0.6
    ],
)
def test_closed_trips_on_failure_or_slow_rate(clock, bus, outcomes: str, expected: BreakerState) -> None:
    """CLOSED opens once the failure or the slow-call rate reaches its threshold."""
    breaker = make(clock, bus)
    feed(breaker, outcomes)
    assert breaker.state is expected


def test_slow_means_strictly_longer_than_slow_call_duration(clock, bus) -> None:
    """A call lasting exactly slow_call_duration is not slow; one a little longer is."""
    breaker = make(clock, bus)
    feed(breaker, "SSSSS", duration=5.0)
    assert breaker.snapshot().slow_rate == 0.0
    feed(breaker, "S", duration=5.001)
    assert breaker.snapshot().slow_rate == pytest.approx(1 / 6)


def test_failed_slow_call_counts_as_failed_and_slow(clock, bus) -> None:
    """One slow failure among three calls shows in both the failure and the slow rate."""
    breaker = make(clock, bus)
    feed(breaker, "fSS")
    snap = breaker.snapshot()
    assert (snap.failure_rate, snap.slow_rate, snap.calls_in_window) == (
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
        3,
    )


def test_window_slides_over_the_last_n_calls(clock, bus) -> None:
    """Outcomes older than window_size calls no longer count."""
    breaker = make(clock, bus, window_size=4, minimum_calls=4, failure_rate_threshold=0.75)
    feed(breaker, "FFSSSSFF")  # 4 of 8 failed overall, window holds S S F F
    snap = breaker.snapshot()
    assert (snap.state, snap.calls_in_window, snap.failure_rate) == (CLOSED, 4, 0.5)
    feed(breaker, "F")  # window S F F F
    assert breaker.state is OPEN


def test_open_refuses_until_the_wait_has_passed_then_half_opens_lazily(clock, bus) -> None:
    """OPEN refuses calls for wait_duration_open, stays OPEN until asked, then grants a trial permit."""
    breaker = make(clock, bus)
    open_breaker(breaker)
    assert breaker.snapshot().seconds_until_half_open == 10.0
    clock.advance(9.999)
    assert not breaker.try_acquire()
    assert breaker.snapshot().seconds_until_half_open == pytest.approx(0.001)
    clock.advance(0.001)
    assert breaker.state is OPEN  # nothing happens until someone asks
    assert breaker.snapshot().seconds_until_half_open == 0.0
    assert breaker.try_acquire()
    assert breaker.state is HALF_OPEN


def test_half_open_grants_exactly_the_permitted_trial_calls(clock, bus) -> None:
    """HALF_OPEN grants permitted_calls_half_open permits in all and refuses the next one."""
    breaker = make(clock, bus, permitted_calls_half_open=4)
    half_open_breaker(breaker, clock)
    assert [breaker.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_release_returns_a_half_open_permit(clock, bus) -> None:
    """A released trial permit can be acquired again; releasing with none outstanding adds nothing."""
    breaker = make(clock, bus)
    half_open_breaker(breaker, clock)
    assert breaker.try_acquire()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()
    breaker.release()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()
    for _ in range(3):
        breaker.release()
    assert [breaker.try_acquire() for _ in range(4)] == [True, True, True, False]


@pytest.mark.parametrize("state", [CLOSED, OPEN])
def test_release_outside_half_open_changes_nothing(clock, bus, state: BreakerState) -> None:
    """release() in CLOSED or OPEN is a harmless no-op."""
    breaker = make(clock, bus)
    if state is OPEN:
        open_breaker(breaker)
    before = breaker.snapshot()
    breaker.release()
    assert breaker.snapshot() == before


@pytest.mark.parametrize(
    ("trials", "expected", "outcomes_before_decision"),
    [
        ("SSS", CLOSED, 3),
        ("FSS", CLOSED, 3),  # 1/3 < 0.5
        ("SFF", OPEN, 3),
        ("FF", OPEN, 2),  # 2/3 is certain after two failures: reopen at once
        ("ssS", CLOSED, 3),  # slow rate 2/3 < 0.8
        ("sss", OPEN, 3),  # slow rate 1.0
    ],
)
def test_half_open_decides_on_the_trial_calls_alone(
    clock, bus, trials: str, expected: BreakerState, outcomes_before_decision: int
) -> None:
    """The trial calls' own rates close or reopen the breaker, reopening as soon as the result is certain."""
    breaker = make(clock, bus)
    half_open_breaker(breaker, clock)
    breaker.try_acquire()
    breaker.try_acquire()
    feed(breaker, trials[: outcomes_before_decision - 1])
    assert breaker.state is HALF_OPEN
    feed(breaker, trials[outcomes_before_decision - 1 :])
    assert breaker.state is expected


def test_closing_clears_the_window(clock, bus) -> None:
    """After HALF_OPEN closes, the old failures are gone and minimum_calls applies afresh."""
    breaker = make(clock, bus)
    half_open_breaker(breaker, clock)
    breaker.try_acquire()
    breaker.try_acquire()
    feed(breaker, "SSS")
    assert breaker.snapshot().calls_in_window == 0
    feed(breaker, "FFFF")
    assert breaker.state is CLOSED
    feed(breaker, "F")
    assert breaker.state is OPEN


def test_reopening_restarts_the_wait(clock, bus) -> None:
    """HALF_OPEN → OPEN waits a full wait_duration_open from the reopening."""
    breaker = make(clock, bus)
    half_open_breaker(breaker, clock)
    breaker.try_acquire()
    clock.advance(3.0)
    feed(breaker, "FF")
    assert breaker.state is OPEN
    clock.advance(9.9)
    assert not breaker.try_acquire()
    clock.advance(0.1)
    assert breaker.try_acquire()


def test_outcomes_without_a_permit_are_ignored(clock, bus) -> None:
    """Outcomes reported while OPEN, or in HALF_OPEN with no trial permit out, change nothing."""
    breaker = make(clock, bus)
    open_breaker(breaker)
    before = breaker.snapshot()
    feed(breaker, "SSSSSSSSSS")
    assert breaker.snapshot() == before
    clock.advance(10.0)
    assert breaker.try_acquire()
    feed(breaker, "F")  # the one permit's outcome: 1 failure of 3 trials, no decision yet
    feed(breaker, "FFFF")  # stale: no permit outstanding
    assert breaker.state is HALF_OPEN
    assert breaker.snapshot().calls_in_window == 1


def test_negative_duration_is_rejected(clock, bus) -> None:
    """A negative call duration is a caller bug and raises."""
    breaker = make(clock, bus)
    with pytest.raises(ValueError, match="duration_s"):
        breaker.on_success(-0.1)


def _breaker_in(state: BreakerState, clock: FakeClock, bus: EventBus) -> CircuitBreaker:
    breaker = make(clock, bus)
    if state is OPEN:
        open_breaker(breaker)
    elif state is HALF_OPEN:
        half_open_breaker(breaker, clock)
    return breaker


EXPECTED_LEGAL = [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED), (HALF_OPEN, OPEN)]
ILLEGAL = [p for p in itertools.product(BreakerState, repeat=2) if p not in EXPECTED_LEGAL]


def test_transition_table_is_exactly_the_breaker_cycle() -> None:
    """The legal table holds the four cycle transitions and nothing else (no self-loops, no OPEN → CLOSED)."""
    assert set(EXPECTED_LEGAL) == LEGAL_TRANSITIONS


@pytest.mark.parametrize(("from_state", "to_state"), ILLEGAL)
def test_illegal_transitions_raise(clock, bus, from_state: BreakerState, to_state: BreakerState) -> None:
    """Every transition outside the table raises IllegalTransition and leaves the breaker untouched."""
    breaker = _breaker_in(from_state, clock, bus)
    with bus.capture() as events, pytest.raises(IllegalTransition) as info:
        breaker.transition_to(to_state)
    assert (info.value.from_state, info.value.to_state) == (from_state, to_state)
    assert breaker.state is from_state
    assert events == []


@pytest.mark.parametrize(("from_state", "to_state"), EXPECTED_LEGAL)
def test_manual_legal_transitions_publish_an_event(
    clock, bus, from_state: BreakerState, to_state: BreakerState
) -> None:
    """Every transition in the table can be made by hand and publishes one BreakerTransition."""
    breaker = _breaker_in(from_state, clock, bus)
    with bus.capture() as events:
        breaker.transition_to(to_state)
    assert breaker.state is to_state
    assert [(e.from_state, e.to_state) for e in events if isinstance(e, BreakerTransition)] == [
        (from_state, to_state)
    ]


def test_every_automatic_transition_publishes_its_event(clock, bus) -> None:
    """A full cycle publishes one event per transition with its time and the rates behind it."""
    breaker = make(clock, bus)
    with bus.capture() as events:
        feed(breaker, "SSFFF")  # 0.6 → OPEN at t=1000
        clock.advance(10.0)
        breaker.try_acquire()  # → HALF_OPEN at t=1010
        breaker.try_acquire()
        feed(breaker, "ss")  # no decision yet
        breaker.try_acquire()
        feed(breaker, "s")  # slow rate 1.0 → OPEN
        clock.advance(12.5)
        for _ in range(3):
            breaker.try_acquire()  # first call → HALF_OPEN at t=1022.5
        feed(breaker, "SSF")  # 1/3 → CLOSED
    assert events == [
        BreakerTransition("piper", CLOSED, OPEN, 1000.0, 0.6, 0.0),
        BreakerTransition("piper", OPEN, HALF_OPEN, 1010.0, 0.6, 0.0),
        BreakerTransition("piper", HALF_OPEN, OPEN, 1010.0, 0.0, 1.0),
        BreakerTransition("piper", OPEN, HALF_OPEN, 1022.5, 0.0, 1.0),
        BreakerTransition("piper", HALF_OPEN, CLOSED, 1022.5, 1 / 3, 0.0),
    ]


def test_registry_keeps_one_breaker_per_engine_with_overrides(clock, bus) -> None:
    """get() returns the same breaker per name, applies per-engine overrides, and snapshots them all."""
    registry = BreakerRegistry(
        BreakerConfig(minimum_calls=2),
        clock=clock,
        bus=bus,
        overrides={"kokoro": BreakerConfig(wait_duration_open=30.0)},
    )
    assert registry.get("piper") is registry.get("piper")
    assert registry.get("piper").config.minimum_calls == 2
    assert registry.get("kokoro").config.wait_duration_open == 30.0
    registry.get("piper").on_failure(FAST)
    registry.get("piper").on_failure(FAST)
    snaps = registry.snapshots()
    assert list(snaps) == ["piper", "kokoro"]
    assert (snaps["piper"].state, snaps["kokoro"].state) == (OPEN, CLOSED)


# The event bus the breakers publish on.


@dataclass(frozen=True, slots=True)
class Ping:
    n: int


@dataclass(frozen=True, slots=True)
class LoudPing(Ping):
    pass


def test_bus_delivers_by_type_including_subclasses_and_unsubscribes(bus) -> None:
    """Subscribers get events of their type and its subclasses, and nothing after unsubscribing."""
    pings: list[Ping] = []
    louds: list[LoudPing] = []
    everything: list[object] = []
    stop = bus.subscribe(Ping, pings.append)
    bus.subscribe(LoudPing, louds.append)
    bus.subscribe(object, everything.append)
    bus.publish(Ping(1))
    bus.publish(LoudPing(2))
    stop()
    stop()
    bus.publish(Ping(3))
    assert pings == [Ping(1), LoudPing(2)]
    assert louds == [LoudPing(2)]
    assert everything == [Ping(1), LoudPing(2), Ping(3)]


def test_bus_survives_a_raising_subscriber(bus, caplog: pytest.LogCaptureFixture) -> None:
    """A subscriber that raises is logged; the publisher and later subscribers carry on."""

    def broken(event: Ping) -> None:
        raise RuntimeError("metrics backend down")

    received: list[Ping] = []
    bus.subscribe(Ping, broken)
    bus.subscribe(Ping, received.append)
    with caplog.at_level(logging.ERROR, logger="voxgate.qos.events"):
        bus.publish(Ping(1))
    assert received == [Ping(1)]
    assert "metrics backend down" in caplog.text


def test_bus_capture_nests_and_stops_collecting_after_an_exception(bus) -> None:
    """capture() collects what is published inside it, nests, and detaches even when the block raises."""

    def publish_then_fail(n: int) -> list[object]:
        with bus.capture() as inner:
            bus.publish(Ping(n))
            raise KeyError(inner)

    with bus.capture() as outer:
        bus.publish(Ping(1))
        with pytest.raises(KeyError) as info:
            publish_then_fail(2)
        bus.publish(Ping(3))
    bus.publish(Ping(4))
    assert outer == [Ping(1), Ping(2), Ping(3)]
    assert info.value.args[0] == [Ping(2)]
