"""Voice-control bench: what each engine does with SSML, lexicons and dialogue, measured on the audio.

Starts a real ``voxgate serve`` on 127.0.0.1 (one worker per engine, audio cache off, piper
without noise so two syntheses differ only by what the markup asked) and, per engine, measures:

- ``break``: the silence a 250 / 500 / 1000 ms break makes, against a 100 ms break in the same
  sentence (the longest internal silence, less the reference's, plus 100 ms: the engine's own
  silence at the edges of the two syntheses cancels out; target ±50 ms);
- ``prosody rate``: the ratio of speech durations (leading and trailing silence trimmed) for
  x-slow vs x-fast and 50 % vs 200 % (expected 4.0×, the engines clamp speed to 0.5–2);
- ``prosody pitch``: the median F0 shift (pYIN, ``_audio_measure.median_f0``) for
  −4 / +4 / +8 st against the same sentence unmarked;
- ``prosody volume``: the RMS ratio for −6 / +6 dB (expected 0.50 / 2.00) and the +6 dB clip's peak
  (voxgate limits the gain below clipping, so a loud voice gets less than +6 dB);
- an ASR round trip (the quality bench's whisper-base) for ``sub``, ``say-as`` in English
  (cardinal, ordinal, date, telephone, currency) and Chinese (cardinal, date, telephone with 幺,
  currency), a lexicon ``say`` entry (``PUT /api/v1/lexicon``, then speak) and a two-turn dialogue:
  whether the expected words were heard, numbers normalised as ``bench/quality.py`` does
  (``_metrics.Scorer``), digit strings compared as digits;
- hostile SSML (billion laughs, an external entity, 10 000-deep nesting, 1 MB of markup): status
  and time to answer, with ``/healthz`` probed every 50 ms beside (its slowest answer).

Every answer's ``X-Voxgate-Engine`` is checked: a measurement spoken by a fallback engine is marked.
kokoro is slow on a shared CPU: it is measured on one break and one pitch shift, and each engine has
a time budget (``--budget-s``, kokoro three quarters of it); items run most important first and those left
when it is spent are marked "not run".

Usage::

    nice python bench/voice_control.py [--engines piper,espeak,kokoro] [--budget-s 240]
        [--out docs/voice_control/summary.md] [--asr-threads 2]

Writes the Markdown report to ``--out`` and prints it. Exit status 1 when a break misses ±50 ms or
an ASR item is not recognised on an engine that ran it (the table says which).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from _asr import Transcriber, default_cache_dir, ensure_whisper_base, to_asr_rate
from _audio_measure import longest_silence_s, median_f0, peak, rms, semitones, speech_span_s
from _http_server import voxgate_server
from _metrics import Scorer
from voxgate.audio.decode import decode
from voxgate.types import Audio

SENTENCE = "The quick brown fox jumps over the lazy dog."
BREAK_TOLERANCE_S = 0.05


@dataclass(frozen=True, slots=True)
class EngineVoices:
    """The voices one engine is measured with (``zh`` None: it reads no Chinese)."""

    engine: str
    en: str
    en_second: str
    zh: str | None
    budget_share: float = 1.0
    quick: bool = False
    """Measure one break (500 ms) and one pitch (+4 st) instead of three: a slow engine's clips go to
    the ASR items instead."""


ENGINES: dict[str, EngineVoices] = {
    "piper": EngineVoices("piper", "joe", "joe", None),
    # not espeak-en-gb: it is listed but espeak-ng has no voice "en-gb" (every request falls back)
    "espeak": EngineVoices("espeak", "espeak-en-us", "espeak-en-gb-x-rp", "espeak-cmn"),
    "kokoro": EngineVoices("kokoro", "jf_alpha", "jm_kumo", "jf_alpha", budget_share=0.75, quick=True),
}


# ---------------------------------------------------------------- recognition checks (pure)

_EN_DIGITS = {
    "zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
    "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}  # fmt: skip
_ZH_DIGITS = dict(zip("零〇幺一二两三四五六七八九", "0011223456789", strict=True))
_DOLLARS = re.compile(r"\$\s?(\d+)(?:\.(\d{2}))?")


def digit_string(text: str) -> str:
    """The digits said in ``text``, in order: ASCII digits, English digit words, Chinese numerals.

    ``"five five five, 0123"`` → ``"5550123"``; ``"幺零零八六"`` → ``"10086"``. A telephone number
    is compared this way, because whisper writes it sometimes as digits, sometimes as words.
    """
    out: list[str] = []
    for token in re.findall(r"[A-Za-z]+|\d|[零〇幺一二两三四五六七八九]", text):
        if token.isdigit():
            out.append(token)
        elif token in _ZH_DIGITS:
            out.append(_ZH_DIGITS[token])
        elif token.lower() in _EN_DIGITS:
            out.append(_EN_DIGITS[token.lower()])
    return "".join(out)


def spell_dollars(text: str) -> str:
    """``$3.50`` → ``3 dollars and 50 cents`` (whisper writes amounts with a sign, voxgate reads words)."""

    def words(m: re.Match[str]) -> str:
        cents = f" and {int(m.group(2))} cents" if m.group(2) and int(m.group(2)) else ""
        return f" {m.group(1)} dollars{cents} "

    return _DOLLARS.sub(words, text)


@dataclass(frozen=True, slots=True)
class Expect:
    """What must be heard: every slot (one of its alternatives) and none of ``absent``.

    ``digits``: compare digit strings (:func:`digit_string`) instead of words.
    """

    slots: tuple[tuple[str, ...], ...]
    absent: tuple[str, ...] = ()
    digits: bool = False


def heard(expect: Expect, transcript: str, language: str, scorer: Scorer) -> bool:
    """Whether ``transcript`` says what ``expect`` asks, after the quality bench's normalisation.

    English compares whole words with "and" dropped (``one thousand two hundred thirty four`` and
    whisper's ``1,234`` → ``one thousand two hundred and thirty four`` agree); Chinese compares
    characters with numerals as digits.
    """
    if expect.digits:
        said = digit_string(transcript)
        return all(any(digit_string(alt) in said for alt in slot) for slot in expect.slots)

    def norm(text: str) -> str:
        text = scorer.normalise(spell_dollars(text), language)
        if language == "zh":
            return text
        return " " + " ".join(w for w in text.split() if w != "and") + " "

    said = norm(transcript)
    found = all(any(norm(alt) in said for alt in slot) for slot in expect.slots)
    return found and not any(norm(a) in said for a in expect.absent)


# ---------------------------------------------------------------- the items


@dataclass(frozen=True, slots=True)
class AsrItem:
    """One round trip: a request body (without voice), its language and what must be heard."""

    name: str
    language: str
    body: dict[str, Any]
    expect: Expect
    lexicon: tuple[dict[str, str], ...] = ()


def _speak(inner: str) -> dict[str, Any]:
    return {"text": f"<speak>{inner}</speak>"}


ASR_ITEMS: tuple[AsrItem, ...] = (
    AsrItem(
        "sub",
        "en",
        _speak('Please ask the <sub alias="World Wide Web Consortium">W3C</sub> today.'),
        Expect((("world wide web consortium",),), absent=("w3c", "three")),
    ),
    AsrItem(
        "say-as cardinal (en)",
        "en",
        _speak('We counted <say-as interpret-as="cardinal">1234</say-as> birds.'),
        Expect((("one thousand two hundred thirty four",),)),
    ),
    AsrItem(
        "say-as ordinal (en)",
        "en",
        _speak('She finished <say-as interpret-as="ordinal">21</say-as> in the race.'),
        Expect((("twenty first",),)),
    ),
    AsrItem(
        "say-as date (en)",
        "en",
        _speak('The party is on <say-as interpret-as="date" format="mdy">12/25/2024</say-as>.'),
        Expect(
            (
                ("december",),
                ("twenty fifth", "twenty five"),
                ("twenty twenty four", "two thousand twenty four"),
            )
        ),
    ),
    AsrItem(
        "say-as telephone (en)",
        "en",
        _speak('Call me at <say-as interpret-as="telephone">555-0123</say-as> tonight.'),
        Expect((("5550123",),), digits=True),
    ),
    AsrItem(
        "say-as currency (en)",
        "en",
        _speak('The coffee costs <say-as interpret-as="currency">$3.50</say-as> here.'),
        Expect((("three dollars", "three fifty"), ("fifty cents", "three fifty"))),
    ),
    AsrItem(
        "plain Chinese (control)",
        "zh",
        {"text": "今天天气很好，我们去公园散步吧。"},
        Expect((("天气",), ("公园",))),
    ),
    AsrItem(
        "say-as cardinal (zh)",
        "zh",
        _speak('我们数了<say-as interpret-as="cardinal">1234</say-as>只鸟。'),
        Expect((("一千二百三十四",),)),
    ),
    AsrItem(
        "say-as date (zh)",
        "zh",
        _speak('会议在<say-as interpret-as="date" format="ymd">2024-03-15</say-as>举行。'),
        Expect((("三月十五日", "三月十五号"),)),
    ),
    AsrItem(
        "say-as telephone 幺 (zh)",
        "zh",
        _speak('请拨打<say-as interpret-as="telephone">10086</say-as>咨询。'),
        Expect((("10086",),), digits=True),
    ),
    AsrItem(
        "say-as currency (zh)",
        "zh",
        _speak('这本书<say-as interpret-as="currency">¥12.50</say-as>。'),
        Expect((("十二点五元", "十二块五", "十二元五角"),)),
    ),
    AsrItem(
        "lexicon say",
        "en",
        {"text": "Please send the report ASAP, thank you."},
        Expect((("as soon as possible",),), absent=("asap",)),
        lexicon=({"word": "ASAP", "say": "as soon as possible"},),
    ),
)

DIALOGUE = (
    "The train leaves at noon.",
    "Then we should hurry to the station.",
)
DIALOGUE_EXPECT = Expect((("train leaves",), ("hurry",), ("station",)))


# ---------------------------------------------------------------- results


@dataclass(slots=True)
class EngineResult:
    """Cells of one engine's column, keyed by row name, plus per-item transcripts."""

    engine: str
    cells: dict[str, str] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    transcripts: list[tuple[str, bool, str]] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    clips: int = 0
    seconds: float = 0.0


class FallbackError(Exception):
    """Another engine than the one measured spoke."""


class Client:
    """The measured server: synthesis returning decoded audio, checked to come from ``engine``."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def audio(self, engine: str, body: dict[str, Any]) -> tuple[Audio, int]:
        """POST ``body`` to ``/api/v1/tts`` as WAV; the decoded mono float audio and its rate.

        Raises:
            FallbackError: if ``X-Voxgate-Engine`` (or ``X-Voxgate-Spoken-By``) names another engine.
            RuntimeError: on any non-200 answer.
        """
        response = self.http.post(
            "/api/v1/tts", json={"format": "wav", "deadline_ms": 600_000, "priority": "batch", **body}
        )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        spoken = response.headers.get("X-Voxgate-Spoken-By", "") or response.headers.get(
            "X-Voxgate-Engine", ""
        )
        engines = {part.rsplit("@", 1)[-1] for part in spoken.split(",") if part}
        if engines and engines != {engine}:
            reason = response.headers.get("X-Voxgate-Fallback-Reason", "")
            turns = response.headers.get("X-Voxgate-Degraded-Turns", "")
            raise FallbackError(f"spoken by {spoken}; reason {reason or '-'}; degraded turns {turns or '-'}")
        audio, rate = decode(response.content, "wav")
        return audio.astype(np.float32), rate


class Budget:
    """Seconds left for one engine."""

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds

    def left(self) -> bool:
        return time.monotonic() < self._end


def _sign(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:+.1f}"


def measure_engine(
    client: Client, voices: EngineVoices, transcriber: Transcriber, scorer: Scorer, budget_s: float
) -> EngineResult:
    """Every measurement for one engine, most important first, within ``budget_s`` seconds."""
    result = EngineResult(voices.engine)
    budget = Budget(budget_s)
    started = time.monotonic()
    engine, voice = voices.engine, voices.en

    def synth(body: dict[str, Any]) -> tuple[Audio, int]:
        result.clips += 1
        return client.audio(engine, {"voice": voice, **body})

    def ssml(inner: str) -> tuple[Audio, int]:
        return synth(_speak(inner))

    def run(row: str, measure: Callable[[], str]) -> None:
        if not budget.left():
            result.cells[row] = "not run (time budget)"
            return
        try:
            result.cells[row] = measure()
        except FallbackError as exc:
            result.cells[row] = f"fallback ({exc})"
            result.fallbacks.append(row)
        except (RuntimeError, httpx.HTTPError) as exc:
            result.cells[row] = f"error: {exc}"[:120]
            result.misses.append(row)
        print(f"  {engine} {row}: {result.cells[row]}", file=sys.stderr, flush=True)

    def breaks(times_ms: Sequence[int]) -> Callable[[], str]:
        def measure() -> str:
            # the reference is a 100 ms break, not none: a break splits the sentence into two
            # syntheses whose own edge silences add to it, and a 100 ms gap is longer than any
            # stop closure inside a word, so the longest silence is the break's in both clips
            text = 'Seven apples <break time="{}ms"/> nine pears.'
            reference_ms = 100
            reference = longest_silence_s(*ssml(text.format(reference_ms)))
            parts, ok = [], True
            for ms in times_ms:
                longest = longest_silence_s(*ssml(text.format(ms)))
                measured = longest - reference + reference_ms / 1000
                ok &= abs(measured - ms / 1000) <= BREAK_TOLERANCE_S
                parts.append(f"{ms}→{1000 * measured:.0f}")
            if not ok:
                result.misses.append("break")
            edges = 1000 * reference - reference_ms
            return " / ".join(parts) + (" ms ✓" if ok else " ms ✗") + f" (+{edges:.0f} ms engine edges)"

        return measure

    def rate_ratio(slow: str, fast: str) -> Callable[[], str]:
        def measure() -> str:
            slow_s = speech_span_s(*ssml(f'<prosody rate="{slow}">{SENTENCE}</prosody>'))
            fast_s = speech_span_s(*ssml(f'<prosody rate="{fast}">{SENTENCE}</prosody>'))
            return f"{slow_s / fast_s:.2f}× (4.0×)"

        return measure

    def pitch(shifts: Sequence[int]) -> Callable[[], str]:
        def measure() -> str:
            base = median_f0(*ssml(SENTENCE))
            got = [
                semitones(median_f0(*ssml(f'<prosody pitch="{s:+d}st">{SENTENCE}</prosody>')), base)
                for s in shifts
            ]
            asked = "/".join(f"{s:+d}" for s in shifts)
            return f"{asked} st → {'/'.join(_sign(g) for g in got)} (F0 {base:.0f} Hz)"

        return measure

    def volume() -> str:
        base_audio, _ = ssml(SENTENCE)
        base = rms(base_audio)
        soft, _ = ssml(f'<prosody volume="-6dB">{SENTENCE}</prosody>')
        loud, _ = ssml(f'<prosody volume="+6dB">{SENTENCE}</prosody>')
        loud_ratio = rms(loud) / base
        got_db = 20 * math.log10(loud_ratio) if loud_ratio > 0 else -math.inf
        limited = f", limited to +{got_db:.1f} dB at peak {peak(loud):.2f}" if got_db < 5.5 else ""
        return (
            f"−6 dB → ×{rms(soft) / base:.2f} (0.50); +6 dB → ×{loud_ratio:.2f} (2.00){limited}; "
            f"unmarked peak {peak(base_audio):.2f}"
        )

    def asr(item: AsrItem, body: dict[str, Any], voice_id: str) -> Callable[[], str]:
        def measure() -> str:
            if item.lexicon:
                put = client.http.put("/api/v1/lexicon", json={"entries": list(item.lexicon)})
                put.raise_for_status()
            try:
                result.clips += 1
                audio, rate = client.audio(engine, {"voice": voice_id, **body})
            finally:
                if item.lexicon:
                    client.http.delete("/api/v1/lexicon")
            transcript = transcriber.transcribe(to_asr_rate(audio, rate), item.language)
            ok = heard(item.expect, transcript, item.language, scorer)
            result.transcripts.append((item.name, ok, transcript))
            if not ok:
                result.misses.append(item.name)
            return "✓" if ok else "✗"

        return measure

    def dialogue() -> str:
        turns = [{"voice": voices.en, "text": DIALOGUE[0]}, {"voice": voices.en_second, "text": DIALOGUE[1]}]
        result.clips += 1
        audio, rate = client.audio(engine, {"dialogue": turns})
        transcript = transcriber.transcribe(to_asr_rate(audio, rate), "en")
        ok = heard(DIALOGUE_EXPECT, transcript, "en", scorer)
        result.transcripts.append(("dialogue", ok, transcript))
        if not ok:
            result.misses.append("dialogue")
        return ("✓" if ok else "✗") + f" ({voices.en} + {voices.en_second})"

    # most important first: a spent budget drops the tail
    run("break 250/500/1000 ms", breaks((500,) if voices.quick else (500, 1000, 250)))
    run("rate x-slow vs x-fast", rate_ratio("x-slow", "x-fast"))
    run("pitch −4/+4/+8 st", pitch((4,) if voices.quick else (4, 8, -4)))
    run("volume −6/+6 dB", volume)
    english = [i for i in ASR_ITEMS if i.language == "en"]
    chinese = [i for i in ASR_ITEMS if i.language == "zh"]
    asr_rows = chinese + english if voices.quick else english + chinese  # kokoro: Chinese is its strength
    run("dialogue (2 turns)", dialogue)
    for item in asr_rows:
        voice_id = voices.en if item.language == "en" else voices.zh
        if voice_id is None:
            result.cells[item.name] = "n/a (no Chinese voice)"
            continue
        run(item.name, asr(item, item.body, voice_id))
    if voices.quick:
        result.cells["rate 50 % vs 200 %"] = "not run (same speeds as x-slow/x-fast)"
    else:
        run("rate 50 % vs 200 %", rate_ratio("50%", "200%"))
    result.seconds = time.monotonic() - started
    return result


# ---------------------------------------------------------------- hostile input


def hostile_documents(max_bytes: int = 1 << 20) -> dict[str, str]:
    """Billion laughs, an external entity, 10 000-deep nesting and ``max_bytes`` of markup."""
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY a{i} "{"&a;" * 10}">' for i in range(10))
        + "]><speak>&a9;</speak>"
    )
    unit = '<s><prosody rate="slow">a</prosody></s>'
    return {
        "billion laughs": bomb,
        "external entity": '<!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>',
        "10 000-deep nesting": "<speak>" + "<s>" * 10_000 + "x" + "</s>" * 10_000 + "</speak>",
        "1 MB of markup": "<speak>" + unit * (max_bytes // len(unit)) + "</speak>",
    }


@contextmanager
def probing(url: str) -> Iterator[list[float]]:
    """Probe ``/healthz`` every 50 ms while the block runs; yields the latencies (s), 0-status = failed."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started if ok else math.inf)
                stop.wait(0.05)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        yield latencies
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=15)


def measure_hostile(http: httpx.Client, url: str) -> list[tuple[str, int, int, float, int, float]]:
    """(document, bytes, status, seconds to answer, /healthz probes, their slowest latency) per document."""
    rows = []
    for name, document in hostile_documents().items():
        with probing(url) as latencies:
            started = time.perf_counter()
            response = http.post("/api/v1/tts", json={"text": document, "voice": ENGINES["espeak"].en})
            elapsed = time.perf_counter() - started
        rows.append(
            (name, len(document.encode()), response.status_code, elapsed, len(latencies), max(latencies))
        )
    return rows


# ---------------------------------------------------------------- report

ROWS = (
    "break 250/500/1000 ms",
    "rate x-slow vs x-fast",
    "rate 50 % vs 200 %",
    "pitch −4/+4/+8 st",
    "volume −6/+6 dB",
    *(item.name for item in ASR_ITEMS),
    "dialogue (2 turns)",
)


def render(results: Sequence[EngineResult], hostile: Sequence[tuple[Any, ...]], meta: dict[str, str]) -> str:
    """The Markdown report: the feature matrix, hostile input, transcripts, and how it was run."""
    lines = ["# Voice control per engine (bench/voice_control.py)", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    lines += ["", "| measurement | " + " | ".join(r.engine for r in results) + " |"]
    lines.append("|---|" + "---|" * len(results))
    for row in ROWS:
        lines.append(f"| {row} | " + " | ".join(r.cells.get(row, "") for r in results) + " |")
    lines += [
        "",
        "break: the silence each break added (target ±50 ms). rate: speech duration ratio (expected 4.0×). "
        "pitch: median F0 shift in semitones against the unmarked sentence. volume: RMS ratio. "
        "✓ = whisper-base heard the expected words (numbers normalised as in bench/quality.py).",
        "",
        "## Hostile SSML (espeak voice; /healthz probed every 50 ms beside)",
        "",
        "| document | bytes | status | answered in | /healthz probes | slowest /healthz |",
        "|---|---|---|---|---|---|",
    ]
    for name, size, status, elapsed, probes, slowest in hostile:
        lines.append(
            f"| {name} | {size:,} | {status} | {1000 * elapsed:.0f} ms | {probes} | {1000 * slowest:.0f} ms |"
        )
    lines += ["", "## What whisper heard", ""]
    for r in results:
        for name, ok, transcript in r.transcripts:
            lines.append(f"- {r.engine}, {name}: {'✓' if ok else '✗'} “{transcript}”")
    lines += ["", "## Per engine", ""]
    for r in results:
        extra = f"; fell back on: {', '.join(r.fallbacks)}" if r.fallbacks else ""
        missed = f"; missed: {', '.join(r.misses)}" if r.misses else ""
        lines.append(f"- {r.engine}: {r.clips} clips in {r.seconds:.0f} s{missed}{extra}")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engines", default="piper,espeak,kokoro", help="comma-separated, of piper,espeak,kokoro"
    )
    parser.add_argument("--budget-s", type=float, default=240.0, help="seconds per engine (kokoro: 3/4)")
    parser.add_argument("--out", type=Path, default=Path("docs/voice_control/summary.md"))
    parser.add_argument("--asr-threads", type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    engines = [ENGINES[name] for name in args.engines.split(",") if name]
    started = time.monotonic()
    load_before = os.getloadavg()
    transcriber = Transcriber(ensure_whisper_base(default_cache_dir()), threads=args.asr_threads)
    scorer = Scorer()
    env = {
        "VOXGATE_CACHE__URL": "memory://?max_bytes=0",
        # markup may be 4× this (80 KB): the 70 KB deep document reaches the depth check, 1 MB does not
        "VOXGATE_TEXT__MAX_CHARS": "20000",
        "VOXGATE_ENGINES__PIPER__NOISE_SCALE": "0",
        "VOXGATE_ENGINES__PIPER__NOISE_W_SCALE": "0",
        "VOXGATE_ENGINES__PIPER__WORKERS": "1",
        "VOXGATE_ENGINES__ESPEAK__WORKERS": "1",
        "VOXGATE_ENGINES__KOKORO__WORKERS": "1",
    }
    with (
        tempfile.TemporaryDirectory(prefix="voxgate-vc-") as tmp,
        voxgate_server(Path(tmp), Path(tmp) / "server.log", env) as server,
        httpx.Client(base_url=server.url, timeout=600) as http,
    ):
        client = Client(http)
        results = []
        for voices in engines:
            print(f"{voices.engine}:", file=sys.stderr, flush=True)
            budget_s = args.budget_s * voices.budget_share
            results.append(measure_engine(client, voices, transcriber, scorer, budget_s))
        hostile = measure_hostile(http, server.url)
    load_after = os.getloadavg()
    meta = {
        "server": "voxgate serve on 127.0.0.1: one worker per engine, cache off, piper noise 0, "
        "text.max_chars 20000",
        "voices": "; ".join(f"{v.engine}: {v.en}, {v.en_second}, zh {v.zh or '—'}" for v in engines),
        "load average (1 min) before / after": f"{load_before[0]:.2f} / {load_after[0]:.2f}",
        "wall time": f"{time.monotonic() - started:.0f} s",
    }
    report = render(results, hostile, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    failed = any(r.misses for r in results) or any(not 400 <= row[2] < 500 for row in hostile)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
