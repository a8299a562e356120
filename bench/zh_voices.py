"""Choose the default Chinese voice (or a two-voice blend) by measurement: dev for choices, test to confirm.

Three stages, all through ``bench/quality.py``'s machinery (voxgate's front end, kokoro, whisper-base
CER, a bootstrap 95 % CI over sentences, ``--trials`` fresh syntheses each):

1. every kokoro voice on the **dev** split of ``zh_eval``;
2. a small grid of two-voice blends of the ``--top`` voices with the lowest CI upper bound on dev
   (each pair at the ``--weights``, e.g. 0.3 / 0.5 / 0.7 of the first), also on dev;
3. the candidate with the lowest CI upper bound on dev (single or blend), and every single voice,
   on the **test** split. A blend is kept only if its test CER is below every single voice's.

Usage (a quiet machine: the default run is 5 + 9 cases on 209 sentences and 6 on 143, 3 trials
each, roughly 3-4 hours on 2 cores)::

    python bench/zh_voices.py [--top 3] [--weights 0.3,0.5,0.7] [--trials 3] [--limit N]
        [--out docs/quality/zh_voices.md]

Prints the three tables and the verdict, and writes them to ``--out``. Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _report import CaseResult, render_table


def blend_grid(voices: Sequence[str], weights: Sequence[float]) -> list[str]:
    """Two-voice blends of every pair of ``voices`` at each weight of the first voice.

    Args:
        voices: voice ids, in preference order.
        weights: weights of the pair's first voice, each in (0, 1).

    Returns:
        Blend ids such as ``jf_alpha:0.3+jm_kumo:0.7``, pair by pair.

    Raises:
        ValueError: a weight outside (0, 1).
    """
    for w in weights:
        if not 0.0 < w < 1.0:
            raise ValueError(f"blend weights must be in (0, 1), got {w}")
    return [
        f"{a}:{_fmt(w)}+{b}:{_fmt(1.0 - w)}" for a, b in itertools.combinations(voices, 2) for w in weights
    ]


def _fmt(weight: float) -> str:
    return f"{weight:.3f}".rstrip("0").rstrip(".")


def upper_bound(result: CaseResult) -> float:
    """The CI upper bound of a result's error rate (its point estimate when there is no interval)."""
    interval = result.interval
    return interval.high if interval is not None else result.error.rate


def rank(results: Sequence[CaseResult]) -> list[CaseResult]:
    """Results by CI upper bound, lowest (safest) first; ties by point estimate."""
    return sorted(results, key=lambda r: (upper_bound(r), r.error.rate))


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of the test stage.

    Attributes:
        choice: the voice (or blend) to make the default.
        kept_blend: a blend was chosen on dev and beat every single voice on test.
        reason: one line for the report.
    """

    choice: str
    kept_blend: bool
    reason: str


def verdict(candidate: CaseResult, singles: Sequence[CaseResult]) -> Verdict:
    """Decide on test: keep the dev candidate if it is a single voice, or a blend that beats every single.

    Args:
        candidate: the dev winner, measured on test.
        singles: every single voice, measured on test.

    Returns:
        The default voice to use and why. A blend that does not beat every single voice gives way
        to the single voice with the lowest test CI upper bound.
    """
    best_single = rank(singles)[0]
    if "+" not in candidate.voice:
        return Verdict(candidate.voice, False, f"{candidate.voice} had the lowest CI upper bound on dev")
    if all(candidate.error.rate < s.error.rate for s in singles if s.voice != candidate.voice):
        return Verdict(candidate.voice, True, "the dev winner, a blend, beats every single voice on test")
    return Verdict(
        best_single.voice,
        False,
        f"the dev winner {candidate.voice} did not beat every single voice on test; "
        f"{best_single.voice} has the lowest test CI upper bound",
    )


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - needs models and hours
    """Run the three stages and print (and write) the tables and the verdict."""
    from _asr import Transcriber, default_cache_dir, ensure_whisper_base
    from _corpus import load_eval
    from _metrics import Scorer
    from quality import Bench, Case, service_front_end
    from voxgate.engines.registry import build_engines
    from voxgate.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--top", type=int, default=3, help="voices whose pairs are blended")
    parser.add_argument("--weights", default="0.3,0.5,0.7", help="weights of each pair's first voice")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N sentences of each split")
    parser.add_argument("--dnsmos", action="store_true", help="also score DNSMOS")
    parser.add_argument("--asr-threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",") if w.strip()]

    settings = Settings.load()
    kokoro = build_engines(settings)["kokoro"]
    kokoro.load()
    singles = [v.id for v in kokoro.voices() if "+" not in v.id and v.languages[0] == "zh"]
    dev = [s.text for s in load_eval("zh_eval", "dev", args.limit)]
    test = [s.text for s in load_eval("zh_eval", "test", args.limit)]
    transcriber = Transcriber(ensure_whisper_base(default_cache_dir()), threads=args.asr_threads)
    bench = Bench(service_front_end(settings), transcriber, Scorer(), with_dnsmos=args.dnsmos)

    def measure(voices: Sequence[str], sentences: Sequence[str], label: str) -> list[CaseResult]:
        out = []
        for voice in voices:
            print(f"{label}: {voice} ...", file=sys.stderr, flush=True)
            out.append(bench.run(kokoro, Case("kokoro", voice, "zh"), sentences, trials=args.trials))
        return out

    dev_singles = measure(singles, dev, "dev")
    top = [r.voice for r in rank(dev_singles)[: args.top]]
    dev_blends = measure(blend_grid(top, weights), dev, "dev blend")
    candidate = rank([*dev_singles, *dev_blends])[0]
    test_singles = measure(singles, test, "test")
    test_candidate = (
        next(r for r in test_singles if r.voice == candidate.voice)
        if candidate.voice in singles
        else measure([candidate.voice], test, "test")[0]
    )
    decided = verdict(test_candidate, test_singles)
    test_rows = [*test_singles, *([] if candidate.voice in singles else [test_candidate])]
    report = "\n\n".join(
        [
            "## dev: single voices\n\n" + render_table(rank(dev_singles)),
            "## dev: blends of the top voices\n\n" + render_table(rank(dev_blends)),
            "## test\n\n" + render_table(rank(test_rows)),
            f"**Default Chinese voice: {decided.choice}** ({decided.reason}).",
        ]
    )
    print(report)
    if args.out is not None:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
