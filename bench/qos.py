"""QoS benchmark, in process: open-model load at multiples of the primary engine's capacity.

Builds the real Synthesizer (real worker subprocesses, real engines), measures the primary
engine's capacity (requests/s it completes with all its workers busy), then offers Poisson
arrivals at 0.5×, 1×, 2× and 4× that rate for a fixed time each — constant arrival rate, so
a slow server cannot hide by slowing the load — with mixed priorities and text lengths.
Prints, per load and priority: P50/P95/P99 latency, goodput, degraded %, shed %, failed %.

    .venv/bin/python bench/qos.py                  # kokoro primary (English, jf_alpha), 60 s per load
    .venv/bin/python bench/qos.py --duration 15 --loads 1,4     # a quick look
    .venv/bin/python bench/qos.py --voice joe          # piper primary
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _sla_stats import quantile
from voxgate.errors import NoEngineAvailable, Rejected, VoxgateError
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES
from voxgate.types import AudioFormat, Priority
from voxgate.wiring import build_synthesizer

PRIORITY_MIX = [(Priority.INTERACTIVE, 0.3), (Priority.API, 0.5), (Priority.BATCH, 0.2)]


@dataclass(frozen=True, slots=True)
class Record:
    """One request of the run."""

    priority: Priority
    chars: int
    latency_s: float
    status: str  # ok, degraded, shed, failed
    engine: str | None


def make_text(rng: random.Random, serial: int) -> str:
    """An English text of 20–200 characters, unique per request (so the cache never answers)."""
    target = rng.randint(20, 200)
    words = f"Item {serial}."
    text = words
    while len(text) < target:
        text = f"{text} {rng.choice(HARVARD_SENTENCES)}"
    return text[: max(target, len(words))].rsplit(" ", 1)[0].rstrip(",") + "."


def settings_for(data_dir: Path) -> Settings:
    """Defaults, except: no cache, no rate limits or quotas (the bench is one client)."""
    return Settings.load(
        data_dir=data_dir,
        cache={"url": "memory://?max_bytes=0"},
        qos={"limits": {"default": "", "daily_chars": 0}},
    )


async def one(synth: Synthesizer, text: str, voice: str, priority: Priority) -> Record:
    """Send one request and classify its outcome."""
    started = time.perf_counter()
    request = SynthesisRequest(text, voice=voice, format=AudioFormat.PCM, priority=priority)
    try:
        result = await synth.synthesize(request)
    except Rejected:
        return Record(priority, len(text), time.perf_counter() - started, "shed", None)
    except (NoEngineAvailable, VoxgateError):
        return Record(priority, len(text), time.perf_counter() - started, "failed", None)
    status = "degraded" if result.meta.degraded else "ok"
    return Record(priority, len(text), time.perf_counter() - started, status, result.meta.engine)


async def capacity(synth: Synthesizer, voice: str, engine: str, seconds: float) -> float:
    """Primary-engine throughput in requests/s with every worker busy (big deadlines, batch class)."""
    rng = random.Random(1)
    workers = synth.backend.capacity(engine)
    done = 0
    stop_at = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        serial = 10_000 * (k + 1)
        while time.perf_counter() < stop_at:
            serial += 1
            text = make_text(rng, serial)
            request = SynthesisRequest(text, voice=voice, format=AudioFormat.PCM, deadline_s=120)
            result = await synth.synthesize(request)
            if result.meta.engine == engine:
                done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(workers)))
    return done / (time.perf_counter() - started)


async def open_load(synth: Synthesizer, voice: str, rate: float, seconds: float, seed: int) -> list[Record]:
    """Poisson arrivals at ``rate``/s for ``seconds``; wait (bounded) for the stragglers."""
    rng = random.Random(seed)
    tasks: list[asyncio.Task[Record]] = []
    started = time.perf_counter()
    next_at = started
    serial = 0
    while True:
        next_at += rng.expovariate(rate)
        if next_at - started > seconds:
            break
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        serial += 1
        priority = rng.choices([p for p, _ in PRIORITY_MIX], [w for _, w in PRIORITY_MIX])[0]
        tasks.append(asyncio.ensure_future(one(synth, make_text(rng, serial), voice, priority)))
    done, pending = await asyncio.wait(tasks, timeout=180)
    for task in pending:
        task.cancel()
    return [t.result() for t in done] + [Record(Priority.API, 0, 180.0, "failed", None) for _ in pending]


def report(load: float, rate: float, seconds: float, records: list[Record]) -> list[str]:
    """Markdown rows for one load level, per priority and in total."""
    rows = []
    for priority in [*Priority, None]:
        mine = [r for r in records if priority is None or r.priority is priority]
        if not mine:
            continue
        answered = [r for r in mine if r.status in ("ok", "degraded")]
        lat = [r.latency_s for r in answered]
        kinds = ("degraded", "shed", "failed")
        pct = {s: 100.0 * sum(r.status == s for r in mine) / len(mine) for s in kinds}
        names = sorted({r.engine for r in answered if r.engine})
        engines = {e: sum(r.engine == e for r in answered) for e in names}
        rows.append(
            f"| {load:g}× ({rate:.2f}/s) | {priority.value if priority else 'all'} | {len(mine)} "
            f"| {quantile(lat, 0.5):.2f} | {quantile(lat, 0.95):.2f} | {quantile(lat, 0.99):.2f} "
            f"| {len(answered) / seconds:.2f} | {pct['degraded']:.1f} | {pct['shed']:.1f} "
            f"| {pct['failed']:.1f} "
            f"| {', '.join(f'{e} {n}' for e, n in engines.items())} |"
        )
    return rows


async def main_async(args: argparse.Namespace) -> None:
    """Measure capacity, run every load level, print the table."""
    synth = build_synthesizer(settings_for(Path(args.data_dir)))
    await synth.start()
    try:
        engine = synth.catalog.get(args.voice).engine
        await asyncio.sleep(2)  # let every worker finish warming up
        cap = await capacity(synth, args.voice, engine, args.capacity_seconds)
        print(
            f"primary engine {engine} (voice {args.voice}): capacity {cap:.2f} requests/s "
            f"with {synth.backend.capacity(engine)} workers",
            flush=True,
        )
        header = [
            "| load | priority | requests | P50 s | P95 s | P99 s | goodput/s "
            "| degraded % | shed % | failed % | engines |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        rows: list[str] = []
        for i, load in enumerate(float(x) for x in args.loads.split(",")):
            rate = cap * load
            records = await open_load(synth, args.voice, rate, args.duration, seed=100 + i)
            rows += report(load, rate, args.duration, records)
            print("\n".join(header + rows), flush=True)
            await asyncio.sleep(3)  # drain between levels
        interactive = [r for r in rows if "| interactive |" in r]
        print("\ninteractive P95 per load:", ", ".join(r.split("|")[5].strip() for r in interactive))
    finally:
        await synth.stop(grace_s=5)


def main() -> None:
    """Parse arguments and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--voice", default="jf_alpha", help="voice of the primary engine (jf_alpha: kokoro)")
    parser.add_argument("--loads", default="0.5,1,2,4")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per load level")
    parser.add_argument("--capacity-seconds", type=float, default=30.0)
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "voxgate-bench-data"))
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
