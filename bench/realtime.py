"""Realtime socket benchmark (issue 15): LLM-like token streams, barge-in, HTTP streaming beside, G.711.

    nice .venv/bin/python bench/realtime.py             # one run (~3 min here), prints Markdown tables
    nice .venv/bin/python bench/realtime.py --quick     # fewer sockets and trials while developing
    nice .venv/bin/python bench/realtime.py --json out.json

Against ``voxgate serve`` (default settings, one kokoro worker, the audio cache off so every piece
is synthesised) on 127.0.0.1:

(a) token streams at ~30 tokens/s (English words and punctuation with piper's ``joe``; Chinese
    characters with kokoro's ``jm_kumo``), mixed sentence lengths, flushed at the end: time from a
    piece's last token to its first audio byte, P50/P95 (and the medians of the segment frames'
    ``first_audio_ms`` and ``synthesis_ms``: what of it the server spent after the cut, and in
    the synthesis call); playback gaps per minute of audio (a piece
    whose audio came after the earlier audio ran out although its last token was sent before),
    with audio played from its arrival; at 1 socket and at ``--sockets`` at once (English);
(b) barge-in: ``clear`` while audio flows → ``cleared`` and the last audio frame before it,
    P50/P95; then the time until no engine call is in flight (``/api/v1/sla``);
(c) the same English text through HTTP streaming (``stream: true``): time to first byte and to
    the whole answer;
(d) G.711: the same text as wav, mulaw and alaw; decoded durations must agree within 20 ms;
(e) G.711 through the socket, heard: ``--asr-sentences`` Harvard sentences spoken by piper over
    the realtime socket as linear16 (24 kHz), mulaw and alaw (8 kHz), each decoded and transcribed
    by whisper-base (bench/_asr.py, as bench/quality.py does); WER per encoding, and whether each
    G.711 one is within 3 points of linear16 (``--no-asr`` skips it: it loads faster-whisper).

``--compare-eager`` also starts a second server with ``realtime.eager_cut`` off (piper and
espeak only) and runs the 1-socket English streams against both, alternately, so the chunker's
eager cut is measured before/after under the same machine load. ``--baseline-src DIR`` does the
same with a second server run from another source tree (``git archive <commit> src | tar -x -C
DIR``), e.g. the code before a change.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from _http_server import voxgate_server
from voxgate.audio.decode import decode
from voxgate.client import RealtimeClient, realtime_url

DATA = Path(__file__).resolve().parent / "data"
TOKENS_PER_S = 30.0
PCM_RATE = 24000
EN_VOICE, ZH_VOICE = "joe", "jm_kumo"
_EN_TOKEN = re.compile(r"\s*[\w'’-]+|\s*[^\w\s]")


def _lines(name: str) -> list[str]:
    return [ln.strip() for ln in (DATA / name).read_text("utf-8").splitlines() if ln.strip() and ln[0] != "#"]


def english_text(offset: int, sentences: int = 8) -> str:
    """Harvard sentences joined in pairs and threes (mixed lengths), from ``offset`` on."""
    lines = _lines("harvard_lists_1_3.txt")
    picked = [lines[(offset + i) % len(lines)] for i in range(sentences)]
    if len(picked) >= 4:  # one long sentence among the short ones
        picked[2] = picked[2][:-1] + ", and " + picked[3][0].lower() + picked[3][1:]
        del picked[3]
    return " ".join(picked)


def chinese_text(offset: int, sentences: int = 6) -> str:
    """Everyday Mandarin sentences from ``offset`` on."""
    lines = _lines("zh_everyday.txt")
    return "".join(lines[(offset + i) % len(lines)] for i in range(sentences))


def tokens(text: str, language: str) -> list[str]:
    """LLM-like tokens: words with their leading space and punctuation apart; one per CJK character."""
    return list(text) if language == "zh" else _EN_TOKEN.findall(text)


@dataclass
class StreamResult:
    """One token stream over one socket."""

    latencies_s: list[float] = field(default_factory=list)
    audio_s: float = 0.0
    gaps: int = 0
    pieces: int = 0
    degraded: int = 0
    errors: list[str] = field(default_factory=list)
    server_first_ms: list[float] = field(default_factory=list)  # the segments' first_audio_ms
    synthesis_ms: list[float] = field(default_factory=list)  # the segments' synthesis_ms


async def stream_once(
    server: str, voice: str, text: str, language: str, start_delay_s: float
) -> StreamResult:
    """Send ``text`` token by token at TOKENS_PER_S, flush, close; time every piece's first audio."""
    await asyncio.sleep(start_delay_s)
    result = StreamResult()
    sent: list[tuple[int, float]] = []  # (non-space characters sent so far, time sent)
    pieces: list[tuple[float, int, dict[str, Any]]] = []  # (first audio time, bytes, segment)
    current: dict[str, Any] = {"first": None, "bytes": 0}

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "segment":
            pieces.append((current["first"], current["bytes"], event))
            current.update(first=None, bytes=0)
        elif event["type"] == "error":
            result.errors.append(f"{event['code']}: {event['message']}")

    async with RealtimeClient(server, voice=voice, on_event=on_event) as tts:

        async def send() -> None:
            count = 0
            for token in tokens(text, language):
                await tts.speak(token)
                count += len(token.replace(" ", ""))
                sent.append((count, time.monotonic()))
                await asyncio.sleep(1 / TOKENS_PER_S)
            await tts.close()

        sender = asyncio.ensure_future(send())
        async for chunk in tts:
            if current["first"] is None:
                current["first"] = time.monotonic()
            current["bytes"] += len(chunk)
        await sender
    covered = 0
    play_end: float | None = None
    for first, size, segment in pieces:
        covered += len(segment["text"].replace(" ", ""))
        last_token_at = next(t for n, t in sent if n >= covered)
        result.latencies_s.append(first - last_token_at)
        seconds = size / 2 / PCM_RATE
        if play_end is not None and first > play_end and last_token_at < play_end:
            result.gaps += 1
        play_end = max(first, play_end or first) + seconds
        result.audio_s += seconds
        result.pieces += 1
        result.degraded += bool(segment["degraded"])
        if "first_audio_ms" in segment:  # a server from before they were reported has neither
            result.server_first_ms.append(segment["first_audio_ms"])
            result.synthesis_ms.append(segment["synthesis_ms"])
    return result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _median(values: list[float]) -> int | None:
    return round(_pct(values, 0.5)) if values else None


def summarise(name: str, results: list[StreamResult]) -> dict[str, Any]:
    """Pool streams into one row: latency percentiles (ms), the server's cut → first audio and
    synthesis medians (ms, from the segment frames), gaps per minute, degraded pieces."""
    latencies = [x for r in results for x in r.latencies_s]
    audio_min = sum(r.audio_s for r in results) / 60
    return {
        "case": name,
        "sockets": len(results),
        "pieces": sum(r.pieces for r in results),
        "p50_ms": round(1000 * _pct(latencies, 0.5)),
        "p95_ms": round(1000 * _pct(latencies, 0.95)),
        "cut_to_audio_p50_ms": _median([x for r in results for x in r.server_first_ms]),
        "synthesis_p50_ms": _median([x for r in results for x in r.synthesis_ms]),
        "gaps_per_min": round(sum(r.gaps for r in results) / audio_min, 2) if audio_min else None,
        "degraded": sum(r.degraded for r in results),
        "errors": [e for r in results for e in r.errors][:5],
    }


SOLO_TEXTS = 3
"""Texts streamed one after the other at one socket (English: ~30 pieces, enough for a P95)."""


async def streams(
    server: str, sockets: int, baseline: str | None = None, baseline_name: str = "baseline"
) -> list[dict[str, Any]]:
    """(a): English and Chinese at one socket, English at ``sockets`` at once (staggered 0.3 s).

    With ``baseline`` (a server with ``realtime.eager_cut`` off, or older code), each 1-socket
    English text is also streamed there, right after the same text here.
    """
    rows = await solo(server, baseline, baseline_name)
    zh = [await stream_once(server, ZH_VOICE, chinese_text(6 * i), "zh", 0.0) for i in range(SOLO_TEXTS)]
    many = await asyncio.gather(
        *(stream_once(server, EN_VOICE, english_text(3 * i + 8), "en", 0.3 * i) for i in range(sockets))
    )
    return [
        *rows,
        summarise("kokoro zh, 1 socket", zh),
        summarise(f"piper en, {sockets} sockets", list(many)),
    ]


async def solo(server: str, baseline: str | None, baseline_name: str) -> list[dict[str, Any]]:
    """The 1-socket English streams only (and the baseline's, alternately)."""
    en, off = [], []
    for i in range(SOLO_TEXTS):
        en.append(await stream_once(server, EN_VOICE, english_text(8 * i), "en", 0.0))
        if baseline is not None:
            off.append(await stream_once(baseline, EN_VOICE, english_text(8 * i), "en", 0.0))
    rows = [summarise("piper en, 1 socket", en)]
    return rows + ([summarise(f"piper en, 1 socket, {baseline_name}", off)] if baseline else [])


async def barge_in(server: str, trials: int) -> dict[str, Any]:
    """(b): clear while audio flows; time to cleared, to the last audio frame before it, to no work left."""
    cleared_s, last_audio_s, free_s = [], [], []
    url = realtime_url(server, voice=EN_VOICE)
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        for trial in range(trials):
            async with connect(url, max_size=None) as ws:
                await ws.recv()  # metadata
                text = english_text(5 * trial + 40, 10)
                await ws.send(json.dumps({"type": "speak", "text": text}))
                await ws.send(json.dumps({"type": "flush"}))
                while not isinstance(await ws.recv(), bytes):
                    pass
                started = time.monotonic()
                await ws.send(json.dumps({"type": "clear"}))
                last_audio = started
                while True:
                    frame = await ws.recv()
                    if isinstance(frame, bytes):
                        last_audio = time.monotonic()
                    elif json.loads(frame)["type"] == "cleared":
                        cleared_s.append(time.monotonic() - started)
                        break
                last_audio_s.append(last_audio - started)
                while True:
                    engines = (await http.get("/api/v1/sla")).json()["engines"].values()
                    if all(e["in_flight"] == 0 for e in engines) or time.monotonic() - started > 30:
                        free_s.append(time.monotonic() - started)
                        break
                    await asyncio.sleep(0.01)
    return {
        "trials": trials,
        "cleared_p50_ms": round(1000 * _pct(cleared_s, 0.5)),
        "cleared_p95_ms": round(1000 * _pct(cleared_s, 0.95)),
        "last_audio_p95_ms": round(1000 * _pct(last_audio_s, 0.95)),
        "worker_free_p95_ms": round(1000 * _pct(free_s, 0.95)),
        "worker_free_max_ms": round(1000 * max(free_s)),
    }


async def http_stream(server: str) -> dict[str, Any]:
    """(c): the 1-socket English text through HTTP streaming, all of it at once."""
    body = {
        "text": english_text(0),
        "voice": EN_VOICE,
        "format": "pcm",
        "stream": True,
        "priority": "interactive",
    }
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        started = time.monotonic()
        first = None
        size = 0
        async with http.stream("POST", "/api/v1/tts", json=body) as response:
            async for chunk in response.aiter_bytes():
                if chunk and first is None:
                    first = time.monotonic() - started
                size += len(chunk)
        total = time.monotonic() - started
    return {
        "first_byte_ms": round(1000 * (first or total)),
        "total_ms": round(1000 * total),
        "audio_s": size / 2 / 22050,
    }


def g711(server: str) -> dict[str, Any]:
    """(d): wav, mulaw, alaw of one text; decoded seconds of each."""
    seconds = {}
    text = english_text(16, 3)
    with httpx.Client(base_url=server, timeout=60) as http:
        for fmt in ("wav", "mulaw", "alaw"):
            body = {"text": text, "voice": "espeak-en-us", "format": fmt}
            response = http.post("/api/v1/tts", json=body)
            response.raise_for_status()
            rate = int(response.headers["x-voxgate-sample-rate"])
            audio, rate = decode(response.content, fmt, sample_rate=rate)
            seconds[fmt] = round(len(audio) / rate, 4)
    worst = max(abs(seconds[f] - seconds["wav"]) for f in ("mulaw", "alaw"))
    return {"seconds": seconds, "worst_diff_ms": round(1000 * worst, 1), "within_20ms": worst <= 0.02}


ASR_ENCODINGS = ("linear16", "mulaw", "alaw")
"""(e): the socket's encodings compared by ear (linear16 at its default 24 kHz, G.711 at 8 kHz)."""


async def socket_clips(
    server: str, encoding: str, sentences: list[str]
) -> tuple[list[bytes], list[set[str]], int]:
    """Each sentence spoken over one socket in ``encoding`` (speak, flush, audio until flushed),
    with the engines that spoke it (from its segment frames), and the socket's sample rate."""
    clips, engines = [], []
    async with connect(realtime_url(server, voice=EN_VOICE, encoding=encoding), max_size=None) as ws:
        rate = int(json.loads(await ws.recv())["sample_rate"])
        for sentence in sentences:
            await ws.send(json.dumps({"type": "speak", "text": sentence}))
            await ws.send(json.dumps({"type": "flush"}))
            audio, spoken_by = b"", set()
            while True:
                frame = await ws.recv()
                if isinstance(frame, bytes):
                    audio += frame
                    continue
                message = json.loads(frame)
                if message["type"] == "segment":
                    spoken_by.add(message["engine"])
                elif message["type"] == "flushed":
                    break
            clips.append(audio)
            engines.append(spoken_by)
    return clips, engines, rate


def g711_asr(server: str, count: int) -> dict[str, Any]:
    """(e): WER of whisper-base on piper's socket audio per encoding; G.711 within 3 points of linear16.

    A loaded machine makes piper miss deadlines and espeak speak instead, which would compare
    engines rather than encodings: the verdict uses the sentences piper spoke in every encoding
    (``piper_all``), and the WER over all sentences is given beside it.
    """
    from _asr import Transcriber, default_cache_dir, ensure_whisper_base, to_asr_rate
    from _metrics import Scorer

    lines = _lines("harvard_lists_1_3.txt")
    sentences = [lines[(24 + i) % len(lines)] for i in range(count)]
    transcriber = Transcriber(ensure_whisper_base(default_cache_dir()))
    scorer = Scorer()
    heard: dict[str, list[str]] = {}
    piper = [True] * count
    for encoding in ASR_ENCODINGS:
        clips, engines, rate = asyncio.run(socket_clips(server, encoding, sentences))
        fmt = "pcm" if encoding == "linear16" else encoding
        heard[encoding] = []
        for i, clip in enumerate(clips):
            audio, clip_rate = decode(clip, fmt, sample_rate=rate)
            heard[encoding].append(transcriber.transcribe(to_asr_rate(audio, clip_rate), "en"))
            piper[i] = piper[i] and engines[i] == {"piper"}
    same = [i for i in range(count) if piper[i]]

    def wer(encoding: str, picked: list[int]) -> float | None:
        if not picked:
            return None
        refs = [sentences[i] for i in picked]
        return round(100 * scorer.error_rate(refs, [heard[encoding][i] for i in picked], "en").rate, 2)

    row: dict[str, Any] = {"sentences": count, "piper_all": len(same)}
    row.update({f"wer_{e}_pct": wer(e, list(range(count))) for e in ASR_ENCODINGS})
    row.update({f"wer_{e}_piper_pct": wer(e, same) for e in ASR_ENCODINGS})
    base = row["wer_linear16_piper_pct"]
    worst = max(row["wer_mulaw_piper_pct"] or 0.0, row["wer_alaw_piper_pct"] or 0.0)
    row["within_3_points"] = None if base is None else worst - base <= 3
    return row


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


async def run(
    server: str, sockets: int, trials: int, baseline: str | None, baseline_name: str
) -> dict[str, Any]:
    """Every timed part, one after the other (they would disturb each other's timings)."""
    return {
        "streams": await streams(server, sockets, baseline, baseline_name),
        "barge_in": await barge_in(server, trials),
        "http_stream": await http_stream(server),
        "g711": await asyncio.to_thread(g711, server),
    }


def _print_timed(results: dict[str, Any], columns: list[str]) -> None:
    """Parts (a) to (d) as Markdown tables."""
    print("Last token → first audio byte, per piece (30 tokens/s)\n")
    print(_table(results["streams"], columns))
    print("\nBarge-in (clear while audio flows)\n")
    print(_table([results["barge_in"]], list(results["barge_in"])))
    print("\nHTTP streaming of the 1-socket English text (all text up front)\n")
    print(_table([results["http_stream"]], list(results["http_stream"])))
    print("\nG.711 (espeak, decoded durations)\n")
    g = results["g711"]
    print(
        _table(
            [{**g["seconds"], "worst_diff_ms": g["worst_diff_ms"], "within_20ms": g["within_20ms"]}],
            ["wav", "mulaw", "alaw", "worst_diff_ms", "within_20ms"],
        )
    )


def main() -> int:
    """Start a server, run the bench, print Markdown (and write JSON)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 sockets, 5 barge-in trials")
    parser.add_argument("--sockets", type=int, default=10, help="sockets at once in (a)")
    parser.add_argument("--trials", type=int, default=20, help="barge-in trials")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--asr-sentences", type=int, default=20, help="sentences per encoding in (e)")
    parser.add_argument("--no-asr", action="store_true", help="skip (e) (no faster-whisper)")
    parser.add_argument(
        "--compare-eager", action="store_true", help="also stream to a server with eager_cut off"
    )
    parser.add_argument("--baseline-src", type=Path, help="also stream to a server run from this src/")
    parser.add_argument(
        "--asr-only", action="store_true", help="run (e) alone (first-audio target 10 s, no kokoro)"
    )
    parser.add_argument(
        "--piper-only",
        action="store_true",
        help="run the 1-socket English streams alone (and the baseline's), piper always speaking"
        " (first-audio target 10 s, no kokoro): the chunker and request path without fallbacks",
    )
    args = parser.parse_args()
    sockets, trials = (3, 5) if args.quick else (args.sockets, args.trials)
    env = {
        "VOXGATE_CACHE__URL": "memory://?max_bytes=0",  # every piece synthesised
        "VOXGATE_ENGINES__KOKORO__WORKERS": "1",
        "VOXGATE_QOS__LIMITS__DEFAULT": "100000/minute",
        "VOXGATE_REALTIME__MAX_SOCKETS_PER_CLIENT": "64",  # every socket comes from 127.0.0.1
    }
    if args.asr_only or args.piper_only:  # a loaded machine must not swap piper for espeak
        env |= {"VOXGATE_QOS__FIRST_AUDIO_S": "10", "VOXGATE_ENGINES__KOKORO__ENABLED": "false"}
    off = {**env, "VOXGATE_ENGINES__KOKORO__ENABLED": "false"}
    if args.baseline_src is not None:
        off["PYTHONPATH"] = str(args.baseline_src.resolve())
        baseline_name = f"baseline {args.baseline_src.name}"
    else:
        off["VOXGATE_REALTIME__EAGER_CUT"] = "false"
        baseline_name = "eager_cut off"
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        (tmp / "on").mkdir()
        (tmp / "off").mkdir()
        srv = stack.enter_context(voxgate_server(tmp / "on", tmp / "server.log", env))
        baseline = None
        if args.compare_eager or args.baseline_src is not None:
            baseline = stack.enter_context(voxgate_server(tmp / "off", tmp / "baseline.log", off)).url
        if args.piper_only:
            results = {"streams": asyncio.run(solo(srv.url, baseline, baseline_name))}
        elif not args.asr_only:
            results = asyncio.run(run(srv.url, sockets, trials, baseline, baseline_name))
        if not args.no_asr and not args.piper_only:
            results["g711_asr"] = g711_asr(srv.url, args.asr_sentences)
    columns = ["case", "sockets", "pieces", "p50_ms", "p95_ms", "cut_to_audio_p50_ms", "synthesis_p50_ms"]
    columns += ["gaps_per_min", "degraded", "errors"]
    if "barge_in" in results:
        _print_timed(results, columns)
    elif "streams" in results:
        print(_table(results["streams"], columns))
    if "g711_asr" in results:
        print("\nG.711 over the socket, heard by whisper-base (piper, WER %)\n")
        print(_table([results["g711_asr"]], list(results["g711_asr"])))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
