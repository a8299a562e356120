"""Uncertainty of the quality bench's error rates: a bootstrap over corpus sentences.

A corpus error rate is a ratio of sums (edits over reference units), so the sentences, not the
words, are the independent units: one badly read sentence contributes a burst of errors. The
interval therefore resamples sentence indices with replacement and keeps every reading of a
resampled sentence (all trials, all voices) together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from _metrics import ErrorRate

RESAMPLES = 2000
LEVEL = 0.95
SEED = 0
"""Defaults of :func:`bootstrap_interval`; the fixed seed makes a report reproducible."""


@dataclass(frozen=True, slots=True)
class SentenceError:
    """The edit errors of one reading of one corpus sentence.

    Attributes:
        index: the sentence's position in its corpus; readings with the same index are of the
            same sentence (another trial or another voice).
        error: errors and reference length of this reading.
    """

    index: int
    error: ErrorRate


@dataclass(frozen=True, slots=True)
class Interval:
    """A confidence interval of an error rate, as fractions (0.1 is 10 %)."""

    low: float
    high: float


def bootstrap_interval(
    readings: Iterable[SentenceError],
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Interval | None:
    """Percentile-bootstrap confidence interval of the pooled error rate, resampling sentences.

    The readings are first summed per sentence index; each resample draws as many sentence
    indices as there are distinct sentences, with replacement, and takes the ratio of the drawn
    sentences' summed errors to their summed reference lengths.

    Args:
        readings: per-sentence errors, any number per sentence index.
        level: coverage of the interval, in (0, 1).
        resamples: number of bootstrap resamples.
        seed: seed of the random generator.

    Returns:
        The interval, or ``None`` when there are no readings or no reference units.

    Raises:
        ValueError: if ``level`` is not in (0, 1) or ``resamples`` is below 1.
    """
    _check(level, resamples)
    per_sentence = _per_sentence(readings)
    if not per_sentence:
        return None
    totals = np.array(list(per_sentence.values()), dtype=np.int64)
    errors, lengths = totals[:, 0], totals[:, 1]
    if lengths.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, len(totals), size=(resamples, len(totals)))
    drawn_lengths = lengths[drawn].sum(axis=1)
    # a resample of only empty references has no rate; every real corpus sentence has units
    rates = errors[drawn].sum(axis=1)[drawn_lengths > 0] / drawn_lengths[drawn_lengths > 0]
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(rates, [tail, 100.0 - tail])
    return Interval(float(low), float(high))


@dataclass(frozen=True, slots=True)
class PairedDifference:
    """Two readings of the same sentences compared: ``other``'s error rate minus ``base``'s.

    Attributes:
        sentences: sentences read both ways (the comparison uses only these).
        base, other: the pooled error rates on those sentences.
        interval: percentile-bootstrap CI of ``other - base`` (fractions; below 0: ``other`` better).
        better, worse: sentences with fewer / more errors in ``other``.
    """

    sentences: int
    base: ErrorRate
    other: ErrorRate
    interval: Interval | None
    better: int
    worse: int

    @property
    def difference(self) -> float:
        """``other``'s rate minus ``base``'s (fractions)."""
        return self.other.rate - self.base.rate


def paired_difference(
    base: Iterable[SentenceError],
    other: Iterable[SentenceError],
    *,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> PairedDifference | None:
    """Compare two ways of reading a corpus on the sentences both read, resampling sentences together.

    Each resample draws sentence indices with replacement and takes the difference of the two
    pooled rates over the drawn sentences, so the sentence-to-sentence spread (a hard sentence is
    hard both ways) cancels out: a paired interval is much narrower than two separate ones.

    Args:
        base, other: per-sentence errors (any number of readings per sentence index).
        level, resamples, seed: as :func:`bootstrap_interval`.

    Returns:
        The comparison, or ``None`` when no sentence was read both ways.

    Raises:
        ValueError: if ``level`` is not in (0, 1) or ``resamples`` is below 1.
    """
    _check(level, resamples)
    sums = [_per_sentence(base), _per_sentence(other)]
    common = sorted(set(sums[0]) & set(sums[1]))
    if not common:
        return None
    a = np.array([sums[0][i] for i in common], dtype=np.int64)
    b = np.array([sums[1][i] for i in common], dtype=np.int64)
    rates = (
        ErrorRate(int(a[:, 0].sum()), int(a[:, 1].sum())),
        ErrorRate(int(b[:, 0].sum()), int(b[:, 1].sum())),
    )
    interval = None
    if a[:, 1].sum() > 0 and b[:, 1].sum() > 0:
        rng = np.random.default_rng(seed)
        drawn = rng.integers(0, len(common), size=(resamples, len(common)))
        la, lb = a[:, 1][drawn].sum(axis=1), b[:, 1][drawn].sum(axis=1)
        ok = (la > 0) & (lb > 0)
        diffs = b[:, 0][drawn].sum(axis=1)[ok] / lb[ok] - a[:, 0][drawn].sum(axis=1)[ok] / la[ok]
        tail = 100.0 * (1.0 - level) / 2.0
        low, high = np.percentile(diffs, [tail, 100.0 - tail])
        interval = Interval(float(low), float(high))
    per_a = a[:, 0] / np.maximum(a[:, 1], 1)
    per_b = b[:, 0] / np.maximum(b[:, 1], 1)
    return PairedDifference(
        len(common), rates[0], rates[1], interval, int((per_b < per_a).sum()), int((per_b > per_a).sum())
    )


def _per_sentence(readings: Iterable[SentenceError]) -> dict[int, tuple[int, int]]:
    """Errors and reference units summed per sentence index."""
    sums: dict[int, tuple[int, int]] = {}
    for reading in readings:
        errors, length = sums.get(reading.index, (0, 0))
        sums[reading.index] = (errors + reading.error.errors, length + reading.error.reference_length)
    return sums


def _check(level: float, resamples: int) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
