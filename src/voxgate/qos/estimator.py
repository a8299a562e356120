"""Online per-engine estimate of service time as a function of text length.

Model: service time = fitted(chars) x ratio, with ``fitted(chars) = a + b·chars`` the
median line and ``ratio`` the multiplicative noise. Per engine the estimator keeps the
last ``window`` observations. On demand it fits the median line by least absolute
deviations (robust to stalls and other outliers), stores the sorted residual ratios
``observed / fitted``, and answers a quantile as ``fitted(chars) x quantile(ratios)``.
The fit is cached until the next observation, so ``estimate`` costs O(1) between
observations and one O(window log window) refit after each (on the event loop, after every
finished call: 0.30 ms at a window of 200, against 2.8 ms for the IRLS fit it replaced;
``bench/estimator_refit.py``).

The line is kept physical (``a ≥ 0``, ``b ≥ 0``): a negative intercept falls back to a
line through the origin, a negative slope to a constant. When the observed lengths
span too narrow a range to tell overhead from per-character cost, the engine's prior
is scaled to the data instead, so extrapolation keeps the prior's shape.

Before ``min_observations`` observations the prior alone answers, for every quantile.

Concurrency: used from one asyncio event loop; no locks, not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["LatencyEstimator", "LatencyPrior"]

_Floats = NDArray[np.float64]

_MIN_SPREAD: float = 1.5
"""Longest / shortest observed length below which the slope is not fitted."""
_GOLDEN: float = (math.sqrt(5.0) - 1.0) / 2.0
"""Step of the low-discrepancy sequence that spreads censored imputations over (0, 1)."""
_LAD_ROUNDS: int = 50
"""Bound on the pivot moves of the exact LAD line search (it takes 2-5 on real windows)."""


@dataclass(frozen=True, slots=True)
class LatencyPrior:
    """What an engine is believed to cost before it has been measured.

    Attributes:
        per_char_s: seconds per input character.
        overhead_s: fixed seconds per call.

    Raises:
        ValueError: from the constructor, if a field is negative or both are zero.
    """

    per_char_s: float
    overhead_s: float

    def __post_init__(self) -> None:
        if self.per_char_s < 0 or self.overhead_s < 0 or self.per_char_s + self.overhead_s == 0:
            raise ValueError(f"prior needs non-negative costs, not both zero: {self}")

    def seconds(self, chars: int) -> float:
        """Return the prior service time for ``chars`` characters."""
        return self.overhead_s + self.per_char_s * chars


@dataclass(frozen=True, slots=True)
class _Fit:
    intercept: float
    slope: float
    sorted_ratios: _Floats

    def ratio(self, q: float) -> float:
        """Linear-interpolated ``q`` quantile of the ratios."""
        ratios = self.sorted_ratios
        position = q * (len(ratios) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ratios) - 1)
        return float(ratios[low] + (ratios[high] - ratios[low]) * (position - low))

    def quantile(self, chars: int, q: float) -> float:
        """Linear-interpolated ``q`` quantile of the ratios, times the fitted line."""
        return (self.intercept + self.slope * chars) * self.ratio(q)


class _Series:
    """A ring buffer of ``(chars, seconds)`` with a cached fit."""

    __slots__ = ("_chars", "_count", "_fit", "_line", "_next", "_seconds")

    def __init__(self, window: int) -> None:
        self._chars: _Floats = np.zeros(window)
        self._seconds: _Floats = np.zeros(window)
        self._count = 0
        self._next = 0
        self._fit: _Fit | None = None
        self._line: tuple[float, float] | None = None  # the last LAD line: where the next refit starts

    def __len__(self) -> int:
        return self._count

    def add(self, chars: int, seconds: float) -> None:
        self._chars[self._next] = chars
        self._seconds[self._next] = seconds
        self._next = (self._next + 1) % len(self._chars)
        self._count = min(self._count + 1, len(self._chars))
        self._fit = None

    def fit(self, prior: LatencyPrior) -> _Fit:
        if self._fit is None:
            self._fit, self._line = _fit(
                self._chars[: self._count], self._seconds[: self._count], prior, self._line
            )
        return self._fit


class LatencyEstimator:
    """Learns, per engine, how long a call takes for a given number of characters.

    Args:
        priors: engine name → prior, used until the engine has ``min_observations``.
        default_prior: prior for engines missing from ``priors``; those engines are
            rejected when ``None``.
        window: observations kept per engine (the oldest is dropped first).
        min_observations: observations needed before the data replaces the prior.

    Raises:
        ValueError: if ``window`` or ``min_observations`` is out of range.
    """

    def __init__(
        self,
        priors: Mapping[str, LatencyPrior],
        *,
        default_prior: LatencyPrior | None = None,
        window: int = 200,
        min_observations: int = 5,
    ) -> None:
        if not 2 <= min_observations <= window:
            raise ValueError(f"need 2 ≤ min_observations ≤ window, got {min_observations} and {window}")
        self._priors = dict(priors)
        self._default_prior = default_prior
        self._window = window
        self._min_observations = min_observations
        self._series: dict[str, _Series] = {}
        self._imputed = 0.0  # last point of the golden-ratio sequence used by observe_censored

    def observe(self, engine: str, chars: int, seconds: float) -> None:
        """Record that ``engine`` took ``seconds`` to speak ``chars`` characters.

        Args:
            engine: engine name.
            chars: characters in the text the engine was given.
            seconds: measured service time (not including queueing).

        Raises:
            KeyError: if the engine has no prior and there is no default prior.
            ValueError: if ``chars`` is negative or ``seconds`` negative or not finite.
        """
        self._prior(engine)
        _check_chars(chars)
        if not (math.isfinite(seconds) and seconds >= 0):
            raise ValueError(f"seconds must be finite and ≥ 0, got {seconds}")
        series = self._series.get(engine)
        if series is None:
            series = self._series[engine] = _Series(self._window)
        series.add(chars, seconds)

    def observe_censored(self, engine: str, chars: int, at_least_s: float) -> None:
        """Record a call that was given up after ``at_least_s`` (a timeout): it took at least that.

        A right-censored observation. Dropping it (learning from successes only) keeps the
        estimate optimistic exactly when an engine slows down, since the slow calls are the ones
        that time out; recording it as if it had finished at ``at_least_s`` is right only for a
        timeout above the current quantiles, and drags the line down for one below them (a client
        that sends a 100 ms deadline). So it is imputed from the current model *conditional on
        exceeding* ``at_least_s``, and never below ``at_least_s``: if the ratio ``at_least_s /
        fitted`` sits at position ``p`` of the residual ratios, the imputed ratio is their
        ``p + (1 - p)·u`` quantile, with ``u`` walking (0, 1) by the golden-ratio sequence so that
        many imputations spread like the conditional distribution instead of piling up on its
        median (which would shrink the upper quantiles). A timeout beyond every ratio seen
        (``p = 1``) adds ``at_least_s`` itself, a lower bound that raises the upper quantiles as
        an engine slows down; timeouts far below the median add draws of the current
        distribution and leave the estimate where it was. Before the engine is known, the prior
        stands in.

        Args:
            engine: engine name.
            chars: characters in the text the engine was given.
            at_least_s: seconds the call ran before it was given up.

        Raises:
            KeyError: if the engine has no prior and there is no default prior.
            ValueError: if ``chars`` is negative or ``at_least_s`` negative or not finite.
        """
        prior = self._prior(engine)
        _check_chars(chars)
        if not (math.isfinite(at_least_s) and at_least_s >= 0):
            raise ValueError(f"at_least_s must be finite and ≥ 0, got {at_least_s}")
        series = self._series.get(engine)
        if series is None or len(series) < self._min_observations:
            imputed = max(at_least_s, prior.seconds(chars))
        else:
            fit = series.fit(prior)
            fitted = fit.intercept + fit.slope * chars
            imputed = at_least_s
            if fitted > 0:
                ratios = fit.sorted_ratios
                p = int(np.searchsorted(ratios, at_least_s / fitted, side="right")) / len(ratios)
                self._imputed = (self._imputed + _GOLDEN) % 1.0
                imputed = max(at_least_s, fit.quantile(chars, p + (1.0 - p) * self._imputed))
        self.observe(engine, chars, imputed)

    def knows(self, engine: str) -> bool:
        """Tell whether ``engine`` has enough observations to replace its prior.

        Args:
            engine: engine name.

        Returns:
            True once at least ``min_observations`` observations are in the window.
        """
        series = self._series.get(engine)
        return series is not None and len(series) >= self._min_observations

    def observations(self, engine: str) -> int:
        """Return how many observations of ``engine`` the window holds."""
        series = self._series.get(engine)
        return 0 if series is None else len(series)

    def estimate(self, engine: str, chars: int, quantile: float = 0.95) -> float:
        """Estimate the ``quantile`` of ``engine``'s service time for ``chars`` characters.

        Args:
            engine: engine name.
            chars: characters of the text to speak.
            quantile: in [0, 1]; 0.95 means "95 % of calls finish within the answer".

        Returns:
            Seconds. From the prior (whatever ``quantile``) until the engine is known.

        Raises:
            KeyError: if the engine has no prior and there is no default prior.
            ValueError: if ``chars`` is negative or ``quantile`` outside [0, 1].
        """
        prior = self._prior(engine)
        _check_chars(chars)
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {quantile}")
        series = self._series.get(engine)
        if series is None or len(series) < self._min_observations:
            return prior.seconds(chars)
        return series.fit(prior).quantile(chars, quantile)

    def estimate_total(self, engine: str, calls: int, chars: int, quantile: float = 0.95) -> float:
        """The sum of ``estimate`` over ``calls`` calls of ``chars`` characters in all, in O(1).

        The model is a line times a ratio that depends on the quantile only, so the sum of the
        estimates of calls of ``c1 … cn`` characters is ``n`` intercepts plus the slope times
        ``c1 + … + cn``: the total needs the count and the character sum, not each call (the
        router adds up the queue in front of a request this way on every routing try).

        Args:
            engine: engine name.
            calls: how many calls.
            chars: their characters, summed.
            quantile: in [0, 1], as for ``estimate``.

        Returns:
            Seconds; 0 for no calls.

        Raises:
            KeyError: if the engine has no prior and there is no default prior.
            ValueError: if ``calls`` or ``chars`` is negative or ``quantile`` outside [0, 1].
        """
        prior = self._prior(engine)
        _check_chars(chars)
        if calls < 0:
            raise ValueError(f"calls must be ≥ 0, got {calls}")
        if not 0.0 <= quantile <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], got {quantile}")
        if calls == 0:
            return 0.0
        series = self._series.get(engine)
        if series is None or len(series) < self._min_observations:
            return prior.overhead_s * calls + prior.per_char_s * chars
        fit = series.fit(prior)
        return (fit.intercept * calls + fit.slope * chars) * fit.ratio(quantile)

    def _prior(self, engine: str) -> LatencyPrior:
        prior = self._priors.get(engine, self._default_prior)
        if prior is None:
            raise KeyError(f"no latency prior for engine {engine!r} and no default prior")
        return prior


def _check_chars(chars: int) -> None:
    if chars < 0:
        raise ValueError(f"chars must be ≥ 0, got {chars}")


def _fit(
    chars: _Floats, seconds: _Floats, prior: LatencyPrior, start: tuple[float, float] | None = None
) -> tuple[_Fit, tuple[float, float] | None]:
    """Fit the median line and collect the residual ratios.

    Returns:
        The fit, and the least-absolute-deviations line it came from (``None`` if the prior was
        scaled instead), for ``start`` of the next fit of the same series.
    """
    line = None
    positive = chars[chars > 0]
    if len(positive) < 2 or positive.max() < _MIN_SPREAD * positive.min():
        expected = prior.overhead_s + prior.per_char_s * chars
        if (expected > 0).any():
            scale = float(np.median(seconds[expected > 0] / expected[expected > 0]))
            intercept, slope = scale * prior.overhead_s, scale * prior.per_char_s
        else:  # only empty texts seen and the prior has no overhead
            intercept, slope = float(np.median(seconds)), 0.0
    else:
        line = intercept, slope = _lad_line(chars, seconds, start)
        if slope < 0:
            intercept, slope = float(np.median(seconds)), 0.0
        elif intercept < 0:
            intercept, slope = 0.0, _weighted_median(seconds[chars > 0] / positive, positive)
    fitted = intercept + slope * chars
    usable = fitted > 0
    if not usable.any():  # every observation took 0 s: any estimate is 0
        return _Fit(0.0, 0.0, np.ones(1)), line
    ratios = np.sort(seconds[usable] / fitted[usable])
    return _Fit(intercept, slope, ratios), line


def _lad_line(x: _Floats, y: _Floats, start: tuple[float, float] | None = None) -> tuple[float, float]:
    """The least-absolute-deviations line ``y ≈ a + b·x``, exactly, by Wesolowsky's descent.

    An optimal line passes through two of the points. From a pivot point, the best line through
    it has the weighted median of the slopes to the other points (weights ``|x_i - x_pivot|``);
    the point that slope leads to becomes the next pivot, until the sum of absolute deviations
    stops falling (2-5 rounds of O(n log n) here). The first pivot is the point closest to
    ``start`` (the previous fit of nearly the same window) or else to the least-squares line.
    (It replaced iteratively reweighted least squares, which often stopped at its 60-iteration
    cap short of the optimum: 12x slower, and its slope up to 3 % off between neighbouring windows.)
    """
    if start is None:
        design = np.column_stack([np.ones_like(x), x])
        a, b = (float(v) for v in np.linalg.lstsq(design, y, rcond=None)[0])
    else:
        a, b = start
    pivot = int(np.argmin(np.abs(y - (a + b * x))))
    best: tuple[float, float, float] | None = None  # (sum of absolute deviations, a, b)
    for _ in range(_LAD_ROUNDS):
        dx = x - x[pivot]
        others = np.flatnonzero(dx != 0)
        if others.size == 0:  # every point at the same x: a constant
            return float(np.median(y)), 0.0
        slopes = (y[others] - y[pivot]) / dx[others]
        order = np.argsort(slopes, kind="stable")
        cumulative = np.cumsum(np.abs(dx[others])[order])
        at = order[int(np.searchsorted(cumulative, cumulative[-1] / 2))]
        b = float(slopes[at])
        a = float(y[pivot] - b * x[pivot])
        deviations = float(np.abs(y - a - b * x).sum())
        if best is not None and deviations >= best[0]:
            break
        best = (deviations, a, b)
        pivot = int(others[at])
    assert best is not None
    return best[1], best[2]


def _weighted_median(values: _Floats, weights: _Floats) -> float:
    """The value at which half the total weight lies on either side."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, cumulative[-1] / 2))
    return float(values[order][index])
