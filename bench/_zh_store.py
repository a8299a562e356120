"""The append-only store of ``bench/zh_voices.py``: one JSON line per measured reading, so a run resumes.

A reading is one synthesis of one corpus sentence by one voice in one trial, transcribed by
whisper and scored. Each is appended to ``readings.jsonl`` in the store directory as soon as it is
measured (flushed and fsynced), so a run can be killed at any moment and loses at most the
sentence in flight; a partly written last line is ignored on reload and sealed off with a newline
before the next append. A reading is found again by its :func:`fingerprint`: everything that
changes the result (voice, split, trial, sentence text, G2P settings, kokoro model, recogniser);
a change to any of them makes the old readings invisible rather than wrong.

The stored ``errors``/``length`` are the scoring of the code that made the reading (kept for
compatibility); a report rescores the stored ``transcript`` with today's :class:`_metrics.Scorer`
(:func:`rescorer`), so the scoring can improve without synthesising anything again. The English
runs of ``bench/en_voices.py`` use the same store in their own directory: their readings carry
``language`` (and ``engine``), which enter the fingerprint only when they are not the Chinese
defaults, so every Chinese key stays what it was.

Pooling reuses ``bench/quality.py``'s machinery: per trial a :class:`_report.CaseResult` of
:class:`_stats.SentenceError` by corpus index, then :func:`_report.pool_trials`, so a table from
the store is the table ``quality.py --corpus zh_eval`` would print for the same readings.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Literal

from _dnsmos import MosScores
from _metrics import ErrorRate, Scorer
from _report import CaseResult, pool_trials
from _stats import SentenceError

READINGS_FILE = "readings.jsonl"
ASR_TAG = "whisper-base-int8/beam5/pad0.5/zh-cer-v1"
"""The recogniser and scoring behind a stored reading; part of every fingerprint."""
SCHEMA = 1


@dataclass(frozen=True, slots=True)
class Variant:
    """The Chinese front-end settings a reading was made with.

    Attributes:
        fixes: voxgate's polyphone reading rules (``kokoro_zh.RULES``) applied.
        sandhi: tone sandhi (``kokoro_zh.tone_sandhi``) applied.
        speed: kokoro's pace for Chinese (``engines.kokoro.zh_speed``).
    """

    fixes: bool = True
    sandhi: bool = False
    speed: float = 1.0

    @property
    def label(self) -> str:
        """``fixes on, sandhi off`` and the like (``, pace 0.85`` when the Chinese pace is not 1)."""
        label = f"fixes {'on' if self.fixes else 'off'}, sandhi {'on' if self.sandhi else 'off'}"
        return label if self.speed == 1.0 else f"{label}, pace {self.speed:g}"


DEFAULT_VARIANT = Variant()
"""The polyphone fixes on, tone sandhi off, pace 1 (the first runs' front end)."""


def fingerprint(
    voice: str, split: str, trial: int, text: str, variant: Variant, model: str, language: str = "zh"
) -> str:
    """The key of one reading: a hash of everything that changes its result.

    Args:
        voice: kokoro voice or blend id.
        split: corpus split (``dev``, ``test``).
        trial: 1-based trial number (kokoro samples noise, so trials differ).
        text: the corpus sentence as synthesised.
        variant: the G2P settings.
        model: the engine's weights (``KokoroEngine.weights_version``; ``PiperEngine.model_version``).
        language: the corpus language; only a language other than ``zh`` (and a pace other
            than 1) enters the hash, so the Chinese keys are those of the first runs.

    Returns:
        24 hex digits.
    """
    fields: list[object] = [SCHEMA, ASR_TAG, model, variant.fixes, variant.sandhi, voice, split, trial, text]
    if language != "zh":
        fields.append(language)
    if variant.speed != 1.0:
        fields.append(["speed", variant.speed])
    blob = json.dumps(fields, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Reading:
    """One stored measurement.

    Attributes:
        key: its :func:`fingerprint`.
        voice, split, trial, index, text: what was read (``index`` is the sentence's position in
            the split, the bootstrap's unit).
        fixes, sandhi: the G2P variant.
        model: kokoro model version.
        transcript: what whisper heard ("" when the synthesis failed).
        errors, length: CER edit errors and normalised reference length.
        audio_s, synth_s: audio produced and wall time spent synthesising it (under whatever
            load there was: not a real-time factor for a background run).
        failed: the engine raised; scored as silence.
        ovrl, p808: DNSMOS scores, ``None`` when not measured.
        language, engine: the corpus language and the engine (written to the line only when
            they differ from ``zh`` / ``kokoro``, so Chinese lines keep their old shape).
        speed: the Chinese pace (written only when not 1).
    """

    key: str
    voice: str
    split: str
    trial: int
    index: int
    text: str
    fixes: bool
    sandhi: bool
    model: str
    transcript: str
    errors: int
    length: int
    audio_s: float
    synth_s: float
    failed: bool = False
    ovrl: float | None = None
    p808: float | None = None
    language: str = "zh"
    engine: str = "kokoro"
    speed: float = 1.0

    def to_line(self) -> str:
        """One JSON line, newline included."""
        fields = asdict(self)
        for name, default in (("language", "zh"), ("engine", "kokoro"), ("speed", 1.0)):
            if fields[name] == default:
                del fields[name]
        return json.dumps(fields, ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_line(cls, line: str) -> Reading | None:
        """Parse a stored line; ``None`` for a torn, foreign or malformed one."""
        try:
            raw = json.loads(line)
            return cls(**raw) if isinstance(raw, dict) else None
        except (ValueError, TypeError):
            return None


class StoreBusyError(RuntimeError):
    """Another process is appending to the same store."""


class Store:
    """The readings of a store directory, loaded once, with an appender that keeps them in step.

    Args:
        directory: created if missing.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / READINGS_FILE
        self.readings: dict[str, Reading] = {}
        self.skipped_lines = 0
        self._out: IO[str] | None = None
        self.reload()

    def reload(self) -> None:
        """Read every valid line again (the last of equal keys wins); count the unreadable ones."""
        self.readings = {}
        self.skipped_lines = 0
        if not self.path.is_file():
            return
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip():
                    continue
                reading = Reading.from_line(line) if line.endswith("\n") else None
                if reading is None:
                    self.skipped_lines += 1
                else:
                    self.readings[reading.key] = reading

    def get(self, key: str) -> Reading | None:
        """The stored reading with this fingerprint, if any."""
        return self.readings.get(key)

    @contextlib.contextmanager
    def writing(self) -> Iterator[Store]:
        """Hold the store's append lock (one writer at a time) for the duration.

        Raises:
            StoreBusyError: another process holds it.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        out = self.path.open("a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(out.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreBusyError(f"another run is writing {self.path}") from None
            self.reload()  # whatever the previous writer appended last
            if out.tell() > 0:
                out.seek(out.tell() - 1)
                if out.read(1) != "\n":  # a torn last line: seal it so the next record stands alone
                    out.write("\n")
                    out.flush()
            self._out = out
            yield self
        finally:
            self._out = None
            out.close()

    def append(self, reading: Reading) -> None:
        """Store one reading durably (inside :meth:`writing`).

        Raises:
            RuntimeError: called outside :meth:`writing`.
        """
        if self._out is None:
            raise RuntimeError("Store.append needs Store.writing()")
        self._out.write(reading.to_line())
        self._out.flush()
        os.fsync(self._out.fileno())
        self.readings[reading.key] = reading


@dataclass(frozen=True, slots=True)
class Job:
    """One reading still to measure."""

    voice: str
    trial: int
    index: int
    text: str
    key: str


def pending(
    store: Store,
    voices: Sequence[str],
    split: str,
    sentences: Sequence[str],
    trials: int,
    variant: Variant,
    model: str,
    order: Sequence[int] | None = None,
    language: str = "zh",
) -> Iterator[Job]:
    """The readings not yet stored, voice-major: all trials of one voice before the next voice.

    Args:
        store: what is measured already.
        voices: in the order to measure them.
        split: corpus split.
        sentences: the split's sentences, by index.
        trials: trials per sentence.
        variant: G2P settings.
        model: kokoro model version.
        order: sentence indices in the order to read them (default: corpus order); see
            :func:`interleave`. The order never changes a result, only what a stopped run holds.
        language: the corpus language (see :func:`fingerprint`).

    Yields:
        Jobs in voice, trial, sentence order.
    """
    indices = range(len(sentences)) if order is None else order
    for voice in voices:
        for trial in range(1, trials + 1):
            for index in indices:
                text = sentences[index]
                key = fingerprint(voice, split, trial, text, variant, model, language)
                if store.get(key) is None:
                    yield Job(voice, trial, index, text, key)


def interleave(registers: Sequence[str]) -> list[int]:
    """Sentence indices taking one sentence of each register in turn (news, dialogue, ivr, ..., news).

    The corpus files are grouped by register, so reading them in file order would leave a stopped
    run with figures for the first registers only; in this order every prefix spans them all.

    Args:
        registers: the register of each sentence, by index.

    Returns:
        A permutation of ``range(len(registers))``.
    """
    groups: dict[str, list[int]] = {}
    for index, register in enumerate(registers):
        groups.setdefault(register, []).append(index)
    columns = itertools.zip_longest(*groups.values())
    return [i for column in columns for i in column if i is not None]


@dataclass(frozen=True, slots=True)
class Progress:
    """How much of one case the store holds."""

    voice: str
    done: int
    total: int

    @property
    def complete(self) -> bool:
        """Every (trial, sentence) reading is stored."""
        return self.done == self.total


def readings_of(
    store: Store,
    voice: str,
    split: str,
    sentences: Sequence[str],
    trials: int,
    variant: Variant,
    model: str,
    language: str = "zh",
) -> list[list[Reading]]:
    """The stored readings of one case, one list per trial (sentences in corpus order, gaps skipped)."""
    out = []
    for trial in range(1, trials + 1):
        found = (store.get(fingerprint(voice, split, trial, t, variant, model, language)) for t in sentences)
        out.append([r for r in found if r is not None])
    return out


def progress(
    store: Store,
    voice: str,
    split: str,
    sentences: Sequence[str],
    trials: int,
    variant: Variant,
    model: str,
    language: str = "zh",
) -> Progress:
    """How many of a case's ``trials × len(sentences)`` readings are stored."""
    per_trial = readings_of(store, voice, split, sentences, trials, variant, model, language)
    return Progress(voice, sum(len(t) for t in per_trial), trials * len(sentences))


def case_result(
    store: Store,
    voice: str,
    split: str,
    sentences: Sequence[str],
    trials: int,
    variant: Variant,
    model: str,
    *,
    partial: bool = False,
    language: str = "zh",
    score: ReadingScore | None = None,
) -> CaseResult | None:
    """Pool a case's stored readings as ``bench/quality.py`` pools its trials.

    Args:
        store: the readings.
        voice, split, sentences, trials, variant, model: the case.
        partial: pool whatever trials and sentences are stored (``sentences`` then counts the
            distinct sentences read) instead of requiring all of them.
        language: the corpus language (see :func:`fingerprint`).
        score: the errors of a reading (see :func:`rescorer`); ``None`` takes the stored ones.

    Returns:
        The pooled result, or ``None`` when the case is incomplete (or, with ``partial``, empty).
    """
    per_trial = [
        t for t in readings_of(store, voice, split, sentences, trials, variant, model, language) if t
    ]
    done = sum(len(t) for t in per_trial)
    if done == 0 or (not partial and done != trials * len(sentences)):
        return None
    distinct = len({r.index for t in per_trial for r in t})
    count = len(sentences) if not partial else distinct
    return pool_trials([_trial_result(t, count, score or stored_errors) for t in per_trial])


ReadingScore = Callable[[Reading], ErrorRate]
"""The edit errors of one stored reading."""
Metric = Literal["asr", "per", "per_tonal"]
"""``asr``: the language's WER/CER; ``per`` / ``per_tonal``: pinyin syllable error rate (Chinese)."""


def stored_errors(reading: Reading) -> ErrorRate:
    """The errors stored with the reading (the scoring of the code that measured it)."""
    return ErrorRate(reading.errors, reading.length)


def rescorer(scorer: Scorer, metric: Metric = "asr") -> ReadingScore:
    """Score readings from their stored transcript with ``scorer`` (each pair once: the report asks often).

    Args:
        scorer: today's normalisation.
        metric: what to count (see :data:`Metric`).

    Returns:
        A function from a reading to its errors; a failed synthesis (empty transcript) scores as
        silence, every reference unit deleted.
    """
    cache: dict[tuple[str, str, str], ErrorRate] = {}

    def score(reading: Reading) -> ErrorRate:
        key = (reading.language, reading.text, reading.transcript)
        found = cache.get(key)
        if found is None:
            if metric == "asr":
                found = scorer.sentence_errors([reading.text], [reading.transcript], reading.language)[0]
            else:
                tones = metric == "per_tonal"
                found = scorer.syllable_errors([reading.text], [reading.transcript], tones=tones)[0]
            cache[key] = found
        return found

    return score


def _trial_result(readings: Iterable[Reading], sentences: int, score: ReadingScore) -> CaseResult:
    rows = list(readings)
    scores = tuple(MosScores(r.ovrl, r.p808) for r in rows if r.ovrl is not None and r.p808 is not None)
    return CaseResult(
        engine=rows[0].engine,
        voice=rows[0].voice,
        language=rows[0].language,
        sentences=sentences,
        trials=1,
        failures=sum(r.failed for r in rows),
        sentence_errors=tuple(SentenceError(r.index, score(r)) for r in rows),
        scores=scores,
        synth_seconds=sum(r.synth_s for r in rows),
        audio_seconds=sum(r.audio_s for r in rows),
        transcripts=tuple((r.text, r.transcript) for r in rows),
    )
