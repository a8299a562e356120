"""Jobs benchmark: a long-form job must not hurt interactive users. Real server, real engines, over HTTP.

Starts ``voxgate serve`` in a subprocess (127.0.0.1, a temporary data dir, no cache, no rate
limits, kokoro off) and measures the interactive capacity of piper (voice joe: short English
texts of 20-200 characters, priority interactive, every worker busy). Then ``--rounds`` times:

* an A window: Poisson arrivals at ``--load`` (default 50 %) of that capacity for ``--duration`` s;
* a B window: the same arrivals (same seed) while a fresh job renders
  ``bench/data/founding_and_lincoln.md`` (about 20,000 characters, 8 chapters; voice joe, MP3),
  so the job and the interactive load compete for the same piper workers. The job is cancelled
  after its window, except the last round's, which is followed to the end.

Alternating short windows keeps the comparison fair on a machine whose background load drifts.
Prints the interactive P50/P95/P99 and degraded/shed/failed % of all A and all B windows, the
ratio P95_B / P95_A (target: at most 1.20) overall and per round, and the job's throughput in
B windows in audio seconds per wall second (from the segment files the job commits in the
server's data dir). Latency counts from each request's scheduled arrival, so a lagging client
cannot hide queueing.

    nice .venv/bin/python bench/jobs.py                 # 3 rounds of 60 s windows, ~8 minutes
    .venv/bin/python bench/jobs.py --quick              # 1 round of 15 s windows; the job is cancelled
    .venv/bin/python bench/jobs.py --capacity-share 1   # try another jobs.capacity_share
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from _http_server import voxgate_server
from _sla_stats import quantile
from qos import make_text
from voxgate.jobs.files import WAV_HEADER_BYTES, wav_samples

BOOK = Path(__file__).parent / "data" / "founding_and_lincoln.md"
VOICE = "joe"
TARGET_RATIO = 1.20
STRAGGLERS_S = 60.0
JOB_WAIT_S = 900.0


@dataclass(frozen=True, slots=True)
class Record:
    """One interactive request."""

    latency_s: float
    status: str  # ok, degraded, shed, failed


async def speak(client: httpx.AsyncClient, text: str, scheduled: float) -> Record:
    """One interactive request; latency counted from its scheduled arrival."""
    body = {"text": text, "voice": VOICE, "priority": "interactive", "format": "pcm"}
    try:
        response = await client.post("/api/v1/tts", json=body)
    except httpx.HTTPError:
        return Record(time.perf_counter() - scheduled, "failed")
    latency = time.perf_counter() - scheduled
    if response.status_code == 200:
        degraded = response.headers.get("x-voxgate-degraded") == "true"
        return Record(latency, "degraded" if degraded else "ok")
    return Record(latency, "shed" if response.status_code == 429 else "failed")


async def capacity(client: httpx.AsyncClient, workers: int, seconds: float) -> float:
    """Interactive requests/s piper completes with every worker busy (closed loop, one client per worker)."""
    rng = random.Random(1)
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop(k: int) -> None:
        nonlocal done
        serial = 1_000_000 * (k + 1)
        while time.perf_counter() < stop_at:
            serial += 1
            record = await speak(client, make_text(rng, serial), time.perf_counter())
            done += record.status == "ok"

    started = time.perf_counter()
    await asyncio.gather(*(loop(k) for k in range(workers)))
    return done / (time.perf_counter() - started)


async def open_load(client: httpx.AsyncClient, rate: float, seconds: float, seed: int) -> list[Record]:
    """Poisson arrivals at ``rate``/s for ``seconds`` (at most 3× the expected count); stragglers bounded."""
    rng = random.Random(seed)
    limit = int(3 * rate * seconds) + 10
    tasks: list[asyncio.Task[Record]] = []
    started = time.perf_counter()
    next_at = started
    serial = 0
    while len(tasks) < limit:
        next_at += rng.expovariate(rate)
        if next_at - started > seconds:
            break
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        serial += 1
        tasks.append(asyncio.ensure_future(speak(client, make_text(rng, serial), next_at)))
    done, pending = await asyncio.wait(tasks, timeout=STRAGGLERS_S)
    for task in pending:
        task.cancel()
    return [t.result() for t in done] + [Record(STRAGGLERS_S, "failed") for _ in pending]


def segment_audio(segments: Path, since: float = 0.0, until: float = float("inf")) -> float:
    """Seconds of audio in the job's committed segment files written between two wall times."""
    total = 0.0
    for path in segments.glob("*.wav"):
        if since <= path.stat().st_mtime < until:
            head = path.read_bytes()[:WAV_HEADER_BYTES]
            rate = wav_samples(head)[0]
            total += (path.stat().st_size - WAV_HEADER_BYTES) / 2 / rate
    return total


def row(name: str, job: str, records: list[Record]) -> str:
    """A Markdown row of one phase."""
    answered = [r.latency_s * 1000 for r in records if r.status in ("ok", "degraded")]
    share = {
        s: 100.0 * sum(r.status == s for r in records) / max(1, len(records))
        for s in ("degraded", "shed", "failed")
    }
    cells = [
        name,
        job,
        str(len(records)),
        *(f"{quantile(answered, q):.0f}" for q in (0.5, 0.95, 0.99)),
        *(f"{share[s]:.1f}" for s in ("degraded", "shed", "failed")),
    ]
    return f"| {' | '.join(cells)} |"


def p95(records: Iterable[Record]) -> float:
    """P95 latency of the answered requests, in seconds."""
    return quantile([r.latency_s for r in records if r.status in ("ok", "degraded")], 0.95)


@dataclass(slots=True)
class Run:
    """Everything one run measured: each round is an A window, then a B window with a fresh job."""

    rate: float
    phase_a: list[list[Record]]  # per round
    phase_b: list[list[Record]]
    during: list[dict[str, Any]]  # each round's job status when its B window ended
    final: dict[str, Any]  # the last round's job at the end (done; cancelled in quick mode)
    b_wall_s: float
    audio_b_s: float
    audio_all_s: float  # the last round's job
    loads: list[tuple[float, float, float]]


def report(run: Run, args: argparse.Namespace) -> list[str]:
    """The Markdown report."""
    phase_a = [r for window in run.phase_a for r in window]
    phase_b = [r for window in run.phase_b for r in window]
    ratio = p95(phase_b) / p95(phase_a)
    verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
    rounds = ", ".join(f"{p95(b) / p95(a):.2f}" for a, b in zip(run.phase_a, run.phase_b, strict=True))
    progress = run.final["progress"]
    took = (run.final["finished_at"] or time.time()) - run.final["created_at"]
    engines = ", ".join(f"{e} {n}" for e, n in run.final["engines"].items())
    share = "default (0.5)" if args.capacity_share is None else args.capacity_share
    loads = "; ".join(f"{a:.2f} {b:.2f} {c:.2f}" for a, b, c in run.loads)
    done = ", ".join(f"{d['progress']['fraction']:.0%}" for d in run.during)
    return [
        f"interactive load: {args.load:.0%} of capacity = {run.rate:.2f} requests/s (voice {VOICE}, "
        f"priority interactive); {args.rounds} round(s) of A then B, {args.duration:.0f} s each, "
        f"seeds {args.seed}..{args.seed + args.rounds - 1}",
        "",
        "| phase | job | requests | P50 ms | P95 ms | P99 ms | degraded % | shed % | failed % |",
        "|---|---|---|---|---|---|---|---|---|",
        row("A: interactive only", "none", phase_a),
        row("B: interactive + job", f"running ({done} done as each B ended)", phase_b),
        "",
        f"**P95 B / A = {ratio:.2f}** (target ≤ {TARGET_RATIO:.2f}: {verdict}); per round: {rounds}",
        "",
        "| job | value |",
        "|---|---|",
        f"| text | {progress['chars_total']:,} characters, {progress['chapters_total']} chapters, "
        f"{progress['segments_total']} segments |",
        f"| throughput during B | {run.audio_b_s:.1f} s of speech in {run.b_wall_s:.1f} s = "
        f"**{run.audio_b_s / run.b_wall_s:.2f} audio s / wall s** |",
        f"| last job, whole run | {run.final['status']} after {took:.1f} s; {run.audio_all_s:.1f} s of speech"
        f" = {run.audio_all_s / took:.2f} audio s / wall s |",
        f"| characters done | {progress['chars_done']:,} of {progress['chars_total']:,} |",
        f"| engines | {engines}; degraded segments {run.final['degraded_segments']} |",
        f"| jobs.capacity_share | {share} |",
        "",
        f"load average (1/5/15 min) at start and after each window: {loads}; {os.cpu_count()} cores; "
        f"this process's nice {os.nice(0)}",
    ]


async def submit_book(client: httpx.AsyncClient) -> str:
    """Upload the book as a Markdown file; the new job's id."""
    files = {"file": (BOOK.name, BOOK.read_bytes(), "text/markdown")}
    response = await client.post("/api/v1/jobs", files=files, data={"voice": VOICE, "format": "mp3"})
    response.raise_for_status()
    job_id: str = response.json()["id"]
    return job_id


async def finish(client: httpx.AsyncClient, job_id: str, wait: bool) -> dict[str, Any]:
    """Wait (bounded) for the job to end, or cancel it; its final status."""
    if not wait:
        status: dict[str, Any] = (await client.delete(f"/api/v1/jobs/{job_id}")).json()
        return status
    give_up = time.monotonic() + JOB_WAIT_S
    while True:
        status = (await client.get(f"/api/v1/jobs/{job_id}")).json()
        if status["status"] not in ("queued", "running") or time.monotonic() > give_up:
            return status
        await asyncio.sleep(1)


async def run_phases(base: str, data_dir: Path, args: argparse.Namespace) -> Run:
    """Capacity, then per round an A window and a B window while a job renders the book."""
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        workers = (await client.get("/api/v1/sla")).json()["engines"]["piper"]["capacity"]
        await capacity(client, workers, 2.0)  # warm-up: workers, estimator, connections
        cap = await capacity(client, workers, args.capacity_seconds)
        print(f"piper, {workers} workers: interactive capacity {cap:.2f} requests/s", flush=True)
        run = Run(args.load * cap, [], [], [], {}, 0.0, 0.0, 0.0, [os.getloadavg()])
        for n in range(args.rounds):
            await asyncio.sleep(2)
            run.phase_a.append(await open_load(client, run.rate, args.duration, seed=args.seed + n))
            run.loads.append(os.getloadavg())
            print(row(f"A{n + 1}", "none", run.phase_a[-1]), flush=True)
            await asyncio.sleep(2)
            job_id = await submit_book(client)
            b_start = time.time()
            run.phase_b.append(await open_load(client, run.rate, args.duration, seed=args.seed + n))
            b_end = time.time()
            run.loads.append(os.getloadavg())
            run.during.append((await client.get(f"/api/v1/jobs/{job_id}")).json())
            print(row(f"B{n + 1}", run.during[-1]["status"], run.phase_b[-1]), flush=True)
            last = n == args.rounds - 1
            run.final = await finish(client, job_id, wait=last and not args.quick)
            segments = data_dir / "jobs" / job_id / "segments"
            run.b_wall_s += b_end - b_start
            run.audio_b_s += segment_audio(segments, b_start, b_end)
            run.audio_all_s = segment_audio(segments)
    return run


def main() -> None:
    """Parse arguments, start the server, run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one round of 15 s windows; cancel the job")
    parser.add_argument("--rounds", type=int, help="A/B window pairs (default 3, quick 1)")
    parser.add_argument("--duration", type=float, help="seconds per window (default 60, quick 15)")
    parser.add_argument("--capacity-seconds", type=float, help="default 20, quick 6")
    parser.add_argument("--load", type=float, default=0.5, help="share of interactive capacity offered")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--capacity-share", type=float, help="jobs.capacity_share (default: the setting's)")
    args = parser.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.duration = args.duration or (15.0 if args.quick else 60.0)
    args.capacity_seconds = args.capacity_seconds or (6.0 if args.quick else 20.0)
    env = {
        "VOXGATE_CACHE__URL": "memory://?max_bytes=0",
        "VOXGATE_QOS__LIMITS__DEFAULT": "",
        "VOXGATE_QOS__LIMITS__DAILY_CHARS": "0",
        "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
        "VOXGATE_SERVER__LOG_JSON": "false",
    }
    if args.capacity_share is not None:
        env["VOXGATE_JOBS__CAPACITY_SHARE"] = str(args.capacity_share)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so the server is stopped too
    with tempfile.TemporaryDirectory(prefix="voxgate-bench-jobs-") as tmp:
        data_dir = Path(tmp) / "data"
        with voxgate_server(data_dir, Path(tmp) / "server.log", env) as server:
            result = asyncio.run(run_phases(server.url, data_dir, args))
    print()
    print("\n".join(report(result, args)))


if __name__ == "__main__":
    main()
