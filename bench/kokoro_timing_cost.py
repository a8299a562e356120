"""What kokoro's durations output costs: real-time factor with and without it, same sentences.

Two kokoro engines share the joined model: one as voxgate loads it (``pred_dur`` exposed as the
``duration`` output, phoneme timings, word times), one with the patch left out (as before session
6). They speak the same Harvard sentences, alternating which goes first, on one ONNX thread each.

Usage::

    python bench/kokoro_timing_cost.py [--sentences 10]

Prints the median RTF of each and the median per-sentence ratio (durations / plain); state the
load average beside it (printed too): on a shared machine only the ratio means much.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from unittest import mock

from _corpus import CORPORA, load_sentences
from voxgate.engines import _kokoro_timing
from voxgate.engines.kokoro import KokoroEngine
from voxgate.settings import Settings
from voxgate.types import SynthesisOptions


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sentences", type=int, default=10)
    args = parser.parse_args()
    models = Settings.load().data_dir / "models"
    timed = KokoroEngine(models_dir=models, threads=1)
    timed.load()
    with mock.patch.object(_kokoro_timing, "with_durations", return_value=None):
        plain = KokoroEngine(models_dir=models, threads=1)
        plain.load()
    rtf: dict[str, list[float]] = {"durations": [], "plain": []}
    engines = {"durations": timed, "plain": plain}
    for n, sentence in enumerate(load_sentences(CORPORA["en"])[: args.sentences]):
        for name in ("durations", "plain") if n % 2 == 0 else ("plain", "durations"):
            started = time.perf_counter()
            chunks = list(engines[name].synthesize(sentence, "jf_alpha", SynthesisOptions(language="en")))
            rtf[name].append((time.perf_counter() - started) / sum(c.duration for c in chunks))
    ratio = statistics.median(a / b for a, b in zip(rtf["durations"], rtf["plain"], strict=True))
    print(
        f"median RTF: durations {statistics.median(rtf['durations']):.3f}, "
        f"plain {statistics.median(rtf['plain']):.3f}; per-sentence ratio {ratio:.3f}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
