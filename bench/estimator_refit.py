"""Loop time of the latency estimator's refit after each finished call: old IRLS vs exact LAD.

    nice -n 5 .venv/bin/python bench/estimator_refit.py          # a few seconds

Every finished call adds an observation, and the next estimate refits the engine's median line
(least absolute deviations over the window of 200) on the event loop. The line used to come from
iteratively reweighted least squares (``old_lad_line`` below, reproduced from the code before
the change); it now comes from Wesolowsky's exact descent, started from the previous line
(``estimator._lad_line``). Both fit the same windows, one observation apart, with texts and
times drawn like piper's (overhead + per-character cost × noise, 3 % stalls). Printed: ms per
fit (median of rounds), and how far each line's sum of absolute deviations is above the
better of the two (0 = optimal).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from voxgate.qos import estimator as est


def old_lad_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The IRLS fit as it was (60 iterations at most, tolerance 1e-9), for the side-by-side."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.asarray(np.linalg.lstsq(design, y, rcond=None)[0], dtype=np.float64)
    floor = 1e-6 * max(float(np.median(np.abs(y))), 1e-12)
    for _ in range(60):
        weights = 1.0 / np.maximum(np.abs(y - design @ beta), floor)
        weighted = design.T * weights
        new_beta = np.asarray(np.linalg.solve(weighted @ design, weighted @ y), dtype=np.float64)
        converged = np.max(np.abs(new_beta - beta)) <= 1e-9 * (1.0 + np.max(np.abs(beta)))
        beta = new_beta
        if converged:
            break
    return float(beta[0]), float(beta[1])


def observation(rng: random.Random) -> tuple[int, float]:
    """A piper-like call: 10-400 characters, multiplicative noise, now and then a stall."""
    chars = rng.randint(10, 400)
    seconds = (0.05 + 0.0012 * chars) * rng.uniform(0.85, 1.4)
    return chars, seconds * (rng.uniform(3, 8) if rng.random() < 0.03 else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", type=int, default=300, help="observations (refits) per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(7)
    window = [observation(rng) for _ in range(200)]
    old_ms: list[float] = []
    new_ms: list[float] = []
    excess = {"old": 0.0, "new": 0.0}
    line: tuple[float, float] | None = None
    for _ in range(args.rounds):
        old_t = new_t = 0.0
        for _ in range(args.fits):
            window = [*window[1:], observation(rng)]
            x = np.array([c for c, _ in window], dtype=np.float64)
            y = np.array([s for _, s in window], dtype=np.float64)
            t0 = time.perf_counter()
            old = old_lad_line(x, y)
            t1 = time.perf_counter()
            line = est._lad_line(x, y, line)
            t2 = time.perf_counter()
            old_t, new_t = old_t + t1 - t0, new_t + t2 - t1
            sums = {k: float(np.abs(y - a - b * x).sum()) for k, (a, b) in (("old", old), ("new", line))}
            best = min(sums.values())
            for k, v in sums.items():
                excess[k] = max(excess[k], (v - best) / best)
        old_ms.append(old_t / args.fits * 1e3)
        new_ms.append(new_t / args.fits * 1e3)
    old_med, new_med = statistics.median(old_ms), statistics.median(new_ms)
    ratio = old_med / new_med
    print(f"LAD line, window 200: old IRLS {old_med:.3f} ms, exact {new_med:.3f} ms ({ratio:.1f}x)")
    print(f"worst excess of the sum of absolute deviations: old {excess['old']:.2e}, new {excess['new']:.2e}")


if __name__ == "__main__":
    main()
