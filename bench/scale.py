"""Scale-out benchmark, part 1: the same workload through ``local://`` and ``ray://local``.

Drives one engine's ExecutionBackend directly (no HTTP, no scheduler), both backends started at
once with the same settings (2 workers or replicas, 1 thread each) and every phase alternating
between them, so a busy neighbour on the machine weighs on both alike:

1. added latency per call: one call at a time, the same sentences, P50/P95 of each backend;
   the difference of the P50s is what Ray's handle, router and replica add per call;
2. capacity: calls kept in flight, one per worker (closed loop), for a fixed time: calls/s;
   the ratio ray/local says what Ray costs in throughput;
3. an open-model load: Poisson arrivals at ``--load`` × the local capacity for a fixed time
   (constant arrival rate, so a slow backend cannot hide): completed/s, P50/P95 latency, time to
   first audio = time to the whole answer here (the backend returns the whole sentence).

    nice .venv/bin/python bench/scale.py                   # piper (joe), 20 s per phase
    nice .venv/bin/python bench/scale.py --engine espeak --duration 10

``--cluster`` runs part 2 instead (``bench/_scale_cluster.py``): a Ray head, a Redis and two
``voxgate serve`` gateways started here; cache hits and one client's limit across the gateways,
piper replicas SIGKILLed under load, piper throughput with 1 vs 2 replicas.

    nice .venv/bin/python bench/scale.py --cluster --duration 30 --rate 2

``--replicas-ratio`` measures piper with 1 vs 2 slots four ways side by side
(``bench/_scale_ratio.py``): the engine in-process (1 vs 2 processes), 1 process beside a CPU
spinner (does the machine let two computations run at full speed?), ``local://`` and
``ray://local`` over HTTP (1 vs 2 callers against one ``voxgate serve`` with 2 piper slots).

    nice -n 5 .venv/bin/python bench/scale.py --replicas-ratio --phase-s 15 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _sla_stats import quantile
from voxgate.clock import SystemClock
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES
from voxgate.types import SynthesisOptions
from voxgate.workers.backend import ExecutionBackend, backend_from_url

VOICES = {"piper": "joe", "espeak": "espeak-en-us"}
OPTS = SynthesisOptions(language="en")
ENGINES = ("kokoro", "piper", "espeak")


@dataclass(frozen=True, slots=True)
class Result:
    """One backend's figures."""

    url: str
    start_s: float
    single_p50_s: float
    single_p95_s: float
    capacity_rps: float
    open_rate: float
    open_done_rps: float
    open_p50_s: float
    open_p95_s: float
    open_failed: int


def _settings(engine: str, data_dir: Path) -> Settings:
    engines: dict[str, dict[str, object]] = {name: {"enabled": False} for name in ENGINES if name != engine}
    engines[engine] = {"workers": 2, "threads": 1}
    return Settings.load(data_dir=data_dir, engines=engines)


async def _call(backend: ExecutionBackend, engine: str, text: str) -> float:
    start = time.perf_counter()
    await backend.run(engine, text, VOICES[engine], OPTS, time.monotonic() + 30.0)
    return time.perf_counter() - start


async def _single(backend: ExecutionBackend, engine: str, calls: int) -> list[float]:
    return [await _call(backend, engine, HARVARD_SENTENCES[i % len(HARVARD_SENTENCES)]) for i in range(calls)]


async def _capacity(backend: ExecutionBackend, engine: str, duration: float) -> float:
    done = 0
    stop_at = time.monotonic() + duration

    async def loop(offset: int) -> None:
        nonlocal done
        i = offset
        while time.monotonic() < stop_at:
            await _call(backend, engine, HARVARD_SENTENCES[i % len(HARVARD_SENTENCES)])
            done += 1
            i += 7

    start = time.monotonic()
    await asyncio.gather(*(loop(k) for k in range(backend.capacity(engine))))
    return done / (time.monotonic() - start)


async def _open(
    backend: ExecutionBackend, engine: str, rate: float, duration: float, seed: int
) -> tuple[list[float], int, float]:
    rng = random.Random(seed)
    latencies: list[float] = []
    failed = 0

    async def one(text: str) -> None:
        nonlocal failed
        try:
            latencies.append(await _call(backend, engine, text))
        except Exception as exc:
            failed += 1
            print(f"failed on {backend.engines()} ({type(backend).__name__}): {type(exc).__name__}: {exc}")

    tasks: list[asyncio.Task[None]] = []
    start = time.monotonic()
    at = start
    i = 0
    while True:
        at += rng.expovariate(rate)
        if at - start > duration:
            break
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        tasks.append(asyncio.ensure_future(one(HARVARD_SENTENCES[i % len(HARVARD_SENTENCES)])))
        i += 1
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return latencies, failed, time.monotonic() - start


async def _started(url: str, args: argparse.Namespace) -> tuple[ExecutionBackend, float]:
    settings = _settings(args.engine, Path(args.data_dir))
    backend = backend_from_url(url, settings, SystemClock(), lambda _event: None)
    t0 = time.monotonic()
    await backend.start()
    while backend.capacity(args.engine) < 2 and time.monotonic() - t0 < 300:
        await asyncio.sleep(0.2)
    await _single(backend, args.engine, 5)  # warm alike
    return backend, time.monotonic() - t0


async def _measure(args: argparse.Namespace) -> tuple[Result, Result]:
    """Both backends up at once; every phase alternates between them, so a noisy neighbour hits both."""
    urls = ("local://", "ray://local")
    started = [await _started(url, args) for url in urls]
    backends = [b for b, _ in started]
    engine = args.engine
    single: list[list[float]] = [[], []]
    capacity: list[list[float]] = [[], []]
    latencies: list[list[float]] = [[], []]
    failed = [0, 0]
    took = [0.0, 0.0]
    try:
        for i in range(args.calls):
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                text = HARVARD_SENTENCES[i % len(HARVARD_SENTENCES)]
                single[k].append(await _call(backends[k], engine, text))
        window = args.duration / args.rounds
        for r in range(args.rounds):
            for k in (0, 1) if r % 2 == 0 else (1, 0):
                capacity[k].append(await _capacity(backends[k], engine, window))
        rate = args.load * statistics.mean(capacity[0])
        for r in range(args.rounds):
            for k in (0, 1) if r % 2 == 0 else (1, 0):
                lat, fail, spent = await _open(backends[k], engine, rate, window, args.seed + r)
                latencies[k] += lat
                failed[k] += fail
                took[k] += spent
    finally:
        for backend in reversed(backends):
            await backend.stop(5.0)
    local, ray = (
        Result(
            urls[k],
            started[k][1],
            statistics.median(single[k]),
            quantile(single[k], 0.95),
            statistics.mean(capacity[k]),
            rate,
            len(latencies[k]) / took[k],
            quantile(latencies[k], 0.5),
            quantile(latencies[k], 0.95),
            failed[k],
        )
        for k in (0, 1)
    )
    return local, ray


def _report(local: Result, ray: Result) -> None:
    ms = 1000.0
    print(
        "| backend | ready after | single call P50 / P95 | capacity | open load | done | P50 / P95 | failed |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in (local, ray):
        print(
            f"| `{r.url}` | {r.start_s:.1f} s | {r.single_p50_s * ms:.0f} / {r.single_p95_s * ms:.0f} ms "
            f"| {r.capacity_rps:.2f} calls/s | {r.open_rate:.2f}/s | {r.open_done_rps:.2f}/s "
            f"| {r.open_p50_s * ms:.0f} / {r.open_p95_s * ms:.0f} ms | {r.open_failed} |"
        )
    print()
    print(f"capacity ratio ray/local: {ray.capacity_rps / local.capacity_rps:.2f} (target >= 0.9)")
    print(
        f"added latency per call, P50: {(ray.single_p50_s - local.single_p50_s) * ms:+.1f} ms",
        "(target <= 15 ms)",
    )
    print(f"open-load P50 difference: {(ray.open_p50_s - local.open_p50_s) * ms:+.0f} ms")


async def main_async(args: argparse.Namespace) -> None:
    local, ray = await _measure(args)
    _report(local, ray)


def main() -> None:
    """Parse arguments and run both backends."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=sorted(VOICES), default="piper")
    parser.add_argument("--calls", type=int, default=40, help="one-at-a-time calls (latency)")
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of the capacity and open phases"
    )
    parser.add_argument(
        "--load", type=float, default=0.7, help="open-model rate as a multiple of local capacity"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternations of each load phase")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "voxgate-bench-data"))
    parser.add_argument("--cluster", action="store_true", help="part 2: two gateways, one Ray, one Redis")
    parser.add_argument("--rate", type=float, default=2.0, help="--cluster: requests/s while killing")
    parser.add_argument(
        "--replicas-ratio", action="store_true", help="piper 1 vs 2 slots: engine, machine, local://, ray://"
    )
    parser.add_argument("--phase-s", type=float, default=15.0, help="--replicas-ratio: seconds per phase")
    parser.add_argument(
        "--rows",
        default="engine,sessions,machine,local,ray",
        help="--replicas-ratio: which rows, comma-separated",
    )
    args = parser.parse_args()
    if args.replicas_ratio:
        _ratio_report(args)
    elif args.cluster:
        _cluster_report(args)
    else:
        asyncio.run(main_async(args))


def _ratio_report(args: argparse.Namespace) -> None:
    import _scale_ratio

    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"piper 1 vs 2 slots, {args.phase_s:g} s per phase, {args.rounds} rounds; load average {load}")
    print(_scale_ratio.autogroup_note())
    phases = _scale_ratio.run(args.phase_s, args.rounds, rows)
    _scale_ratio.summary(phases)


def _cluster_report(args: argparse.Namespace) -> None:
    from _scale_cluster import run

    f = run(args.duration, args.rate)
    kill = f["kill"]
    assert isinstance(kill, dict)
    rps_1, rps_2 = float(str(f["rps_1"])), float(str(f["rps_2"]))
    print(f"cluster ready (Ray head, Redis, 2 gateways) after {float(str(f['ready_s'])):.0f} s")
    print("| check | result | target |\n|---|---|---|")
    print(
        f"| same request on gateway 1 then 2 | {f['gw1']} → {f['gw2']}, "
        f"same audio: {f['same_audio']} | miss → hit |"
    )
    print(
        f"| key limited to 6/minute, 10 requests alternating gateways | {f['limit_ok']} × 200, "
        f"{f['limit_429']} × 429, {f['limit_other']} other | ≤ 6 × 200 |"
    )
    print(
        f"| piper replicas SIGKILLed under {args.rate:g} req/s, {args.duration:g} s | {kill['kills']} kills, "
        f"{kill['sent']} sent, statuses {kill['codes']}, 5xx/errors {kill['5xx']}, "
        f"P50 / P95 {kill['p50']:.2f} / {kill['p95']:.2f} s | 0 × 5xx, P95 ≤ 3 s |"
    )
    for error in kill.get("errors", []):
        print(f"failed: {error}")
    print(
        f"| piper throughput, 1 vs 2 replicas | {rps_1:.2f} vs {rps_2:.2f} requests/s, "
        f"ratio {rps_2 / rps_1:.2f} (gateway saw 2 replicas after {f.get('piper_capacity_wait_s')} s) "
        "| ≥ 1.7 |"
    )
    print(f"answered by, 1 replica: {f['by_1']}; 2 replicas: {f['by_2']}")


if __name__ == "__main__":
    main()
