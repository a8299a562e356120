"""Kokoro's decoder on windows of frames (issue 15): is the streamed audio the same speech, and how soon?

    nice -n 5 .venv/bin/python bench/kokoro_stream.py                # ~25 min here at load 8-16
    nice -n 5 .venv/bin/python bench/kokoro_stream.py --no-asr --sentences 5

In process, one kokoro engine (for G2P and styles) and ``_kokoro_split.SplitKokoro`` on its model:

(a) Equivalence, ``--sentences`` sentences of ``bench/data/zh_eval/dev.tsv`` (voice ``--voice``):
    each sentence's frames decoded in one call (the model's audio, sample for sample) and in
    windows (``--first`` frames, then ``--chunk``, with ``--left``/``--right`` frames of context);
    waveform SNR and the largest sample difference (whole sentence, and ±1 frame around each
    seam), the mean log-mel difference over the bins within 60 dB of the loudest, and whisper-base
    CER of both (bench/_asr.py, scored as bench/quality.py does).
(b) Time: for the clauses the realtime socket cuts from ``bench/realtime.py``'s Chinese token
    stream (30 tokens/s, ``realtime.TextChunker``): the whole call (front + decoder), the front
    part, the first window, all windows; the time to the first audio of a clause with and without
    windows, alone and behind the clauses before it on one kokoro worker (what
    ``bench/realtime.py``'s kokoro row measures before fallback kicks in). ``--as-rtf 0.35`` also
    prints it scaled to the quiet machine's speed.

Session 7 (load 8-16, voice jm_kumo), the verdict a no-go:
(a) first 40 / chunk 80 / context 20 frames: SNR median 3.9 dB (worst 1.3), log-mel 3.0 dB
    (worst 3.6), CER 12.2 % whole vs 17.1 % streamed over 345 characters (worse in 8 of 20
    sentences, better in none); ``--first 80 --chunk 160 --left 40 --right 40``: SNR 7.7 dB,
    log-mel 2.0 dB, CER 14.5 % (worse in 4, better in 1).
(b) 27 clauses, P50 2.5 s of audio; front part 4 % of a call, windows 1.24x a call; at RTF 0.35:
    first audio alone P50 801 / P95 1783 ms whole vs 397 / 886 ms first window; on one worker in
    order 2535 / 8986 ms whole vs 3158 / 10480 ms windows (the extra work queues).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from _corpus import load_eval
from _kokoro_split import FRAME_SAMPLES, Features, SplitKokoro, Window, windows
from realtime import SOLO_TEXTS, chinese_text
from voxgate.engines._kokoro_timing import with_durations
from voxgate.engines._model_files import kokoro_model_path
from voxgate.engines._onnx import cpu_session
from voxgate.engines.kokoro import KokoroEngine
from voxgate.realtime.chunker import TextChunker
from voxgate.settings import Settings
from voxgate.testing import FakeClock

RATE = 24000
TOKENS_PER_S = 30.0


@dataclass
class Plan:
    """The window layout under test."""

    first: int
    chunk: int
    left: int
    right: int

    def of(self, frames: int) -> list[Window]:
        return windows(frames, first=self.first, chunk=self.chunk, left=self.left, right=self.right)


class Runner:
    """The engine (for G2P and styles) and the split graph of the same model."""

    def __init__(self, threads: int, voice: str) -> None:
        models = Settings().data_dir / "models"
        self.engine = KokoroEngine(models_dir=models, threads=threads)
        self.engine.load()
        data = with_durations(kokoro_model_path(models))
        assert data is not None, "the kokoro model has no duration tensor: another export"
        self.split = SplitKokoro(data, lambda model: cpu_session(model, threads))
        self.voice = voice

    def features(self, text: str) -> Features:
        kokoro = self.engine._kokoro
        tokens = kokoro.tokenizer.tokenize(self.engine.phonemize(text, default_language="zh"))
        style = kokoro.get_voice_style(self.voice)[min(len(tokens), 510) - 1]
        return self.split.front(tokens, style, 1.0)


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    noise = float(np.sum((reference - other) ** 2))
    return 10 * np.log10(float(np.sum(reference**2)) / max(noise, 1e-20))


def mel_db(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=RATE, n_fft=1024, hop_length=256, n_mels=80)
    return np.asarray(librosa.power_to_db(mel, ref=1.0, amin=1e-10))


@dataclass
class Equivalence:
    """One sentence decoded whole and in windows."""

    text: str
    seconds: float
    windows: int
    snr_db: float
    max_diff: float
    seam_max_diff: float
    mel_mae_db: float
    cer_whole: float | None = None
    cer_streamed: float | None = None
    errors_whole: int = 0
    errors_streamed: int = 0
    chars: int = 0


def equivalence(runner: Runner, plan: Plan, text: str) -> tuple[Equivalence, np.ndarray, np.ndarray]:
    features = runner.features(text)
    frames = features.frames
    whole = runner.split.decode(features, Window(0, frames, 0, frames))
    layout = plan.of(frames)
    streamed = np.concatenate(list(runner.split.stream(features, layout)))
    seams = [w.core_start * FRAME_SAMPLES for w in layout[1:]]
    seam_diff = max(
        (
            float(
                np.abs(
                    whole[s - FRAME_SAMPLES : s + FRAME_SAMPLES]
                    - streamed[s - FRAME_SAMPLES : s + FRAME_SAMPLES]
                ).max()
            )
            for s in seams
        ),
        default=0.0,
    )
    reference, other = mel_db(whole), mel_db(streamed)
    loud = reference > reference.max() - 60
    row = Equivalence(
        text=text,
        seconds=len(whole) / RATE,
        windows=len(layout),
        snr_db=round(snr_db(whole, streamed), 1),
        max_diff=round(float(np.abs(whole - streamed).max()), 4),
        seam_max_diff=round(seam_diff, 4),
        mel_mae_db=round(float(np.abs(reference - other)[loud].mean()), 2),
    )
    return row, whole, streamed


@dataclass
class Timing:
    """One clause: seconds of audio and of computing it."""

    text: str
    cut_at: float  # when its last token arrived (s from the stream's start)
    audio_s: float
    whole_s: float  # front + decoder in one call
    front_s: float
    first_window_s: float
    windows_s: float  # every window


def realtime_clauses(texts: list[str]) -> list[tuple[str, float]]:
    """The pieces the socket's chunker cuts from each text sent one character per token at 30/s,
    with the time their last token arrived; each text is a stream of its own (as bench/realtime.py
    sends them, one after another once the previous one is spoken): its times restart at 0."""
    pieces: list[tuple[str, float]] = []
    for text in texts:
        clock = FakeClock(start=0.0)
        chunker = TextChunker(clock, max_delay_s=0.3)
        for token in text:
            pieces += [(p, clock.monotonic()) for p in chunker.push(token)]
            clock.advance(1 / TOKENS_PER_S)
        rest = chunker.flush()
        if rest:
            pieces.append((rest, clock.monotonic()))
    return pieces


def timing(runner: Runner, plan: Plan, text: str, cut_at: float) -> Timing:
    start = time.perf_counter()
    features = runner.features(text)
    front = time.perf_counter() - start
    frames = features.frames
    runner.split.decode(features, Window(0, frames, 0, frames))
    whole = time.perf_counter() - start
    start = time.perf_counter()
    features = runner.features(text)
    first = None
    for _audio in runner.split.stream(features, plan.of(frames)):
        first = first if first is not None else time.perf_counter() - start
    total = time.perf_counter() - start
    return Timing(text, cut_at, frames * FRAME_SAMPLES / RATE, whole, front, first or total, total)


def _scaled(row: Timing, factor: float) -> Timing:
    return Timing(
        row.text,
        row.cut_at,
        row.audio_s,
        row.whole_s * factor,
        row.front_s * factor,
        row.first_window_s * factor,
        row.windows_s * factor,
    )


def queue(rows: list[Timing], streamed: bool) -> list[float]:
    """First-audio latency of each clause on one worker taking them in order (no fallback); a
    clause cut earlier than the one before starts the next text, on an idle worker."""
    free = previous = 0.0
    out = []
    for row in rows:
        if row.cut_at < previous:  # the next text: a new stream, the worker idle
            free = 0.0
        previous = row.cut_at
        start = max(row.cut_at, free)
        first = row.first_window_s if streamed else row.whole_s
        out.append(start + first - row.cut_at)
        free = start + (row.windows_s if streamed else row.whole_s)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def chinese_texts() -> list[str]:
    """The Chinese texts bench/realtime.py streams at one socket."""
    return [chinese_text(6 * i) for i in range(SOLO_TEXTS)]


def dev_sentences(limit: int) -> list[str]:
    """``limit`` sentences spread over zh_eval's dev split (every register)."""
    return [s.text for s in load_eval("zh_eval", "dev", None)][:: max(1, 209 // limit)][:limit]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sentences", type=int, default=20, help="dev.tsv sentences for (a)")
    parser.add_argument("--voice", default="jm_kumo")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--first", type=int, default=40, help="frames (25 ms) of the first window's core")
    parser.add_argument("--chunk", type=int, default=80, help="frames of every later core")
    parser.add_argument("--left", type=int, default=20, help="frames of context before a core")
    parser.add_argument("--right", type=int, default=20, help="frames of context after a core")
    parser.add_argument("--no-asr", action="store_true", help="skip whisper (a)")
    parser.add_argument("--no-timing", action="store_true", help="skip (b)")
    parser.add_argument(
        "--as-rtf",
        type=float,
        help="also print (b) with every time scaled so the whole calls' RTF is this (e.g. 0.35, the quiet "
        "machine's): a loaded machine slows every call alike",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    plan = Plan(args.first, args.chunk, args.left, args.right)
    runner = Runner(args.threads, args.voice)
    runner.features("你好。")  # warm-up
    out: dict[str, Any] = {"plan": asdict(plan), "voice": args.voice}

    if args.sentences:
        rows, clips = [], []
        for text in dev_sentences(args.sentences):
            row, whole, streamed = equivalence(runner, plan, text)
            rows.append(row)
            clips.append((whole, streamed))
            print(
                f"  {row.seconds:4.1f} s, {row.windows} windows: SNR {row.snr_db} dB, mel {row.mel_mae_db}",
                file=sys.stderr,
            )
        if not args.no_asr:
            _hear(rows, clips)
        _print_equivalence(rows, plan)
        out["equivalence"] = [asdict(r) for r in rows]

    if not args.no_timing:
        timings = []
        for text, cut_at in realtime_clauses(chinese_texts()):
            timings.append(timing(runner, plan, text, cut_at))
            print(
                f"  {text}: {timings[-1].whole_s:.2f} s whole, {timings[-1].first_window_s:.2f} s first",
                file=sys.stderr,
            )
        _print_timing(timings)
        if args.as_rtf:
            factor = args.as_rtf * sum(t.audio_s for t in timings) / sum(t.whole_s for t in timings)
            print(f"\nScaled by {factor:.3f} to RTF {args.as_rtf}:")
            _print_timing([_scaled(t, factor) for t in timings])
        out["timing"] = [asdict(t) for t in timings]
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    return 0


def _hear(rows: list[Equivalence], clips: list[tuple[np.ndarray, np.ndarray]]) -> None:
    from _asr import Transcriber, default_cache_dir, ensure_whisper_base, to_asr_rate
    from _metrics import Scorer

    transcriber = Transcriber(ensure_whisper_base(default_cache_dir()))
    scorer = Scorer()
    for row, (whole, streamed) in zip(rows, clips, strict=True):
        heard = [transcriber.transcribe(to_asr_rate(a, RATE), "zh") for a in (whole, streamed)]
        errors = scorer.sentence_errors([row.text, row.text], heard, "zh")
        row.cer_whole, row.cer_streamed = (e.rate for e in errors)
        row.errors_whole, row.errors_streamed = (e.errors for e in errors)
        row.chars = errors[0].reference_length


def _print_equivalence(rows: list[Equivalence], plan: Plan) -> None:
    print(f"\n### (a) streamed vs whole, {len(rows)} dev sentences, windows {asdict(plan)}\n")
    print("| metric | median | worst |\n|---|---|---|")
    for name, values, worst, digits in (
        ("waveform SNR (dB)", [r.snr_db for r in rows], min, 1),
        ("max sample diff", [r.max_diff for r in rows], max, 3),
        ("max diff ±1 frame of a seam", [r.seam_max_diff for r in rows], max, 3),
        ("log-mel mean abs diff (dB)", [r.mel_mae_db for r in rows], max, 2),
    ):
        print(f"| {name} | {statistics.median(values):.{digits}f} | {worst(values):.{digits}f} |")
    if rows and rows[0].cer_whole is not None:
        chars = sum(r.chars for r in rows)
        whole = sum(r.errors_whole for r in rows)
        streamed = sum(r.errors_streamed for r in rows)
        worse = sum(r.errors_streamed > r.errors_whole for r in rows)
        better = sum(r.errors_streamed < r.errors_whole for r in rows)
        print(
            f"\nwhisper-base CER over {chars} characters: whole {whole / chars:.1%} ({whole} errors), ",
            end="",
        )
        print(f"streamed {streamed / chars:.1%} ({streamed} errors); worse in {worse} sentences, ", end="")
        print(f"better in {better}")


def _print_timing(rows: list[Timing]) -> None:
    audio = sum(r.audio_s for r in rows)
    chars = sum(len(r.text) for r in rows)
    whole = sum(r.whole_s for r in rows)
    streamed = sum(r.windows_s for r in rows)
    print(f"\n### (b) {len(rows)} realtime clauses ({chars} characters, {audio:.1f} s of audio)\n")
    print(
        f"- kokoro RTF (whole call): {whole / audio:.2f}; speech {chars / audio:.1f} chars/s; synthesis "
        f"{chars / whole:.1f} chars/s of text vs {TOKENS_PER_S:.0f} arriving"
    )
    print(
        f"- windows cost {streamed / whole:.2f}× the whole call; the front part is "
        f"{sum(r.front_s for r in rows) / whole:.0%} of the whole call"
    )
    print("\n| first audio after the clause's last token | P50 ms | P95 ms |\n|---|---|---|")
    for name, values in (
        ("alone, whole call", [r.whole_s for r in rows]),
        ("alone, first window", [r.first_window_s for r in rows]),
        ("one worker in order, whole call", queue(rows, streamed=False)),
        ("one worker in order, windows", queue(rows, streamed=True)),
    ):
        print(f"| {name} | {1000 * pct(values, 0.5):.0f} | {1000 * pct(values, 0.95):.0f} |")


if __name__ == "__main__":
    raise SystemExit(main())
