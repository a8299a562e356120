"""Cache hits from memory vs Redis, and what a dead (SIGSTOPped) Redis adds to a request.

    nice .venv/bin/python bench/cache_redis.py            # starts its own redis-server on a free port

One Synthesizer (espeak, one worker) per cache. Measured in-process at ``Synthesizer`` level, so
the figures are the cache's share of a request, without HTTP:

1. hit latency: the same request answered from the cache ``HITS`` times; P50 and P95, memory vs Redis;
2. dead Redis: the cache and the rate limits/quotas in one Redis; a short fresh request's latency
   (cache miss, espeak) with Redis alive, then, Redis SIGSTOPped, the first request (it pays the
   timeout) and the next ones (inside the cool-down); ``CYCLES`` stop/continue cycles, P50 each.
"""

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from voxgate.requests import SynthesisRequest
from voxgate.settings import Settings
from voxgate.testing import start_redis_server
from voxgate.types import AudioFormat
from voxgate.wiring import build_synthesizer

HITS = 300
FRESH = 10
CYCLES = 5
TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    process, port = start_redis_server(workdir, maxmemory="256mb")
    return process, f"redis://127.0.0.1:{port}"


def settings(data_dir: Path, cache_url: str, limits_uri: str = "async+memory://") -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={"limits": {"storage_uri": limits_uri, "default": "1000000/minute", "daily_chars": 0}},
        cache={"url": cache_url},
    )


async def hit_latency(s: Settings) -> list[float]:
    synth = build_synthesizer(s)
    await synth.start()
    try:
        await synth.synthesize(SynthesisRequest(TEXT, format=AudioFormat.MP3))  # the miss that fills it
        times = []
        for _ in range(HITS):
            started = time.perf_counter()
            result = await synth.synthesize(SynthesisRequest(TEXT, format=AudioFormat.MP3))
            times.append(time.perf_counter() - started)
            assert result.meta.cache_hit
        return times
    finally:
        await synth.stop(grace_s=1)


async def dead_redis(s: Settings, redis: subprocess.Popen[bytes]) -> dict[str, list[float]]:
    synth = build_synthesizer(s)
    await synth.start()
    out: dict[str, list[float]] = {"alive": [], "first after stop": [], "next (cool-down)": []}
    count = 0

    async def fresh(key: str) -> None:
        nonlocal count
        count += 1
        started = time.perf_counter()
        await synth.synthesize(SynthesisRequest(f"Number {count}.", format=AudioFormat.MP3))
        out[key].append(time.perf_counter() - started)

    try:
        for _ in range(CYCLES):
            for _ in range(FRESH):
                await fresh("alive")
            os.kill(redis.pid, signal.SIGSTOP)
            try:
                await fresh("first after stop")
                for _ in range(FRESH):
                    await fresh("next (cool-down)")
            finally:
                os.kill(redis.pid, signal.SIGCONT)
            await asyncio.sleep(2.5)  # past the cool-down (1 s, 2 s after a second failure in a row)
        return out
    finally:
        await synth.stop(grace_s=1)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        redis, url = start_redis(Path(tmp))
        try:
            data = Path(tmp) / "data"
            memory = asyncio.run(hit_latency(settings(data, "memory://")))
            shared = asyncio.run(hit_latency(settings(data, f"{url}/1")))
            print(f"cache hit, {HITS} requests (Synthesizer.synthesize, mp3 ~{TEXT.count(' ') + 1} words):")
            for name, times in (("memory", memory), ("redis", shared)):
                p50, p95 = quantile(times, 0.5) * 1e3, quantile(times, 0.95) * 1e3
                print(f"  {name:7} P50 {p50:6.2f} ms  P95 {p95:6.2f} ms")
            dead = asyncio.run(dead_redis(settings(data, f"{url}/2", f"async+{url}/3"), redis))
            print("fresh requests (cache miss, espeak) with the cache, limits and quotas in Redis:")
            for name, times in dead.items():
                print(
                    f"  {name:17} n={len(times):2}  P50 {statistics.median(times) * 1e3:7.1f} ms  "
                    f"max {max(times) * 1e3:7.1f} ms"
                )
        finally:
            redis.kill()
            redis.wait()


if __name__ == "__main__":
    sys.exit(main())
