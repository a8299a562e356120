"""Online latency estimator: priors, convergence to the true quantile, adaptation, robustness."""

from __future__ import annotations

import math

import numpy as np
import pytest

from voxgate.qos import LatencyEstimator, LatencyPrior

PRIORS = {
    "piper": LatencyPrior(per_char_s=0.004, overhead_s=0.05),
    "kokoro": LatencyPrior(per_char_s=0.05, overhead_s=0.3),
    "espeak": LatencyPrior(per_char_s=0.0002, overhead_s=0.01),
}
Z95 = 1.6448536269514722  # standard normal 95th percentile
SIGMA = 0.2


def true_quantile(chars: int, z: float = Z95, slowdown: float = 1.0) -> float:
    """Quantile of 0.05 + 0.004·chars·LogNormal(0, σ), times ``slowdown``: exact, the noise is monotone."""
    return slowdown * (0.05 + 0.004 * chars * math.exp(SIGMA * z))


def feed(
    estimator: LatencyEstimator,
    rng: np.random.Generator,
    n: int,
    slowdown: float = 1.0,
    engine: str = "piper",
) -> None:
    """Observe ``n`` calls of 20-400 characters from the synthetic engine, ``slowdown`` times slower."""
    chars = rng.integers(20, 401, n)
    seconds = slowdown * (0.05 + 0.004 * chars * rng.lognormal(0.0, SIGMA, n))
    for c, s in zip(chars, seconds, strict=True):
        estimator.observe(engine, int(c), float(s))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.mark.parametrize("engine", sorted(PRIORS))
@pytest.mark.parametrize("chars", [0, 1, 100, 250])
def test_prior_answers_when_the_engine_has_no_observations(engine: str, chars: int) -> None:
    """With no data, every quantile is the engine's prior overhead + per-char cost."""
    estimator = LatencyEstimator(PRIORS)
    prior = PRIORS[engine]
    expected = prior.overhead_s + prior.per_char_s * chars
    assert not estimator.knows(engine)
    assert estimator.estimate(engine, chars) == pytest.approx(expected)
    assert estimator.estimate(engine, chars, quantile=0.5) == pytest.approx(expected)


def test_prior_answers_until_min_observations(rng: np.random.Generator) -> None:
    """The prior holds until min_observations are in; then the data takes over."""
    estimator = LatencyEstimator(PRIORS, min_observations=5)
    for _ in range(4):
        estimator.observe("piper", 100, 2.0)  # 4x slower than the prior says
    assert not estimator.knows("piper")
    assert estimator.estimate("piper", 100) == pytest.approx(0.45)
    estimator.observe("piper", 100, 2.0)
    assert estimator.knows("piper")
    assert estimator.estimate("piper", 100) == pytest.approx(2.0)


@pytest.mark.parametrize("chars", [100, 200])
def test_p95_converges_to_the_true_quantile(rng: np.random.Generator, chars: int) -> None:
    """After a window of data, the P95 estimate is within 15 % of the analytic P95."""
    estimator = LatencyEstimator(PRIORS)
    feed(estimator, rng, 200)
    assert estimator.estimate("piper", chars) == pytest.approx(true_quantile(chars), rel=0.15)


def test_quantiles_are_ordered_and_the_median_is_right(rng: np.random.Generator) -> None:
    """P50 < P95 < P99, and P50 lands near the true median."""
    estimator = LatencyEstimator(PRIORS)
    feed(estimator, rng, 200)
    p50, p95, p99 = (estimator.estimate("piper", 150, q) for q in (0.5, 0.95, 0.99))
    assert p50 < p95 < p99
    assert p50 == pytest.approx(true_quantile(150, z=0.0), rel=0.1)


def test_adapts_when_the_engine_slows_down_three_times(rng: np.random.Generator) -> None:
    """The P95 rises as soon as slow calls arrive and matches the 3x slower engine once the window refills."""
    estimator = LatencyEstimator(PRIORS, window=200)
    feed(estimator, rng, 200)
    before = estimator.estimate("piper", 200)
    feed(estimator, rng, 20, slowdown=3.0)
    assert estimator.estimate("piper", 200) > 1.5 * before  # slow calls are the new upper tail
    feed(estimator, rng, 80, slowdown=3.0)
    assert estimator.estimate("piper", 200) > 2.0 * before
    feed(estimator, rng, 100, slowdown=3.0)
    assert estimator.estimate("piper", 200) == pytest.approx(true_quantile(200, slowdown=3.0), rel=0.15)
    assert estimator.observations("piper") == 200


def test_a_few_stalls_do_not_move_the_p95(rng: np.random.Generator) -> None:
    """Four 30-second stalls among 200 calls leave the P95 within 15 % of the truth."""
    estimator = LatencyEstimator(PRIORS)
    feed(estimator, rng, 98)
    for chars in (50, 120, 300, 390):
        estimator.observe("piper", chars, 30.0)
    feed(estimator, rng, 98)
    for chars in (100, 200):
        assert estimator.estimate("piper", chars) == pytest.approx(true_quantile(chars), rel=0.15)


def test_narrow_lengths_scale_the_prior(rng: np.random.Generator) -> None:
    """With lengths too alike to fit a slope, the estimate fits the data and extrapolates like the prior."""
    estimator = LatencyEstimator(PRIORS)
    chars = rng.integers(100, 121, 200)
    seconds = 2.0 * (0.05 + 0.004 * chars * rng.lognormal(0.0, SIGMA, 200))
    for c, s in zip(chars, seconds, strict=True):
        estimator.observe("piper", int(c), float(s))
    assert estimator.estimate("piper", 110) == pytest.approx(true_quantile(110, slowdown=2.0), rel=0.15)
    ratio = estimator.estimate("piper", 400) / estimator.estimate("piper", 110)
    assert ratio == pytest.approx(PRIORS["piper"].seconds(400) / PRIORS["piper"].seconds(110))


@pytest.mark.parametrize(
    "observations",
    [
        [(100, 0.1), (200, 0.5), (300, 0.9), (400, 1.3), (250, 0.7)],  # line with a negative intercept
        [(100, 1.0), (200, 0.8), (300, 0.6), (400, 0.4), (250, 0.7)],  # longer texts faster
        [(100, 0.0), (200, 0.0), (300, 0.0), (400, 0.0), (250, 0.0)],  # instantaneous
    ],
)
def test_estimates_stay_physical_whatever_the_data(observations: list[tuple[int, float]]) -> None:
    """Estimates are never negative and never fall as texts get longer, even for odd data."""
    estimator = LatencyEstimator(PRIORS)
    for chars, seconds in observations:
        estimator.observe("espeak", chars, seconds)
    estimates = [estimator.estimate("espeak", chars) for chars in (0, 10, 100, 400, 1000)]
    assert all(e >= 0 for e in estimates)
    assert estimates == sorted(estimates)
    assert estimator.estimate("espeak", 300, quantile=1.0) >= max(s for c, s in observations if c == 300)


def test_engines_are_learned_separately(rng: np.random.Generator) -> None:
    """Observations of one engine leave another engine's estimate on its prior."""
    estimator = LatencyEstimator(PRIORS)
    feed(estimator, rng, 50, engine="kokoro")
    assert estimator.knows("kokoro")
    assert not estimator.knows("piper")
    assert estimator.estimate("piper", 100) == pytest.approx(PRIORS["piper"].seconds(100))


def test_unknown_engine_needs_a_default_prior() -> None:
    """An engine without a prior raises KeyError unless a default prior is configured."""
    with pytest.raises(KeyError, match="indextts2"):
        LatencyEstimator(PRIORS).estimate("indextts2", 10)
    with pytest.raises(KeyError, match="indextts2"):
        LatencyEstimator(PRIORS).observe("indextts2", 10, 1.0)
    estimator = LatencyEstimator(PRIORS, default_prior=LatencyPrior(per_char_s=0.1, overhead_s=1.0))
    assert estimator.estimate("indextts2", 10) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda e: e.observe("piper", -1, 0.1), "chars"),
        (lambda e: e.observe("piper", 10, -0.1), "seconds"),
        (lambda e: e.observe("piper", 10, math.nan), "seconds"),
        (lambda e: e.observe("piper", 10, math.inf), "seconds"),
        (lambda e: e.estimate("piper", -1), "chars"),
        (lambda e: e.estimate("piper", 10, quantile=1.5), "quantile"),
        (lambda e: e.estimate("piper", 10, quantile=-0.1), "quantile"),
    ],
)
def test_bad_arguments_are_rejected(call, match: str) -> None:
    """Negative lengths or times, non-finite times and quantiles outside [0, 1] raise ValueError."""
    with pytest.raises(ValueError, match=match):
        call(LatencyEstimator(PRIORS))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LatencyEstimator(PRIORS, window=4, min_observations=5),
        lambda: LatencyEstimator(PRIORS, min_observations=1),
        lambda: LatencyPrior(per_char_s=-0.1, overhead_s=0.1),
        lambda: LatencyPrior(per_char_s=0.0, overhead_s=0.0),
    ],
)
def test_bad_construction_is_rejected(make) -> None:
    """Windows smaller than the minimum, a minimum below 2 and empty or negative priors raise ValueError."""
    with pytest.raises(ValueError, match=r"min_observations|prior"):
        make()


def test_censored_timeouts_make_the_p95_follow_a_slowdown(rng: np.random.Generator) -> None:
    """After the engine slows down 3x and most calls time out at 1.5x the old P95, the P95 learned
    from the timeouts ("at least this long") is no longer optimistic: it reaches the cut-off."""
    estimator = LatencyEstimator(PRIORS)
    feed(estimator, rng, 200)
    before = estimator.estimate("piper", 200)
    cutoff = 1.5 * before
    chars = rng.integers(190, 211, 200)
    for c in chars:
        seconds = 3 * (0.05 + 0.004 * int(c) * float(rng.lognormal(0.0, SIGMA)))
        if seconds > cutoff:
            estimator.observe_censored("piper", int(c), cutoff)
        else:
            estimator.observe("piper", int(c), seconds)
    assert estimator.estimate("piper", 200) >= 0.95 * cutoff


def test_censored_timeout_below_the_median_does_not_drag_the_estimate_down(
    rng: np.random.Generator,
) -> None:
    """Timeouts of tiny deadlines (far below the median) leave the median and P95 where they were,
    where recording them as durations would pull both down."""
    estimator = LatencyEstimator(PRIORS)
    feed(estimator, rng, 200)
    median, p95 = estimator.estimate("piper", 200, 0.5), estimator.estimate("piper", 200)
    for _ in range(100):
        estimator.observe_censored("piper", 200, 0.1 * median)
    assert estimator.estimate("piper", 200, 0.5) >= 0.97 * median  # as durations: 0.36 x median
    assert estimator.estimate("piper", 200) >= 0.93 * p95


def test_censored_observation_before_data_uses_the_prior() -> None:
    """Before the engine is known, a timeout counts as at least the prior's estimate."""
    estimator = LatencyEstimator(PRIORS, min_observations=2)
    estimator.observe_censored("piper", 100, 0.01)
    estimator.observe_censored("piper", 100, 0.01)
    assert estimator.estimate("piper", 100, 0.5) == pytest.approx(PRIORS["piper"].seconds(100))


@pytest.mark.parametrize("observed", [0, 60], ids=["prior", "learned"])
def test_estimate_total_is_the_sum_of_the_estimates(observed: int) -> None:
    """estimate_total(count, summed chars) equals summing estimate over each call, prior or learned."""
    estimator = LatencyEstimator(PRIORS)
    rng = np.random.default_rng(5)
    feed(estimator, rng, observed)
    lengths = [int(c) for c in rng.integers(0, 700, size=50)]
    for q in (0.5, 0.95, 1.0):
        each = sum(estimator.estimate("piper", c, q) for c in lengths)
        total = estimator.estimate_total("piper", len(lengths), sum(lengths), q)
        assert total == pytest.approx(each, rel=1e-12)
    assert estimator.estimate_total("piper", 0, 0) == 0.0
    with pytest.raises(ValueError, match="calls"):
        estimator.estimate_total("piper", -1, 10)
    with pytest.raises(ValueError, match="chars"):
        estimator.estimate_total("piper", 1, -10)


@pytest.mark.parametrize("seed", range(6))
def test_the_median_line_is_the_exact_least_absolute_deviations_line(seed: int) -> None:
    """The fitted line's sum of absolute deviations equals the best line through any two points
    (an LAD optimum passes through two), with stalls in the data, cold and from a previous line."""
    from voxgate.qos.estimator import _lad_line

    rng = np.random.default_rng(seed)
    x = rng.integers(10, 401, 60).astype(np.float64)
    y = (0.05 + 0.004 * x) * rng.uniform(0.85, 1.4, 60) * np.where(rng.random(60) < 0.05, 5.0, 1.0)

    def deviations(a: float, b: float) -> float:
        return float(np.abs(y - a - b * x).sum())

    i, j = np.triu_indices(60, k=1)
    pairs = x[i] != x[j]
    slopes = (y[j] - y[i])[pairs] / (x[j] - x[i])[pairs]
    intercepts = y[i][pairs] - slopes * x[i][pairs]
    optimum = min(deviations(a, b) for a, b in zip(intercepts, slopes, strict=True))
    for start in (None, (0.0, 0.01), (1.0, 0.0)):
        assert deviations(*_lad_line(x, y, start)) == pytest.approx(optimum, rel=1e-12)
