"""Test helpers that are part of the public API (see STYLE.md rule 11)."""

from __future__ import annotations


class FakeClock:
    """A clock that only moves when told to.

    Args:
        start: initial monotonic reading.
        wall_start: initial wall-clock reading (epoch seconds).
    """

    def __init__(self, start: float = 1000.0, wall_start: float = 1_780_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_start - start

    def monotonic(self) -> float:
        """Return the current fake time."""
        return self._now

    def wall(self) -> float:
        """Return the fake epoch time, moving with ``monotonic``."""
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward.

        Raises:
            ValueError: if ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += seconds
