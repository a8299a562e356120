"""``/healthz`` while a burst of requests lands at once: is the event loop starved by the front end?

    nice -n 5 .venv/bin/python bench/burst.py                               # ~1 min
    nice -n 5 .venv/bin/python bench/burst.py --baseline-src /tmp/base/src  # side by side

The fault matrix saw ``/healthz`` P99 above 100 ms when 30 requests arrived in the same instant.
Each round here sends ``--burst`` requests at once (Chinese and English, every text new; to the
cheap espeak voices, so the engines barely load the CPU and what is measured is the gateway, or
with ``--voices neural`` to kokoro and piper, which keep both cores busy), and
probes ``/healthz`` every 10 ms from its own connections until the burst is answered. Printed per
server: the probes' P50/P99/max, the burst's answer time P50/max, and the statuses. With
``--baseline-src`` a second server runs that source tree (e.g. ``git archive <rev> src``), rounds
alternating between the two so load drifts hit both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from _http_server import voxgate_server
from _scenarios import QUIET_SERVER_ENV
from _sla_probe import HealthProbe, health_stats

ZH = "第{n}位客户您好，您的订单已于2026年12月{d}日发货，金额为{m}.50元，请注意查收短信通知。"
EN = "Order {n} for Dr. Smith shipped on December {d}, 2026; the total of ${m}.50 was charged to card 4{n}."
ENV = {
    **QUIET_SERVER_ENV,
    "VOXGATE_QOS__LIMITS__DEFAULT": "1000000/minute",
    "VOXGATE_QOS__LIMITS__DAILY_CHARS": "0",
}


VOICES = {"espeak": ("espeak-cmn", "espeak-en-us"), "neural": ("jf_gongitsune", "joe")}
"""``--voices``: the cheap last resort (the gateway's own cost), or kokoro and piper (engines busy)."""


async def burst(
    url: str, size: int, round_no: int, voices: tuple[str, str]
) -> tuple[list[HealthProbe], list[float], Counter[int]]:
    """One burst with its probes."""
    limits = httpx.Limits(max_connections=size + 10, max_keepalive_connections=size)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def one(i: int) -> tuple[float, int]:
            n = round_no * 1000 + i
            zh = i % 2 == 0
            text = (ZH if zh else EN).format(n=n, d=1 + i % 28, m=100 + i)
            body = {"text": text, "voice": voices[0] if zh else voices[1], "format": "wav"}
            start = time.perf_counter()
            try:
                status = (await client.post("/api/v1/tts", json=body)).status_code
            except httpx.HTTPError:
                status = 0
            return time.perf_counter() - start, status

        done = asyncio.Event()
        probes: list[HealthProbe] = []

        async def probe() -> None:
            async with httpx.AsyncClient(base_url=url, timeout=10) as own:
                t0 = time.perf_counter()
                while not done.is_set() and time.perf_counter() - t0 < 60:
                    start = time.perf_counter()
                    try:
                        status = (await own.get("/healthz")).status_code
                    except httpx.HTTPError:
                        status = 0
                    probes.append(HealthProbe(start - t0, time.perf_counter() - start, status))
                    await asyncio.sleep(0.01)

        prober = asyncio.ensure_future(probe())
        await asyncio.sleep(0.05)
        answers = await asyncio.gather(*(one(i) for i in range(size)))
        done.set()
        await prober
    return probes, [a for a, _ in answers], Counter(s for _, s in answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--burst", type=int, default=30, help="requests sent at once")
    parser.add_argument("--rounds", type=int, default=6, help="bursts per server")
    parser.add_argument("--voices", choices=sorted(VOICES), default="espeak", help="who speaks the burst")
    parser.add_argument("--baseline-src", type=Path, default=None, help="a source tree to compare with")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    sources: list[tuple[str, dict[str, str]]] = [("this tree", {})]
    if args.baseline_src is not None:
        sources.append(("baseline", {"PYTHONPATH": str(args.baseline_src.resolve())}))
    with tempfile.TemporaryDirectory() as tmp:
        servers = []
        stack = []
        for name, extra in sources:
            cm = voxgate_server(
                Path(tmp) / name.replace(" ", "_"), Path(tmp) / f"{name}.log", {**ENV, **extra}
            )
            stack.append(cm)
            servers.append((name, cm.__enter__()))
        try:
            results: dict[str, tuple[list[HealthProbe], list[float], Counter[int]]] = {
                name: ([], [], Counter()) for name, _ in servers
            }
            for r in range(args.rounds):
                for name, server in servers:
                    probes, answers, statuses = asyncio.run(
                        burst(server.url, args.burst, r, VOICES[args.voices])
                    )
                    results[name][0].extend(probes)
                    results[name][1].extend(answers)
                    results[name][2].update(statuses)
            for name, (probes, answers, statuses) in results.items():
                h = health_stats(probes)
                print(
                    f"{name}: /healthz P50 {h.p50_ms:.0f} / P99 {h.p99_ms:.0f} / max {h.max_ms:.0f} ms"
                    f" over {h.n} probes ({h.failed} failed);"
                    f" burst answers P50 {statistics.median(answers):.2f} s,"
                    f" max {max(answers):.2f} s; statuses {dict(statuses)}"
                )
        finally:
            for cm in reversed(stack):
                cm.__exit__(None, None, None)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
