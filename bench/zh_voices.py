"""Choose the default Chinese voice (or a two-voice blend) by measurement: dev for choices, test to confirm.

Stages, all scored as ``bench/quality.py --corpus zh_eval`` scores (voxgate's front end, kokoro,
whisper-base CER, a bootstrap 95 % CI over sentences, ``--trials`` syntheses of each sentence):

1. ``dev``: every kokoro voice on the **dev** split of ``zh_eval``;
2. ``blends``: a small grid of two-voice blends of the ``--top`` voices with the lowest CI upper
   bound on dev (each pair at the ``--weights``, e.g. 0.3 / 0.5 / 0.7 of the first), also on dev;
3. ``test``: the candidate with the lowest CI upper bound on dev (single or blend), and every single
   voice, on the **test** split. A blend is kept only if its test CER is below every single voice's;
4. ``variants``: the chosen voice on dev with the polyphone fixes off, and with tone sandhi on;
5. ``report``: the tables and the verdict, from the store alone (no models loaded).

Every figure and every choice is computed from the stored **transcripts** with today's scorer
(``--scoring spoken``, the default: reference and transcript both in the spoken form voxgate's
normaliser gives, see ``_metrics``; ``written``: the scoring of the first runs; ``stored``: the
errors as stored), so the scoring can improve without synthesising again. Beside the CER the
report gives the pinyin syllable error rate (PER, toneless and tonal) with its CI, a diagnostic that
does not count a homophone the recogniser wrote with another character. ``--language en`` (or
``bench/en_voices.py``) runs the same stages on the English corpus ``en_eval`` with WER.

The run is **resumable**: every reading (voice, split, trial, sentence) is appended to
``<store>/readings.jsonl`` the moment it is measured, keyed by a fingerprint of what changes its
result (see ``_zh_store``), and a rerun skips what is stored. Work is voice-major, so each voice's
figure completes before the next voice starts. Kill it at any moment; start it again to go on::

    cd bench && PYTHONPATH=../src:. nohup nice -n 19 ../.venv/bin/python zh_voices.py \\
        --store /work/zh_runs >> /work/zh_runs/run.log 2>&1 &
    PYTHONPATH=../src:. ../.venv/bin/python zh_voices.py --store /work/zh_runs --stage report \\
        [--out ../docs/quality/zh_voices.md]

One trial by default: kokoro-onnx samples no noise here (the same sentence and voice give the same
samples, byte for byte, across runs and processes; a run logs this probe first) and whisper is
seeded per clip, so further trials repeat the first reading exactly and leave the CER and its
interval unchanged. ``--trials 3`` still works, and reuses the stored first trial. The whole run
is about 4,200 readings (5 voices + 9 blends on 209 dev sentences, 5-6 cases on 143 test
sentences, 2 variants on dev); a reading (synthesis, whisper, DNSMOS) took ~9 s at nice 19 with
the load average at 3-4 on 2 cores and 20-50 s at 10-20, so expect ten hours or more on a shared
machine. ``--weights 0.5`` (3 blends instead of 9) saves ~1,250 readings.
The synthesis times a background run stores are not real-time factors; ``--rtf`` measures those
separately (synthesis only, ``--rtf-sentences`` dev sentences per voice; run it on a quiet
machine) into ``<store>/rtf.json``, which the report's RTF column then uses.
Needs the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from _corpus import EvalSentence
from _metrics import metric_name
from _report import CaseResult, render_registers, render_table
from _stats import paired_difference
from _zh_store import (
    DEFAULT_VARIANT,
    Progress,
    ReadingScore,
    Store,
    StoreBusyError,
    Variant,
    case_result,
    interleave,
    pending,
    progress,
    readings_of,
)

DEFAULT_STORE = Path(__file__).resolve().parent / "out" / "zh_voices"
"""Inside the git-ignored ``bench/out``; pass ``--store`` to keep a long run outside the worktree."""
LANGUAGES = ("zh", "en")
"""Corpus languages: ``zh`` reads ``zh_eval``, ``en`` reads ``en_eval`` (see ``bench/en_voices.py``)."""
SCORINGS = ("spoken", "written", "stored")
"""How the report scores the stored transcripts: ``_metrics.Scorer``'s schemes, or the errors as stored."""
STAGES = ("all", "dev", "blends", "test", "variants", "report")
ALTERNATIVES = (Variant(fixes=False, sandhi=False), Variant(fixes=True, sandhi=True))
"""The front-end variants the ``variants`` stage compares with the shipped one."""
RTF_FILE = "rtf.json"


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


class IncompleteError(RuntimeError):
    """A stage needs results that the store does not hold yet."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What the run measures; the store and this plan determine every table.

    Attributes:
        singles: the kokoro voices, in measuring order.
        dev, test: the sentences of each split, by index.
        trials: fresh syntheses of every sentence.
        model: kokoro model version (part of every fingerprint).
        top: voices whose pairs are blended.
        weights: weights of each pair's first voice.
        variant: the front-end settings of the main stages.
        dev_registers, test_registers: the register of each sentence of a split.
        language: the corpus language (``zh`` or ``en``).
        engine: the engine measured (``kokoro``; ``piper`` for the English reference line).
        score: how a stored reading is scored (``_zh_store.rescorer``); ``None``: as stored.
    """

    singles: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]
    trials: int
    model: str
    top: int = 3
    weights: tuple[float, ...] = (0.3, 0.5, 0.7)
    variant: Variant = DEFAULT_VARIANT
    dev_registers: tuple[str, ...] = ()
    test_registers: tuple[str, ...] = ()
    language: str = "zh"
    engine: str = "kokoro"
    score: ReadingScore | None = None

    def sentences(self, split: str) -> tuple[str, ...]:
        """The sentences of ``dev`` or ``test``."""
        return self.dev if split == "dev" else self.test

    def order(self, split: str) -> list[int]:
        """The order to read a split in: register by register in turn (corpus order without registers)."""
        registers = self.dev_registers if split == "dev" else self.test_registers
        return interleave(registers) if registers else list(range(len(self.sentences(split))))

    def result(
        self, store: Store, voice: str, split: str, variant: Variant | None = None, *, partial: bool = False
    ) -> CaseResult | None:
        """The pooled result of one case (``None`` while incomplete, unless ``partial``)."""
        chosen = self.variant if variant is None else variant
        return case_result(
            store,
            voice,
            split,
            self.sentences(split),
            self.trials,
            chosen,
            self.model,
            partial=partial,
            language=self.language,
            score=self.score,
        )

    def progress(self, store: Store, voice: str, split: str, variant: Variant | None = None) -> Progress:
        """How much of one case the store holds."""
        chosen = self.variant if variant is None else variant
        return progress(
            store, voice, split, self.sentences(split), self.trials, chosen, self.model, self.language
        )

    def complete(self, store: Store, voices: Sequence[str], split: str) -> list[CaseResult]:
        """The results of ``voices`` on ``split``.

        Raises:
            IncompleteError: one of them is not fully measured.
        """
        out = []
        for voice in voices:
            result = self.result(store, voice, split)
            if result is None:
                done = self.progress(store, voice, split)
                raise IncompleteError(f"{voice} on {split}: {done.done} of {done.total} readings stored")
            out.append(result)
        return out


def blend_voices(store: Store, plan: Plan) -> list[str]:
    """The blends to measure on dev: pairs of the dev singles with the lowest CI upper bounds.

    Raises:
        IncompleteError: a single voice's dev figure is not complete.
    """
    top = [r.voice for r in rank(plan.complete(store, plan.singles, "dev"))[: plan.top]]
    return blend_grid(top, plan.weights)


def dev_candidate(store: Store, plan: Plan) -> str:
    """The dev winner (lowest CI upper bound) among the singles and the blends.

    Raises:
        IncompleteError: a dev figure is not complete.
    """
    results = plan.complete(store, [*plan.singles, *blend_voices(store, plan)], "dev")
    return rank(results)[0].voice


def voices_for_test(store: Store, plan: Plan) -> list[str]:
    """The voices to measure on test: the dev candidate first, then the other single voices.

    Raises:
        IncompleteError: a dev figure is not complete.
    """
    candidate = dev_candidate(store, plan)
    return [candidate, *(v for v in plan.singles if v != candidate)]


def decide(store: Store, plan: Plan) -> Verdict:
    """The verdict of the test stage.

    Raises:
        IncompleteError: a dev or test figure is not complete.
    """
    candidate = dev_candidate(store, plan)
    singles = plan.complete(store, plan.singles, "test")
    return verdict(plan.complete(store, [candidate], "test")[0], singles)


def chosen_voice(store: Store, plan: Plan) -> str:
    """The verdict's voice if the test stage is complete, else the dev candidate.

    Raises:
        IncompleteError: not even the dev candidate is known.
    """
    try:
        return decide(store, plan).choice
    except IncompleteError:
        return dev_candidate(store, plan)


def _rtf_overrides(store_dir: Path) -> dict[str, float]:
    path = store_dir / RTF_FILE
    if not path.is_file():
        return {}
    raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return {voice: float(entry["rtf"]) for voice, entry in raw.get("voices", {}).items()}


def _with_rtf(results: Sequence[CaseResult], rtfs: dict[str, float]) -> list[CaseResult]:
    """Results whose RTF column shows the separately measured ``--rtf`` figure, where there is one."""
    return [
        replace(r, synth_seconds=rtfs[r.voice] * r.audio_seconds) if r.voice in rtfs else r for r in results
    ]


def render_report(
    store: Store,
    plan: Plan,
    registers: Sequence[str],
    rtfs: dict[str, float],
    diagnostics: dict[str, ReadingScore] | None = None,
) -> str:
    """Every table the store supports, the verdict if the test stage is done, and the progress.

    Args:
        store: the readings.
        plan: what the run measures (its ``score`` scores every table and every choice).
        registers: the register of each dev sentence (for the per-register table).
        rtfs: voice → RTF measured by ``--rtf`` (replaces the stored synthesis times' ratio).
        diagnostics: column name → further scoring (pinyin PER, the first runs' CER) for a table
            beside the WER/CER; no table if empty.

    Returns:
        Markdown.
    """
    metric = metric_name(plan.language)
    parts = [
        f"Corpus {plan.language}_eval (dev {len(plan.dev)} / test {len(plan.test)} sentences), "
        f"{plan.trials} trials, {plan.engine} {plan.model}"
        + (f", front end: {plan.variant.label}." if plan.language == "zh" else ".")
    ]
    rtf_note = (
        "RTF: from `zh_voices.py --rtf` (synthesis only; see rtf.json for its load average)."
        if rtfs
        else "RTF: wall time of the readings as stored, under whatever load the run had "
        "(a niced background run): not a real-time factor; use `zh_voices.py --rtf`."
    )
    parts.append(rtf_note)
    lines: list[str] = []

    def section(title: str, voices: Sequence[str], split: str) -> list[CaseResult]:
        done = [r for r in (plan.result(store, v, split) for v in voices) if r is not None]
        started = [v for v in voices if plan.result(store, v, split) is None]
        body = [f"## {title}"]
        if done:
            body.append(render_table(_with_rtf(rank(done), rtfs)))
        partial = [r for r in (plan.result(store, v, split, partial=True) for v in started) if r is not None]
        if partial:
            body.append(_partial_table(partial, plan.trials * len(plan.sentences(split))))
        for voice in voices:
            p = plan.progress(store, voice, split)
            lines.append(f"- {split} {voice}: {p.done}/{p.total} readings")
        parts.append("\n\n".join(body))
        return done

    dev_done = section("dev: single voices", plan.singles, "dev")
    if dev_done:
        parts.append(f"{metric} % per register (dev):\n\n" + render_registers(rank(dev_done), registers))
    measured: list[tuple[str, str]] = [(v, "dev") for v in plan.singles]
    try:
        blends = blend_voices(store, plan)
    except IncompleteError as exc:
        parts.append(f"## dev: blends\n\nNot started: needs every single voice on dev ({exc}).")
    else:
        section("dev: blends of the top voices", blends, "dev")
        measured += [(v, "dev") for v in blends]
    try:
        tests = voices_for_test(store, plan)
    except IncompleteError as exc:
        # the single voices' test figures stand on their own while the blends are still read
        parts.append(f"The dev candidate is not known yet ({exc}): the test split so far.")
        section("test: single voices", plan.singles, "test")
        measured += [(v, "test") for v in plan.singles]
    else:
        section("test", tests, "test")
        measured += [(v, "test") for v in tests]
    try:
        decided = decide(store, plan)
    except IncompleteError as exc:
        parts.append(f"**No verdict yet** ({exc}).")
    else:
        what = "Chinese voice" if plan.language == "zh" else f"{plan.engine} voice in English"
        parts.append(f"**Default {what}: {decided.choice}** ({decided.reason}).")
    if diagnostics:
        table = _diagnostics_table(store, plan, measured, diagnostics)
        if table:
            parts.append(table)
    with_variants = _variants_table(store, plan)
    if with_variants:
        parts.append(with_variants)
    parts.append("## progress\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def _diagnostics_table(
    store: Store, plan: Plan, cases: Sequence[tuple[str, str]], metrics: dict[str, ReadingScore]
) -> str:
    """WER/CER beside further scorings (pinyin PER, ...), each with its CI, for every case with readings."""
    columns = [metric_name(plan.language), *metrics]
    head = "| voice | split | readings | " + " | ".join(f"{name} % | 95 % CI" for name in columns)
    rows = []
    for voice, split in cases:
        row = []
        for score in (plan.score, *metrics.values()):
            result = replace(plan, score=score).result(store, voice, split, partial=True)
            if result is None:
                break
            ci = result.interval
            row.append(
                f"{100 * result.error.rate:.1f} | "
                + ("–" if ci is None else f"{100 * ci.low:.1f}–{100 * ci.high:.1f}")
            )
        if row:
            done = plan.progress(store, voice, split)
            rows.append(f"| {voice} | {split} | {done.done}/{done.total} | " + " | ".join(row) + " |")
    if not rows:
        return ""
    legend = (
        "PER: pinyin syllable error rate (pypinyin with jieba's word context on the spoken forms of "
        "both sides; a homophone the recogniser writes with another character is no error). Toneless "
        "PER is a diagnostic, not the issue's metric; tonal PER counts lexical tones (no sandhi). "
        f"{WRITTEN} {metric_name(plan.language)}: the scoring of the first runs (written forms, "
        "numerals as digits), for comparison. Cases still being read show the figures so far."
    )
    sep = "|---|---|---:|" + "---:|---:|" * (1 + len(metrics))
    return (
        "## diagnostics: "
        + ", ".join(metrics)
        + "\n\n"
        + "\n".join([head + " |", sep, *rows])
        + "\n\n"
        + legend
    )


def _partial_table(results: Sequence[CaseResult], total: int) -> str:
    """Running CER of cases still being measured (no interval: its sentences are not the split's)."""
    rows = []
    for r in results:
        ci = r.interval
        cell = "–" if ci is None else f"{100 * ci.low:.1f}–{100 * ci.high:.1f} %"
        done = f"{len(r.sentence_errors)}/{total}"
        rows.append(f"| {r.voice} | {done} | {r.trials} | {100 * r.error.rate:.1f} | {cell} |")
    head = (
        "| voice | readings | trials started | WER/CER % so far | 95 % CI so far |\n|---|---:|---:|---:|---:|"
    )
    note = (
        "In progress (incomplete, not for choices; the interval is over the sentences read so far,"
        " which are taken register by register in turn):"
    )
    return note + "\n\n" + "\n".join([head, *rows])


def _variants_table(store: Store, plan: Plan) -> str:
    """Each voice read with another front end or pace, against the plan's front end on the same sentences.

    Every variant found in the store (e.g. ``--g2p-fixes off``, ``--sandhi on``, ``--zh-speed 0.85``)
    is compared, split by split, on the sentences read both ways (complete or not), with a paired
    bootstrap CI of the difference, which is much narrower than two separate intervals.
    """
    base = plan.variant
    found = dict.fromkeys(
        (r.voice, r.split, Variant(r.fixes, r.sandhi, r.speed))
        for r in store.readings.values()
        if r.model == plan.model and r.language == plan.language and r.engine == plan.engine
    )
    rows = []
    for voice, split, variant in found:
        if variant == base:
            continue
        ours = plan.result(store, voice, split, partial=True)
        theirs = plan.result(store, voice, split, variant, partial=True)
        if ours is None or theirs is None:
            continue
        paired = paired_difference(ours.sentence_errors, theirs.sentence_errors)
        if paired is None:
            continue
        ci = paired.interval
        cell = "–" if ci is None else f"{100 * ci.low:+.1f} to {100 * ci.high:+.1f}"
        common = {s.index for s in theirs.sentence_errors} & {s.index for s in ours.sentence_errors}
        audio = _audio_ratio(store, plan, voice, split, variant, common)
        rows.append(
            f"| {voice} | {split} | {variant.label} | {paired.sentences} | {100 * paired.base.rate:.1f} | "
            f"{100 * paired.other.rate:.1f} | {100 * paired.difference:+.1f} ({cell}) | "
            f"{paired.better} / {paired.worse} | {audio} |"
        )
    if not rows:
        return ""
    metric = metric_name(plan.language)
    head = (
        f"| voice | split | front end | sentences | {metric} % ({base.label}) | {metric} % | "
        f"difference, points (95 % CI, paired) | sentences better / worse | audio length |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|"
    )
    note = (
        "Each row: the same sentences read with the plan's front end and with the row's (paired "
        "percentile bootstrap over sentences); audio length: the row's audio over the plan's."
    )
    title = "## front-end variants (polyphone fixes, tone sandhi, pace)"
    return f"{title}\n\n" + "\n".join([head, *rows]) + "\n\n" + note


def _audio_ratio(store: Store, plan: Plan, voice: str, split: str, variant: Variant, common: set[int]) -> str:
    """The variant's audio seconds over the plan's, on the sentences both read."""
    sentences = plan.sentences(split)
    seconds = []
    for v in (plan.variant, variant):
        trials = readings_of(store, voice, split, sentences, plan.trials, v, plan.model, plan.language)
        seconds.append(sum(r.audio_s for t in trials for r in t if r.index in common))
    return f"{seconds[1] / seconds[0]:.2f}×" if seconds[0] else "–"


def _on_off(value: str) -> bool:
    if value not in ("on", "off"):
        raise argparse.ArgumentTypeError("on or off")
    return value == "on"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--stage", choices=STAGES, default="all", help="one stage, or all in order")
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        help="directory of readings.jsonl (default bench/out/<language>_voices[_<engine>])",
    )
    parser.add_argument("--top", type=int, default=3, help="voices whose pairs are blended")
    parser.add_argument("--weights", default="0.3,0.5,0.7", help="weights of each pair's first voice")
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="syntheses per sentence (default 1 for kokoro, which repeats itself exactly; 3 for piper)",
    )
    parser.add_argument("--language", choices=LANGUAGES, default="zh", help="the corpus: zh_eval or en_eval")
    parser.add_argument(
        "--engine", choices=("kokoro", "piper"), default="kokoro", help="piper: the English reference line"
    )
    parser.add_argument(
        "--scoring",
        choices=SCORINGS,
        default="spoken",
        help="how the report scores the stored transcripts (stored: the errors as measured)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N sentences of each split")
    parser.add_argument("--voices", default=None, help="measure these instead (dev/test/variants/rtf)")
    parser.add_argument("--g2p-fixes", type=_on_off, default=True, metavar="on|off", help="polyphone fixes")
    parser.add_argument("--sandhi", type=_on_off, default=False, metavar="on|off", help="tone sandhi")
    parser.add_argument(
        "--zh-speed",
        type=float,
        default=None,
        metavar="PACE",
        help="kokoro's pace for Chinese (default: engines.kokoro.zh_speed, what voxgate ships)",
    )
    parser.add_argument("--no-dnsmos", action="store_true", help="skip DNSMOS")
    parser.add_argument("--asr-threads", type=int, default=2)
    parser.add_argument("--rtf", action="store_true", help="measure real-time factors only (a quiet machine)")
    parser.add_argument("--rtf-sentences", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    if args.trials is None:
        args.trials = 3 if args.engine == "piper" else 1
    if args.engine == "piper" and args.language != "en":
        parser.error("--engine piper reads only English (--language en)")
    if args.store is None:
        args.store = DEFAULT_STORE.with_name(f"{args.language}_voices")
        if args.engine != "kokoro":
            args.store = args.store.with_name(f"{args.language}_voices_{args.engine}")
    if args.trials < 1 or (args.limit is not None and args.limit < 1):
        parser.error("--trials and --limit must be at least 1")
    try:
        args.weights = tuple(float(w) for w in args.weights.split(",") if w.strip())
        blend_grid(["a", "b"], args.weights)
    except ValueError as exc:
        parser.error(f"--weights: {exc}")
    args.voices = [v.strip() for v in args.voices.split(",") if v.strip()] if args.voices else None
    return args


def spread_limit(rows: Sequence[EvalSentence], limit: int | None) -> list[EvalSentence]:
    """The first ``limit`` sentences taken register by register in turn (a short try spans registers).

    Args:
        rows: a split of an evaluation corpus.
        limit: how many to keep, ``None`` for all.

    Returns:
        The kept sentences in their corpus order.
    """
    if limit is None:
        return list(rows)
    kept = sorted(interleave([r.register for r in rows])[:limit])
    return [rows[i] for i in kept]


WRITTEN = "written"
"""The diagnostics column of the first runs' scoring (``Scorer("written")``)."""


def report_scoring(scoring: str, language: str) -> tuple[ReadingScore | None, dict[str, ReadingScore]]:
    """The report's scoring of stored readings, and its diagnostic metrics (pinyin PER for Chinese).

    Args:
        scoring: one of :data:`SCORINGS`.
        language: the corpus language.

    Returns:
        The plan's ``score`` (``None`` for ``stored``) and the diagnostics by column name.
    """
    from _metrics import Scorer
    from _zh_store import rescorer

    scorer = Scorer("written" if scoring == "written" else "spoken")
    score = None if scoring == "stored" else rescorer(scorer, "asr")
    diagnostics: dict[str, ReadingScore] = {}
    if language == "zh":
        diagnostics = {"PER": rescorer(scorer, "per"), "tonal PER": rescorer(scorer, "per_tonal")}
    if scoring != "written":
        diagnostics[f"{WRITTEN} {metric_name(language)}"] = rescorer(Scorer("written"), "asr")
    return score, diagnostics


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - needs models and hours
    """Run the chosen stage(s), or the report, or the RTF measurement."""
    from _corpus import load_eval
    from voxgate.engines.kokoro import KokoroEngine
    from voxgate.engines.registry import build_engine
    from voxgate.settings import Settings

    args = parse_args(argv)
    settings = Settings.load()
    pace = settings.engines.kokoro.zh_speed if args.zh_speed is None else args.zh_speed
    # the pace applies to Chinese pieces only: an English run keeps pace 1 (and its keys)
    variant = Variant(fixes=args.g2p_fixes, sandhi=args.sandhi, speed=pace if args.language == "zh" else 1.0)
    engines: dict[Variant, Any] = {}

    def engine(v: Variant) -> Any:
        if args.engine != "kokoro":
            if v not in engines:
                engines[v] = build_engine(args.engine, settings)
            return engines[v]
        if v not in engines:
            engines[v] = KokoroEngine(
                models_dir=settings.data_dir / "models",
                threads=settings.engines.kokoro.threads,
                max_segment_chars=settings.text.max_segment_chars,
                zh_tone_sandhi=v.sandhi,
                zh_g2p_fixes=v.fixes,
                zh_speed=v.speed,
            )
        return engines[v]

    corpus = f"{args.language}_eval"
    dev_rows = spread_limit(load_eval(corpus, "dev"), args.limit)
    test_rows = spread_limit(load_eval(corpus, "test"), args.limit)
    score, diagnostics = report_scoring(args.scoring, args.language)
    plan = Plan(
        singles=tuple(
            v.id for v in engine(variant).voices() if "+" not in v.id and args.language in v.languages
        ),
        dev=tuple(s.text for s in dev_rows),
        test=tuple(s.text for s in test_rows),
        trials=args.trials,
        # the weights alone: the front-end settings are the variant's, apart in every key
        model=getattr(engine(variant), "weights_version", engine(variant).model_version),
        top=args.top,
        weights=args.weights,
        variant=variant,
        dev_registers=tuple(s.register for s in dev_rows),
        test_registers=tuple(s.register for s in test_rows),
        language=args.language,
        engine=args.engine,
        score=score,
    )
    store = Store(args.store)
    if args.rtf:
        return _measure_rtf(engine(variant), args.voices or list(plan.singles), plan.dev, args, args.language)
    if args.stage == "report":
        registers = [s.register for s in dev_rows]
        report = render_report(store, plan, registers, _rtf_overrides(args.store), diagnostics)
        print(report)
        if args.out is not None:
            args.out.write_text(report + "\n", encoding="utf-8")
        return 0

    try:
        with store.writing():  # before loading the models: a second run stops at once
            code = _run_stages(args, settings, store, plan, engine)
    except StoreBusyError as exc:
        print(f"{exc}: it is running already (see run.pid / run.log there)", file=sys.stderr)
        return 4
    if code:
        return code
    registers = [s.register for s in dev_rows]
    print(render_report(store, plan, registers, _rtf_overrides(args.store), diagnostics))
    return 0


def _run_stages(
    args: argparse.Namespace, settings: Any, store: Store, plan: Plan, engine: Any
) -> int:  # pragma: no cover - needs models
    """Load whisper, probe kokoro's determinism, and measure the chosen stage(s) in order."""
    from _asr import Transcriber, default_cache_dir, ensure_whisper_base
    from _metrics import Scorer
    from quality import Bench, service_front_end

    transcriber = Transcriber(ensure_whisper_base(default_cache_dir()), threads=args.asr_threads)
    bench = Bench(service_front_end(settings), transcriber, Scorer(), with_dnsmos=not args.no_dnsmos)
    stages = ["dev", "blends", "test", "variants"] if args.stage == "all" else [args.stage]
    if plan.language != "zh":  # the variants are settings of the Chinese front end
        stages = [s for s in stages if s != "variants"]
    _probe_determinism(bench, engine(plan.variant), plan.singles[0], plan.dev[0], plan.trials, plan.language)
    if store.skipped_lines:
        print(f"store: ignored {store.skipped_lines} unreadable line(s)", file=sys.stderr)
    for stage in stages:
        try:
            _run_stage(stage, store, plan, args.voices, bench, engine)
        except IncompleteError as exc:
            print(f"stage {stage} cannot start yet: {exc}", file=sys.stderr)
            return 3
    return 0


def _probe_determinism(
    bench: Any, kokoro: Any, voice: str, sentence: str, trials: int, language: str
) -> None:  # pragma: no cover - needs models
    """Log whether two syntheses of one sentence are identical (then more trials add nothing)."""
    import numpy as np

    kokoro.load()
    first, second = (bench.speak(kokoro, voice, sentence, language)[0] for _ in range(2))
    same = bool(np.array_equal(first, second))
    print(f"determinism probe ({voice}): two syntheses identical: {same}", file=sys.stderr, flush=True)
    if same and trials > 1:
        note = f"  --trials {trials} repeats identical readings: the CER and CI equal one trial's"
        print(note, file=sys.stderr)


def _run_stage(
    stage: str, store: Store, plan: Plan, voices: list[str] | None, bench: Any, engine: Any
) -> None:
    """Measure one stage's readings that are not stored yet (voice-major)."""
    if stage == "dev":
        _measure(store, plan, voices or list(plan.singles), "dev", plan.variant, bench, engine)
    elif stage == "blends":
        _measure(store, plan, blend_voices(store, plan), "dev", plan.variant, bench, engine)
    elif stage == "test":
        _measure(store, plan, voices or voices_for_test(store, plan), "test", plan.variant, bench, engine)
    elif stage == "variants":
        chosen = voices or [chosen_voice(store, plan)]
        for alternative in ALTERNATIVES:
            at_pace = replace(alternative, speed=plan.variant.speed)  # the plan's pace
            _measure(store, plan, chosen, "dev", at_pace, bench, engine)


def _measure(
    store: Store, plan: Plan, voices: Sequence[str], split: str, variant: Variant, bench: Any, engine: Any
) -> None:  # pragma: no cover - needs models
    from _zh_store import Reading
    from quality import Case

    kokoro = engine(variant)
    kokoro.load()
    sentences = plan.sentences(split)
    current = ""
    started = time.monotonic()
    for count, job in enumerate(
        pending(
            store,
            voices,
            split,
            sentences,
            plan.trials,
            variant,
            plan.model,
            plan.order(split),
            plan.language,
        ),
        1,
    ):
        if job.voice != current:
            if current:
                _log_done(store, plan, current, split, variant)
            current = job.voice
            label = variant.label if plan.language == "zh" else plan.language
            print(f"[{split} | {label}] {job.voice} ...", file=sys.stderr, flush=True)
        heard = bench.hear(kokoro, Case(plan.engine, job.voice, plan.language), job.text)
        store.append(
            Reading(
                key=job.key,
                voice=job.voice,
                split=split,
                trial=job.trial,
                index=job.index,
                text=job.text,
                fixes=variant.fixes,
                sandhi=variant.sandhi,
                speed=variant.speed,
                model=plan.model,
                transcript=heard.transcript,
                errors=heard.error.errors,
                length=heard.error.reference_length,
                audio_s=round(heard.audio_seconds, 4),
                synth_s=round(heard.synth_seconds, 4),
                failed=heard.failed,
                ovrl=None if heard.scores is None else round(heard.scores.overall, 4),
                p808=None if heard.scores is None else round(heard.scores.p808, 4),
                language=plan.language,
                engine=plan.engine,
            )
        )
        if count % 20 == 0:
            rate = (time.monotonic() - started) / count
            p = plan.progress(store, job.voice, split, variant)
            stamp = time.strftime("%H:%M:%S")
            print(
                f"  {stamp} {job.voice} trial {job.trial}: {p.done}/{p.total} readings, "
                f"{rate:.1f} s/reading, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
    if current:
        _log_done(store, plan, current, split, variant)


def _log_done(store: Store, plan: Plan, voice: str, split: str, variant: Variant) -> None:
    result = plan.result(store, voice, split, variant)
    if result is not None:
        ci = result.interval
        bounds = "" if ci is None else f" (95 % CI {100 * ci.low:.1f}-{100 * ci.high:.1f})"
        print(
            f"  done: {voice} {split} {metric_name(plan.language)} {100 * result.error.rate:.1f} %{bounds}",
            file=sys.stderr,
            flush=True,
        )


def _measure_rtf(
    kokoro: Any, voices: Sequence[str], sentences: Sequence[str], args: argparse.Namespace, language: str
) -> int:  # pragma: no cover - needs models
    """Synthesis only, ``--rtf-sentences`` dev sentences per voice, after a warm-up; writes rtf.json."""
    from _metrics import Scorer
    from quality import Bench, service_front_end
    from voxgate.errors import VoxgateError
    from voxgate.settings import Settings

    bench = Bench(service_front_end(Settings.load()), None, Scorer(), with_dnsmos=False)  # type: ignore[arg-type]
    kokoro.load()
    chosen = list(sentences)[: args.rtf_sentences]
    load_before = os.getloadavg()
    figures: dict[str, dict[str, float]] = {}
    for voice in voices:
        bench.speak(kokoro, voice, chosen[0], language)  # warm-up: jieba's dictionary, the ONNX session
        synth = audio = 0.0
        for sentence in chosen:
            start = time.perf_counter()
            try:
                samples, rate = bench.speak(kokoro, voice, sentence, language)
            except VoxgateError:
                continue
            synth += time.perf_counter() - start
            audio += len(samples) / rate
        figures[voice] = {
            "rtf": synth / audio if audio else float("nan"),
            "synth_s": synth,
            "audio_s": audio,
            "load1": os.getloadavg()[0],
        }
        print(f"{voice}: RTF {figures[voice]['rtf']:.3f} ({synth:.1f} s for {audio:.1f} s)", flush=True)
    load_after = os.getloadavg()
    record = {
        "sentences": len(chosen),
        "load_before": load_before,
        "load_after": load_after,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "voices": figures,
    }
    args.store.mkdir(parents=True, exist_ok=True)
    path = args.store / RTF_FILE
    previous = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    merged = {**record, "voices": {**previous.get("voices", {}), **figures}}
    path.write_text(json.dumps(merged, indent=1) + "\n", encoding="utf-8")
    print("| voice | RTF |\n|---|---:|")
    for voice, f in figures.items():
        print(f"| {voice} | {f['rtf']:.3f} |")
    print(
        f"\nload average {load_before[0]:.2f} before, {load_after[0]:.2f} after; {len(chosen)} dev sentences"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
