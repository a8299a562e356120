"""Results of the quality bench, the Markdown table, and the targets they are held to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from _dnsmos import MosScores
from _metrics import ErrorRate, Scorer, metric_name
from _stats import RESAMPLES, Interval, SentenceError, bootstrap_interval

TARGETS: Mapping[tuple[str, str], float] = {
    ("piper", "en"): 0.10,
    ("kokoro", "zh"): 0.10,
}
"""(engine, language) → highest acceptable WER/CER, over all the engine's voices measured in it."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    """What one engine voice scored on one corpus, over one or more trials.

    Attributes:
        engine: engine name.
        voice: voice id.
        language: corpus language (``en`` → WER, ``zh`` → CER).
        sentences: sentences in the corpus (summed over voices when pooled).
        trials: fresh syntheses of every sentence.
        failures: syntheses the engine raised on (scored as silence), over all trials.
        sentence_errors: edit errors after normalisation of every reading, one per
            (trial, voice, sentence), tagged with the sentence's corpus index.
        scores: DNSMOS scores, one per synthesised sentence (empty when not measured).
        synth_seconds: wall time spent synthesising (front end included).
        audio_seconds: length of the audio produced.
        transcripts: (reference, transcript) per reading.
    """

    engine: str
    voice: str
    language: str
    sentences: int
    trials: int
    failures: int
    sentence_errors: tuple[SentenceError, ...]
    scores: tuple[MosScores, ...]
    synth_seconds: float
    audio_seconds: float
    transcripts: tuple[tuple[str, str], ...]

    @property
    def error(self) -> ErrorRate:
        """Corpus-level edit errors, pooled over every reading."""
        return ErrorRate.total(s.error for s in self.sentence_errors)

    @property
    def interval(self) -> Interval | None:
        """95 % bootstrap confidence interval of ``error.rate`` (see :mod:`_stats`)."""
        return bootstrap_interval(self.sentence_errors)

    @property
    def mos_overall(self) -> float | None:
        """Mean DNSMOS P.835 OVRL, ``None`` if not measured."""
        return sum(s.overall for s in self.scores) / len(self.scores) if self.scores else None

    @property
    def mos_p808(self) -> float | None:
        """Mean DNSMOS P.808, ``None`` if not measured."""
        return sum(s.p808 for s in self.scores) / len(self.scores) if self.scores else None

    @property
    def rtf(self) -> float | None:
        """Synthesis seconds per second of audio, ``None`` if nothing was produced."""
        return self.synth_seconds / self.audio_seconds if self.audio_seconds else None


def pool_trials(trials: Sequence[CaseResult]) -> CaseResult:
    """Combine repeated runs of one case into one result.

    Args:
        trials: results of the same engine, voice, language and corpus.

    Returns:
        One result whose trials, failures, sentence errors, DNSMOS scores, seconds and
        transcripts are those of all the runs together.

    Raises:
        ValueError: if there are no results, or they are not of one case.
    """
    if not trials:
        raise ValueError("no trials to pool")
    first = trials[0]
    if any(
        (t.engine, t.voice, t.language, t.sentences)
        != (first.engine, first.voice, first.language, first.sentences)
        for t in trials
    ):
        raise ValueError("trials of different cases cannot be pooled")
    return _combine(
        trials, voice=first.voice, sentences=first.sentences, trials=sum(t.trials for t in trials)
    )


def pool(results: Sequence[CaseResult]) -> list[CaseResult]:
    """Combine the results of each (engine, language) over its voices.

    Args:
        results: per-voice results, all with the same number of trials.

    Returns:
        One result per (engine, language) in first-seen order; ``voice`` says how many voices
        it covers, sentences, errors and seconds are summed, DNSMOS scores concatenated. The
        readings of one corpus sentence by every voice stay together for the bootstrap.

    Raises:
        ValueError: if the voices of one (engine, language) ran different numbers of trials.
    """
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        groups.setdefault((r.engine, r.language), []).append(r)
    pooled = []
    for members in groups.values():
        counts = {m.trials for m in members}
        if len(counts) > 1:
            raise ValueError(f"cannot pool voices run with different trial counts: {sorted(counts)}")
        pooled.append(
            _combine(
                members,
                voice=f"all {len(members)} voices" if len(members) > 1 else members[0].voice,
                sentences=sum(m.sentences for m in members),
                trials=counts.pop(),
            )
        )
    return pooled


def _combine(members: Sequence[CaseResult], *, voice: str, sentences: int, trials: int) -> CaseResult:
    return CaseResult(
        engine=members[0].engine,
        voice=voice,
        language=members[0].language,
        sentences=sentences,
        trials=trials,
        failures=sum(m.failures for m in members),
        sentence_errors=tuple(s for m in members for s in m.sentence_errors),
        scores=tuple(s for m in members for s in m.scores),
        synth_seconds=sum(m.synth_seconds for m in members),
        audio_seconds=sum(m.audio_seconds for m in members),
        transcripts=tuple(t for m in members for t in m.transcripts),
    )


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _voice_cell(voice: str) -> str:
    return f"*{voice}*" if voice.startswith("all ") else voice


def _interval_cell(interval: Interval | None) -> str:
    return "–" if interval is None else f"{100 * interval.low:.1f}–{100 * interval.high:.1f} %"


def render_table(results: Sequence[CaseResult]) -> str:
    """Render results as a Markdown table with a legend.

    Args:
        results: one row each; an (engine, language) measured with several voices also gets
            a pooled row (in italics).

    Returns:
        The table, then a short note on how each column was measured.
    """
    header = (
        "| engine | voice | language | sentences | trials | WER/CER % | 95 % CI "
        "| DNSMOS OVRL | DNSMOS P.808 | RTF |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    pooled = [p for p in pool(results) if p.voice.startswith("all ")]
    rows = []
    for r in [*results, *pooled]:
        sentences = f"{r.sentences}" + (f" ({r.failures} failed)" if r.failures else "")
        rows.append(
            f"| {r.engine} | {_voice_cell(r.voice)} | {r.language} | {sentences} | {r.trials} "
            f"| {metric_name(r.language)} {100 * r.error.rate:.1f} | {_interval_cell(r.interval)} "
            f"| {_fmt(r.mos_overall, 2)} | {_fmt(r.mos_p808, 2)} | {_fmt(r.rtf, 3)} |"
        )
    legend = (
        "\nWER (en) and CER (zh) from a whisper-base (int8) round trip, reference and transcript both "
        "in the spoken form voxgate's text normaliser gives (numbers, times, money and units spelled "
        "out), lower-cased, without punctuation, Chinese in simplified characters with the variants of "
        "_metrics.ZH_FOLD folded; pooled over the trials, each a fresh "
        "synthesis of every sentence (failures count syntheses). 95 % CI: percentile bootstrap over "
        f"sentences ({RESAMPLES} resamples, every reading of a drawn sentence kept together). DNSMOS: "
        "mean per sentence, a rough naturalness signal (trained on noisy human speech). "
        "RTF: synthesis time / audio time."
    )
    return "\n".join([header, *rows]) + "\n" + legend


def render_registers(results: Sequence[CaseResult], registers: Sequence[str]) -> str:
    """CER/WER per register of an evaluation corpus, one row per result.

    Args:
        results: per-voice results on one corpus split.
        registers: the register of each corpus sentence, by sentence index.

    Returns:
        A Markdown table: one column per register (in first-seen order), pooled over the trials.
    """
    names = list(dict.fromkeys(registers))
    header = "| voice | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names)
    rows = []
    for r in results:
        cells = []
        for name in names:
            part = ErrorRate.total(s.error for s in r.sentence_errors if registers[s.index] == name)
            cells.append(f"{100 * part.rate:.1f}" if part.reference_length else "–")
        rows.append(f"| {r.voice} | " + " | ".join(cells) + " |")
    return "\n".join([header, *rows])


def render_details(results: Sequence[CaseResult], scorer: Scorer) -> str:
    """List every sentence whose normalised transcript differs from the reference.

    Args:
        results: bench results.
        scorer: the normaliser the error rates were computed with.

    Returns:
        Markdown: one section per result, one bullet per mis-heard sentence.
    """
    out: list[str] = []
    for r in results:
        out.append(f"\n### {r.engine} / {r.voice} / {r.language}")
        for reference, heard in r.transcripts:
            if scorer.normalise(reference, r.language) != scorer.normalise(heard, r.language):
                out.append(f"- `{reference}` → `{heard}`")
    return "\n".join(out)


def target_misses(results: Sequence[CaseResult]) -> list[str]:
    """Describe each result that breaks its :data:`TARGETS` entry.

    Each target is judged on the point estimate of the engine's voices pooled (see
    :func:`pool`); the message adds the confidence interval and the trials behind it.

    Args:
        results: per-voice bench results.

    Returns:
        One message per miss; empty when every measured target holds.
    """
    misses = []
    for r in pool(results):
        limit = TARGETS.get((r.engine, r.language))
        if limit is not None and r.error.rate > limit:
            measured = f"{metric_name(r.language)} {100 * r.error.rate:.1f} %"
            spread = f"95 % CI {_interval_cell(r.interval)}, {_trials(r.trials)}"
            misses.append(f"{r.engine}/{r.voice}/{r.language} {measured} ({spread}) > {100 * limit:.0f} %")
    return misses


def _trials(count: int) -> str:
    return f"{count} trial" if count == 1 else f"{count} trials"
