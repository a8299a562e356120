"""Figures of the HTTP bench, their targets, and the Markdown table."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

TARGET_HIT_RPS = 1500.0
TARGET_MISS_RATIO = 1.10
TARGET_TTFA_S = {"piper": 0.300, "kokoro": 1.5}


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table.

    Attributes:
        section: (a), (b), (c) or ``ctx`` for context figures without a target.
        measure: what was measured.
        value: the figure as shown.
        target: the target as shown ("" when there is none).
        passed: ``None`` when there is no target.
    """

    section: str
    measure: str
    value: str
    target: str = ""
    passed: bool | None = None


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def ms(seconds: float) -> str:
    """Seconds as milliseconds for the table."""
    return f"{seconds * 1000:.1f} ms"


def verdict(passed: bool | None) -> str:
    """pass / FAIL / blank."""
    return "" if passed is None else ("pass" if passed else "**FAIL**")


def markdown(rows: Sequence[Row], notes: Sequence[str]) -> str:
    """The table, then the notes as a list."""
    lines = ["| | measure | value | target | result |", "|---|---|---|---|---|"]
    lines += [f"| {r.section} | {r.measure} | {r.value} | {r.target} | {verdict(r.passed)} |" for r in rows]
    if notes:
        lines.append("")
        lines += [f"- {n}" for n in notes]
    return "\n".join(lines)
