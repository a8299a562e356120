"""Signal every worker of one engine while 30 interactive zh/en requests run, /healthz probed every 100 ms.

    .venv/bin/voxgate serve --port 8512 &                 # default settings: kokoro, piper, espeak
    .venv/bin/python bench/fault_matrix.py kokoro kill    # or stop (SIGSTOP); piper; espeak

Prints the status codes, who answered and why not the primary, request latency and /healthz P99
and failures (``bench/_sla_probe.py``: open model, every 100 ms, a probe without a 200 counted
with the time it took; the probe used to stop at its first failure).
The requests use voice jm_kumo (chains kokoro → espeak for Chinese, kokoro → piper → espeak for
English); the server is at ``$VOXGATE_URL`` (default http://127.0.0.1:8512). Mind the default
rate limit (120 requests a minute per client) when running it several times in a row.
"""

import asyncio
import os
import signal
import sys
import time
from collections import Counter

import httpx

from _sla_probe import health_stats, probe_health

URL = os.environ.get("VOXGATE_URL", "http://127.0.0.1:8512")
TEXTS = [
    "今天天气很好，我们去公园散步吧。",
    "请在听到提示音后留言。",
    "The birch canoe slid on the smooth planks.",
    "您的订单已经发货，预计三天内送达。",
]
REQUESTS = 30


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(engine: str, sig: signal.Signals) -> None:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int) -> tuple[int, str, str, float]:
            await asyncio.sleep(i * 0.15)
            body = {"text": TEXTS[i % 4], "voice": "jm_kumo", "priority": "interactive", "format": "wav"}
            started = time.monotonic()
            try:
                r = await client.post(URL + "/api/v1/tts", json=body)
            except httpx.HTTPError:  # no answer within 30 s: counted as status 0
                return 0, "", "", time.monotonic() - started
            elapsed = time.monotonic() - started
            reason = r.headers.get("x-voxgate-fallback-reason", "")
            if r.status_code != 200:
                reason = "error: " + r.json().get("error", {}).get("message", "")
            return r.status_code, r.headers.get("x-voxgate-engine", ""), reason, elapsed

        t0 = time.perf_counter()
        prober = asyncio.ensure_future(probe_health(URL, t0, REQUESTS * 0.15 + 10.0))
        calls = [asyncio.ensure_future(one(i)) for i in range(REQUESTS)]
        await asyncio.sleep(1.0)
        sla = (await client.get(URL + "/api/v1/sla")).json()
        pids = [w["pid"] for w in sla["engines"][engine]["workers"] if w["pid"]]
        for pid in pids:
            os.kill(pid, sig)
        print(f"{sig.name} to every {engine} worker: {pids}")
        results = await asyncio.gather(*calls)
        health = health_stats(await prober)
        print("status", dict(Counter(r[0] for r in results)))
        degraded = sum(1 for r in results if r[0] == 200 and r[2])
        errors = Counter(r[2] for r in results if r[0] != 200)
        print(f"fallback {100 * degraded / len(results):.0f} % of {len(results)}")
        print("answered by", dict(Counter(r[1] for r in results)))
        print("fallback reasons", dict(Counter(r[2] for r in results if r[2] and r[0] == 200)))
        print("errors", dict(errors))
        latency = [r[3] for r in results]
        print(
            f"latency P95 {quantile(latency, 0.95):.2f} s, max {max(latency):.2f} s; "
            f"/healthz n={health.n} P99 {health.p99_ms:.0f} ms, max {health.max_ms:.0f} ms, "
            f"{health.failed} failed"
        )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], signal.SIGKILL if sys.argv[2] == "kill" else signal.SIGSTOP))
