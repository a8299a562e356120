"""Per-client realtime limits: open sockets and characters per sliding minute."""

from __future__ import annotations

import pytest

from voxgate.realtime.limits import RealtimeLimits
from voxgate.testing import FakeClock


def test_sockets_are_counted_per_client() -> None:
    """A client at its maximum is refused; closing one makes room; clients do not share counts."""
    limits = RealtimeLimits(FakeClock(), max_sockets=2, chars_per_minute=None)
    assert limits.open("a")
    assert limits.open("a")
    assert not limits.open("a")
    assert limits.open("b")
    limits.close("a")
    assert limits.open("a")
    assert limits.open_sockets("a") == 2


def test_characters_per_minute_slide_with_the_clock() -> None:
    """Over the minute's budget is refused with the wait until the oldest charge leaves the window."""
    clock = FakeClock()
    limits = RealtimeLimits(clock, max_sockets=1, chars_per_minute=100)
    assert limits.charge("a", 60) is None
    clock.advance(20)
    assert limits.charge("a", 40) is None
    assert limits.charge("a", 1) == pytest.approx(40.0)
    assert limits.charge("b", 100) is None  # per client
    clock.advance(40)
    assert limits.charge("a", 50) is None  # the first 60 left the window
