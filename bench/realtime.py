"""Realtime socket benchmark (issue 15): LLM-like token streams, barge-in, HTTP streaming beside, G.711.

    nice .venv/bin/python bench/realtime.py             # one run (~3 min here), prints Markdown tables
    nice .venv/bin/python bench/realtime.py --quick     # fewer sockets and trials while developing
    nice .venv/bin/python bench/realtime.py --json out.json

Against ``voxgate serve`` (default settings, one kokoro worker, the audio cache off so every piece
is synthesised) on 127.0.0.1:

(a) token streams at ~30 tokens/s (English words and punctuation with piper's ``joe``; Chinese
    characters with kokoro's ``jm_kumo``), mixed sentence lengths, flushed at the end: time from a
    piece's last token to its first audio byte, P50/P95; playback gaps per minute of audio (a piece
    whose audio came after the earlier audio ran out although its last token was sent before),
    with audio played from its arrival; at 1 socket and at ``--sockets`` at once (English);
(b) barge-in: ``clear`` while audio flows → ``cleared`` and the last audio frame before it,
    P50/P95; then the time until no engine call is in flight (``/api/v1/sla``);
(c) the same English text through HTTP streaming (``stream: true``): time to first byte and to
    the whole answer;
(d) G.711: the same text as wav, mulaw and alaw; decoded durations must agree within 20 ms.
    (The ASR round trip of bench/quality.py needs faster-whisper, which this run does not load.)
"""

from __future__ import annotations

import argparse
import asyncio
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
    return result


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def summarise(name: str, results: list[StreamResult]) -> dict[str, Any]:
    """Pool streams into one row: latency percentiles (ms), gaps per minute, degraded pieces."""
    latencies = [x for r in results for x in r.latencies_s]
    audio_min = sum(r.audio_s for r in results) / 60
    return {
        "case": name,
        "sockets": len(results),
        "pieces": sum(r.pieces for r in results),
        "p50_ms": round(1000 * _pct(latencies, 0.5)),
        "p95_ms": round(1000 * _pct(latencies, 0.95)),
        "gaps_per_min": round(sum(r.gaps for r in results) / audio_min, 2) if audio_min else None,
        "degraded": sum(r.degraded for r in results),
        "errors": [e for r in results for e in r.errors][:5],
    }


async def streams(server: str, sockets: int) -> list[dict[str, Any]]:
    """(a): English and Chinese at one socket, English at ``sockets`` at once (staggered 0.3 s)."""
    en = await stream_once(server, EN_VOICE, english_text(0), "en", 0.0)
    zh = await stream_once(server, ZH_VOICE, chinese_text(0), "zh", 0.0)
    many = await asyncio.gather(
        *(stream_once(server, EN_VOICE, english_text(3 * i + 8), "en", 0.3 * i) for i in range(sockets))
    )
    return [
        summarise("piper en, 1 socket", [en]),
        summarise("kokoro zh, 1 socket", [zh]),
        summarise(f"piper en, {sockets} sockets", list(many)),
    ]


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


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


async def run(server: str, sockets: int, trials: int) -> dict[str, Any]:
    """Every part, one after the other (they would disturb each other's timings)."""
    return {
        "streams": await streams(server, sockets),
        "barge_in": await barge_in(server, trials),
        "http_stream": await http_stream(server),
        "g711": await asyncio.to_thread(g711, server),
    }


def main() -> int:
    """Start a server, run the bench, print Markdown (and write JSON)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 sockets, 5 barge-in trials")
    parser.add_argument("--sockets", type=int, default=10, help="sockets at once in (a)")
    parser.add_argument("--trials", type=int, default=20, help="barge-in trials")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    sockets, trials = (3, 5) if args.quick else (args.sockets, args.trials)
    env = {
        "VOXGATE_CACHE__URL": "memory://?max_bytes=0",  # every piece synthesised
        "VOXGATE_ENGINES__KOKORO__WORKERS": "1",
        "VOXGATE_QOS__LIMITS__DEFAULT": "100000/minute",
        "VOXGATE_REALTIME__MAX_SOCKETS_PER_CLIENT": "64",  # every socket comes from 127.0.0.1
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        voxgate_server(Path(tmp), Path(tmp) / "server.log", env) as srv,
    ):
        results = asyncio.run(run(srv.url, sockets, trials))
    columns = ["case", "sockets", "pieces", "p50_ms", "p95_ms", "gaps_per_min", "degraded", "errors"]
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
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
