"""Piper's streaming decoder in process: time to the first chunk, compute overhead, sameness (issue 15).

    nice -n 5 .venv/bin/python bench/piper_stream.py                 # 20 Harvard sentences, 1 thread
    nice -n 5 .venv/bin/python bench/piper_stream.py --threads 2 --sentences 10

For each sentence (one engine, ``noise_scale = noise_w_scale = 0`` so both calls speak the same
latent), alternately: the one-call answer (``SynthesisOptions()``) and the streamed one
(``stream=True``), ``--rounds`` times; per sentence the fastest of each. Prints:

- time to the first chunk streamed vs the whole call (what a listener waits for), P50/P95;
- the overhead: streamed total / one call (context frames decoded twice, the flow run twice,
  more session calls);
- sameness: the decoder's windows against the one-call decode of the same ``z`` (SNR, max abs
  difference, before piper's levelling), and the engine's streamed answer against its one-call
  answer (same length, same words, correlation, level difference in dB: piper levels a sentence to
  its peak, which a stream can only know at its end; see ``_piper_stream.Leveller``).

The load average is printed before and after: timings on a shared machine are only comparable
within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from voxgate.engines._piper_stream import Windows
from voxgate.engines.piper import PiperEngine
from voxgate.types import SynthesisOptions, merge_partials

HARVARD = Path(__file__).parent / "data" / "harvard_lists_1_3.txt"


def sentences(limit: int) -> list[str]:
    """The first ``limit`` Harvard sentences."""
    lines = HARVARD.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")][:limit]


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``."""
    return float(np.quantile(np.array(values), q))


def main() -> int:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    engine = PiperEngine(threads=args.threads, noise_scale=0.0, noise_w_scale=0.0)
    started = time.perf_counter()
    engine.load()
    print(f"load (one-call session + the three streaming sessions): {time.perf_counter() - started:.2f} s")
    streaming = engine._streaming
    assert streaming is not None, "the streaming decoder did not load (onnx missing?)"
    texts = sentences(args.sentences)
    whole_s, first_s, stream_s, speech_s, pieces = [], [], [], [], []
    for text in texts:
        best_whole = best_first = best_stream = float("inf")
        count = 0
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            whole = list(engine.synthesize(text, "joe", SynthesisOptions()))
            best_whole = min(best_whole, time.perf_counter() - t0)
            t0 = time.perf_counter()
            first = None
            chunks = []
            for chunk in engine.synthesize(text, "joe", SynthesisOptions(stream=True)):
                if first is None:
                    first = time.perf_counter() - t0
                chunks.append(chunk)
            best_stream = min(best_stream, time.perf_counter() - t0)
            best_first = min(best_first, first or 0.0)
            count = len(chunks)
        whole_s.append(best_whole)
        first_s.append(best_first)
        stream_s.append(best_stream)
        speech_s.append(sum(c.duration for c in whole))
        pieces.append(count)
    ratio = [s / w for s, w in zip(stream_s, whole_s, strict=True)]
    print(f"\n{len(texts)} Harvard sentences, {args.threads} thread(s), best of {args.rounds} rounds each")
    print(
        f"speech per sentence: median {statistics.median(speech_s):.2f} s; "
        f"pieces: median {statistics.median(pieces)}"
    )
    print("| | P50 ms | P95 ms |\n|---|---|---|")
    print(
        f"| one call (first audio = whole) | {pct(whole_s, 0.5) * 1000:.0f} "
        f"| {pct(whole_s, 0.95) * 1000:.0f} |"
    )
    print(f"| streamed: first chunk | {pct(first_s, 0.5) * 1000:.0f} | {pct(first_s, 0.95) * 1000:.0f} |")
    print(f"| streamed: last chunk | {pct(stream_s, 0.5) * 1000:.0f} | {pct(stream_s, 0.95) * 1000:.0f} |")
    print(
        f"overhead (streamed total / one call): median {statistics.median(ratio):.3f}, "
        f"sum {sum(stream_s) / sum(whole_s):.3f}"
    )

    snr, max_abs, corr, level, same = [], [], [], [], 0
    scales = np.array([0.0, 1.0, 0.0], np.float32)
    voice = engine._voice
    for text in texts:
        for phonemes in voice.phonemize(text):
            latent = streaming.front(voice.phonemes_to_ids(phonemes), scales)
            one = streaming.decode(streaming.flow(latent, 0, latent.frames, 0)).astype(np.float64)
            cut = np.concatenate([a for a, _ in streaming.audio(latent, Windows())]).astype(np.float64)
            diff = cut - one
            snr.append(10 * np.log10(float(one @ one) / max(float(diff @ diff), 1e-30)))
            max_abs.append(float(np.max(np.abs(diff))))
        whole = list(engine.synthesize(text, "joe", SynthesisOptions()))
        merged = merge_partials(list(engine.synthesize(text, "joe", SynthesisOptions(stream=True))))
        for a, b in zip(whole, merged, strict=True):
            same += len(a.audio) == len(b.audio) and a.words == b.words and a.text == b.text
            corr.append(float(np.corrcoef(a.audio, b.audio)[0, 1]))
            rms = [float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) for x in (b.audio, a.audio)]
            level.append(20 * np.log10(rms[0] / rms[1]))
    print("\nsameness")
    print(
        f"decoder windows vs one decode of the same z: SNR min {min(snr):.1f} dB, "
        f"max abs diff {max(max_abs):.2e}"
    )
    print(f"engine streamed vs one call: {same}/{len(corr)} same length, text and words")
    print(f"  correlation min {min(corr):.4f} median {statistics.median(corr):.4f}")
    print(
        f"  level streamed - one call: {min(level):+.2f} .. {max(level):+.2f} dB "
        f"(median {statistics.median(level):+.2f})"
    )
    print(f"\nload average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
