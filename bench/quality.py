"""Offline quality bench: ASR round-trip intelligibility and DNSMOS per engine, voice and language.

Every sentence of a corpus goes through voxgate's own path (text front end, then the engine),
the audio is resampled to 16 kHz, whisper-base transcribes it, and the transcript is compared
with the sentence: word error rate on the Harvard sentences (English, lists 1-3), character
error rate on everyday Mandarin sentences. DNSMOS adds a rough naturalness score.

Usage::

    python bench/quality.py [--engines piper,kokoro,espeak] [--voices jf_alpha,...]
        [--languages en,zh] [--limit N] [--trials N] [--no-dnsmos] [--details]
        [--out FILE] [--asr-threads N]
    python bench/quality.py --corpus zh_eval --split dev|test [--voices jm_kumo,jf_alpha:0.6+jm_kumo:0.4]

``--corpus zh_eval --split dev|test`` measures on one split of the 352-sentence Chinese evaluation
corpus (``bench/data/zh_eval``, eleven registers) instead of the 30-sentence set (``en_eval``: its
170-sentence English twin), with 3 trials for an engine that samples noise (piper) and 1 for one
that repeats itself exactly (kokoro; see :data:`DETERMINISTIC_ENGINES`) unless ``--trials`` says
otherwise: choose on dev, report test. ``--voices`` also takes kokoro
blends (``a:0.6+b:0.4``), which are measured like any voice.

``--trials N`` (default 1) synthesises every sentence N times afresh: piper samples noise, so each
reading differs and one pass over 30 sentences is too noisy to judge a 10 % target. (kokoro-onnx
does not: the same sentence and voice give identical samples, so its trials repeat themselves;
``bench/zh_voices.py`` measures kokoro with one.) The table pools the errors of all trials and
adds a 95 % confidence interval from a bootstrap over sentences: more trials shrink the synthesis
noise in it, but only more sentences shrink the part that comes from which sentences the corpus holds.

The default runs each engine on every voice that reads a bench language natively (piper joe in
English, the five kokoro voices in Chinese plus one kokoro voice in English, espeak-ng en-us and
cmn). The exit status is 1 when a measured engine misses a target in ``_report.TARGETS``.
Needs the ``bench`` extra (``pip install -e '.[bench]'``); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _asr import Transcriber, default_cache_dir, ensure_whisper_base, to_asr_rate
from _corpus import CORPORA, EVAL_CORPORA, SPLITS, load_eval, load_sentences
from _dnsmos import MosScores, rate_clip
from _metrics import ErrorRate, Scorer, metric_name
from _report import CaseResult, pool_trials, render_details, render_registers, render_table, target_misses
from _stats import SentenceError
from voxgate.engines.base import Engine
from voxgate.engines.espeak import VOICE_PREFIX as ESPEAK_VOICE_PREFIX
from voxgate.engines.languages import espeak_voice_for
from voxgate.engines.registry import ENGINE_NAMES, build_engines
from voxgate.errors import VoxgateError
from voxgate.settings import Settings
from voxgate.text import prepare
from voxgate.types import Audio, SynthesisOptions
from voxgate.voices import BLEND_ENGINES, is_blend

DETERMINISTIC_ENGINES = frozenset({"kokoro"})
"""Engines whose audio is byte-identical for the same text and voice (kokoro-onnx: checked across
threads, blends and processes in session 7), so further trials repeat the first reading exactly."""


def default_trials(engine: str, corpus: str | None) -> int:
    """Trials of ``engine`` when ``--trials`` is not given.

    Args:
        engine: engine name.
        corpus: the evaluation corpus, ``None`` for the default sets.

    Returns:
        1 on the default sets; on an evaluation corpus 1 for a deterministic engine, else 3.
    """
    if corpus is None or engine in DETERMINISTIC_ENGINES:
        return 1
    return 3


@dataclass(frozen=True, slots=True)
class Case:
    """One engine voice reading one corpus."""

    engine: str
    voice: str
    language: str


@dataclass(frozen=True, slots=True)
class Heard:
    """One reading measured by :meth:`Bench.hear`.

    Attributes:
        transcript: what whisper heard ("" for a failed synthesis).
        error: its WER/CER counts against the sentence (scored by :class:`_metrics.Scorer`).
        audio_seconds: length of the audio.
        synth_seconds: wall time of the synthesis (front end included).
        failed: the engine raised; scored as silence.
        scores: DNSMOS, when the bench rates it.
    """

    transcript: str
    error: ErrorRate
    audio_seconds: float
    synth_seconds: float
    failed: bool
    scores: MosScores | None


def default_voices(engine: Engine, language: str) -> list[str]:
    """The voices of ``engine`` that the default run measures in ``language``.

    espeak offers one voice per language, so only the one voxgate would pick for the
    language is measured (``espeak-en-us``, ``espeak-cmn``). Otherwise every voice whose
    primary language it is; failing that, the first voice that can read it at all.

    Args:
        engine: a built engine (``voices()`` works before ``load()``).
        language: a bench language.

    Returns:
        Voice ids, possibly none.
    """
    voices = engine.voices()
    readers = [v.id for v in voices if language in v.languages]
    if engine.name == "espeak":
        best = f"{ESPEAK_VOICE_PREFIX}{espeak_voice_for(language)}"
        return [best] if best in readers else []
    primary = [v.id for v in voices if v.languages[:1] == (language,)]
    return primary or readers[:1]


def plan_cases(
    engines: Mapping[str, Engine], languages: Sequence[str], voices: Sequence[str] | None
) -> list[Case]:
    """Choose what to measure.

    Args:
        engines: the selected engines by name.
        languages: bench languages to include.
        voices: explicit voice ids (every bench language each one reads), or ``None`` for
            the default selection of :func:`default_voices`.

    Returns:
        Cases in engine order, then language, then voice.

    Raises:
        ValueError: if an explicit voice belongs to none of the selected engines.
    """
    cases: list[Case] = []
    offered: set[str] = set()
    for name, engine in engines.items():
        for language in languages:
            if voices is None:
                chosen = default_voices(engine, language)
            else:
                chosen = [v.id for v in engine.voices() if v.id in voices and language in v.languages]
                if name in BLEND_ENGINES:
                    blends = [v for v in voices if is_blend(v)]
                    chosen += [b for b in blends if language in engine.voices()[0].languages]
                    offered.update(blends)
            cases.extend(Case(name, voice, language) for voice in chosen)
        offered.update(v.id for v in engine.voices())
    unknown = sorted(set(voices or ()) - offered)
    if unknown:
        raise ValueError(f"voices not offered by the selected engines: {', '.join(unknown)}")
    return cases


def service_front_end(settings: Settings) -> Callable[[str, str], str]:
    """The text front end as the service applies it before a text reaches an engine.

    Args:
        settings: supplies the text limits.

    Returns:
        A function from (raw text, language) to normalised text.
    """

    def front_end(text: str, language: str) -> str:
        prepared = prepare(
            text,
            max_chars=settings.text.max_chars,
            max_segment_chars=settings.text.max_segment_chars,
            default_language=language,
        )
        return prepared.text

    return front_end


class Bench:
    """Runs cases: synthesis through voxgate, whisper transcription, scoring, DNSMOS.

    Args:
        front_end: turns (corpus sentence, language) into the text an engine receives.
        transcriber: the whisper model.
        scorer: text normaliser and error-rate calculator.
        with_dnsmos: also score naturalness.
    """

    def __init__(
        self,
        front_end: Callable[[str, str], str],
        transcriber: Transcriber,
        scorer: Scorer,
        *,
        with_dnsmos: bool,
    ) -> None:
        self._front_end = front_end
        self._transcriber = transcriber
        self._scorer = scorer
        self._with_dnsmos = with_dnsmos
        self._warmed: set[tuple[str, str]] = set()

    def run(self, engine: Engine, case: Case, sentences: Sequence[str], *, trials: int = 1) -> CaseResult:
        """Measure one case over ``sentences``, ``trials`` times.

        Each trial synthesises every sentence afresh and transcribes it; the trials are pooled
        (see :func:`_report.pool_trials`). A sentence the engine refuses or fails on scores as
        silence (every unit deleted) and is counted in ``failures``.

        Args:
            engine: the loaded engine named by ``case.engine``.
            case: engine, voice and language.
            sentences: the corpus, in ``case.language``.
            trials: passes over the corpus, at least 1.

        Returns:
            Error rate, mean DNSMOS scores, real-time factor and the transcripts of all trials.

        Raises:
            ValueError: if ``trials`` is below 1.
        """
        if trials < 1:
            raise ValueError(f"trials must be at least 1, got {trials}")
        opts = SynthesisOptions(speed=1.0, language=case.language)
        if (case.engine, case.language) not in self._warmed:
            # the first call pays lazy set-up (jieba's dictionary, espeak data): keep it out of RTF
            with contextlib.suppress(VoxgateError):  # a failure is recorded by the loop below
                self._synthesize(engine, case.voice, sentences[0], opts)
            self._warmed.add((case.engine, case.language))
        results = []
        for trial in range(1, trials + 1):
            result = self._run_once(engine, case, sentences, opts)
            if trials > 1:
                measured = f"{metric_name(case.language)} {100 * result.error.rate:.1f} %"
                print(f"  trial {trial}/{trials}: {measured}", file=sys.stderr, flush=True)
            results.append(result)
        return pool_trials(results)

    def speak(self, engine: Engine, voice: str, sentence: str, language: str) -> tuple[Audio, int]:
        """Synthesise one corpus sentence through the front end, as :meth:`run` does.

        Returns:
            The samples and their rate.

        Raises:
            VoxgateError: the engine refused or failed.
        """
        return self._synthesize(engine, voice, sentence, SynthesisOptions(speed=1.0, language=language))

    def hear(self, engine: Engine, case: Case, sentence: str) -> Heard:
        """Measure one reading of one sentence: synthesis, transcript, errors, DNSMOS if on.

        A synthesis the engine refuses or fails on scores as silence, as in :meth:`run`.

        Args:
            engine: the loaded engine named by ``case.engine``.
            case: engine, voice and language.
            sentence: one corpus sentence.

        Returns:
            The transcript, its error counts, and the seconds of audio and of synthesis.
        """
        start = time.perf_counter()
        try:
            audio, rate = self.speak(engine, case.voice, sentence, case.language)
        except VoxgateError as exc:
            print(f"  {case.voice}: failed on {sentence!r}: {exc!r}", file=sys.stderr)
            error = self._scorer.sentence_errors([sentence], [""], case.language)[0]
            return Heard("", error, 0.0, 0.0, failed=True, scores=None)
        synth_seconds = time.perf_counter() - start
        clip = to_asr_rate(audio, rate)
        heard = self._transcriber.transcribe(clip, case.language) if audio.size else ""
        scores = rate_clip(clip) if self._with_dnsmos and audio.size else None
        error = self._scorer.sentence_errors([sentence], [heard], case.language)[0]
        return Heard(heard, error, len(audio) / rate, synth_seconds, failed=False, scores=scores)

    def _run_once(
        self, engine: Engine, case: Case, sentences: Sequence[str], opts: SynthesisOptions
    ) -> CaseResult:
        # synthesise everything first, so whisper's and DNSMOS's thread pools do not disturb the timing
        clips: list[Audio | None] = []
        synth_seconds = audio_seconds = 0.0
        for sentence in sentences:
            start = time.perf_counter()
            try:
                audio, rate = self._synthesize(engine, case.voice, sentence, opts)
            except VoxgateError as exc:
                print(f"  {case.voice}: failed on {sentence!r}: {exc!r}", file=sys.stderr)
                clips.append(None)
                continue
            synth_seconds += time.perf_counter() - start
            audio_seconds += len(audio) / rate
            clips.append(to_asr_rate(audio, rate))
        hypotheses: list[str] = []
        scores: list[MosScores] = []
        for clip in clips:
            if clip is None or clip.size == 0:
                hypotheses.append("")
                continue
            hypotheses.append(self._transcriber.transcribe(clip, case.language))
            if self._with_dnsmos:
                scores.append(rate_clip(clip))
        errors = self._scorer.sentence_errors(sentences, hypotheses, case.language)
        return CaseResult(
            engine=case.engine,
            voice=case.voice,
            language=case.language,
            sentences=len(sentences),
            trials=1,
            failures=sum(clip is None for clip in clips),
            sentence_errors=tuple(SentenceError(i, e) for i, e in enumerate(errors)),
            scores=tuple(scores),
            synth_seconds=synth_seconds,
            audio_seconds=audio_seconds,
            transcripts=tuple(zip(sentences, hypotheses, strict=True)),
        )

    def _synthesize(
        self, engine: Engine, voice: str, sentence: str, opts: SynthesisOptions
    ) -> tuple[Audio, int]:
        chunks = list(engine.synthesize(self._front_end(sentence, opts.language or "en"), voice, opts))
        if not chunks:
            return np.zeros(0, dtype=np.float32), 16000
        rates = {c.sample_rate for c in chunks}
        if len(rates) != 1:
            raise RuntimeError(f"{engine.name} returned chunks at several sample rates: {sorted(rates)}")
        return np.concatenate([c.audio for c in chunks]).astype(np.float32), rates.pop()


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--engines", type=_csv, default=None, help="comma-separated (default: all enabled)")
    parser.add_argument("--voices", type=_csv, default=None, help="comma-separated voice ids")
    parser.add_argument("--languages", type=_csv, default=list(CORPORA), help="comma-separated: en,zh")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences of each corpus")
    parser.add_argument(
        "--trials",
        type=int,
        default=None,
        help="fresh syntheses per sentence (default 1; with --corpus 3 for piper, 1 for kokoro)",
    )
    parser.add_argument("--corpus", choices=sorted(EVAL_CORPORA), default=None, help="an evaluation corpus")
    parser.add_argument("--split", choices=SPLITS, default=None, help="its split (required with --corpus)")
    parser.add_argument("--no-dnsmos", action="store_true", help="skip the DNSMOS naturalness score")
    parser.add_argument("--details", action="store_true", help="print every mis-heard sentence")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    parser.add_argument("--asr-threads", type=int, default=2, help="CTranslate2 threads for whisper")
    args = parser.parse_args(argv)
    for language in args.languages:
        if language not in CORPORA:
            parser.error(f"no corpus for language {language!r}; have {', '.join(CORPORA)}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.corpus is not None:
        if args.split is None:
            parser.error("--corpus needs --split dev or --split test")
        args.languages = [EVAL_CORPORA[args.corpus][0]]
    elif args.split is not None:
        parser.error("--split needs --corpus")
    if args.trials is None and args.corpus is None:
        args.trials = 1
    if args.trials is not None and args.trials < 1:
        parser.error("--trials must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench and print the table.

    Returns:
        0 when every measured target holds, 1 when one is missed, 2 on a usage error.
    """
    args = parse_args(argv)
    settings = Settings.load()
    all_engines = build_engines(settings)
    wanted = set(all_engines) if args.engines is None else set(args.engines)
    unknown = sorted(wanted - set(all_engines))
    if unknown:
        known = ", ".join(ENGINE_NAMES)
        print(f"unknown or disabled engines: {', '.join(unknown)} (known: {known})", file=sys.stderr)
        return 2
    engines = {name: e for name, e in all_engines.items() if name in wanted}
    try:
        cases = plan_cases(engines, args.languages, args.voices)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    corpora = corpus_sentences(args.corpus, args.split, args.languages, args.limit)
    scorer = Scorer()
    transcriber = Transcriber(ensure_whisper_base(default_cache_dir()), threads=args.asr_threads)
    bench = Bench(service_front_end(settings), transcriber, scorer, with_dnsmos=not args.no_dnsmos)
    results = list(_run_all(bench, engines, cases, corpora, args.trials, args.corpus))
    table = render_table(results)
    if args.corpus is not None:
        registers = [s.register for s in load_eval(args.corpus, args.split, args.limit)]
        by_register = render_registers(results, registers)
        metric = metric_name(args.languages[0])
        head = f"Corpus: {args.corpus}, {args.split} split."
        table = f"{head}\n\n{table}\n\n{metric} % per register:\n\n{by_register}"
    print(table)
    if args.details:
        print(render_details(results, scorer))
    if args.out is not None:
        args.out.write_text(table + "\n", encoding="utf-8")
    misses = target_misses(results)
    for miss in misses:
        print(f"TARGET MISSED: {miss}", file=sys.stderr)
    return 1 if misses else 0


def corpus_sentences(
    corpus: str | None, split: str | None, languages: Sequence[str], limit: int | None
) -> dict[str, list[str]]:
    """The sentences to read per language: a split of an evaluation corpus, or the default sets."""
    if corpus is not None and split is not None:
        return {EVAL_CORPORA[corpus][0]: [s.text for s in load_eval(corpus, split, limit)]}
    return {lang: load_sentences(CORPORA[lang], limit) for lang in languages}


def _run_all(
    bench: Bench,
    engines: Mapping[str, Engine],
    cases: Sequence[Case],
    corpora: Mapping[str, Sequence[str]],
    trials: int | None,
    corpus: str | None,
) -> Iterable[CaseResult]:
    loaded: set[str] = set()
    for case in cases:
        engine = engines[case.engine]
        if case.engine not in loaded:
            engine.load()
            loaded.add(case.engine)
        print(f"{case.engine}/{case.voice}/{case.language} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        runs = trials if trials is not None else default_trials(case.engine, corpus)
        result = bench.run(engine, case, corpora[case.language], trials=runs)
        print(f"  done in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        yield result


if __name__ == "__main__":
    sys.exit(main())
