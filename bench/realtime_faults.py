"""Engine faults under the realtime socket (``WS /api/v1/tts/realtime``), ``/healthz`` probed beside.

    nice -n 5 .venv/bin/python bench/realtime_faults.py                  # every scenario (~5 min here)
    nice -n 5 .venv/bin/python bench/realtime_faults.py --only piper-kill,vanish-kokoro

Starts ``voxgate serve`` on 127.0.0.1 (one kokoro worker, the audio cache off so every piece is
synthesised, request limits off, 64 sockets per client) and runs, one after the other:

- ``<engine>-kill`` / ``<engine>-stop`` for kokoro (voice jm_kumo, Chinese), piper (joe) and
  espeak (espeak-en-us, whose chain goes on to piper): ``--sockets`` sockets each send
  ``--sentences`` sentences, one every 1.2 s (as an LLM would), then ``close``; 2.5 s in, every
  worker of the engine is SIGKILLed or SIGSTOPped (the pool replaces killed workers and kills
  frozen ones past their deadline). A socket passes when every character sent comes back in a
  ``segment`` frame (spoken by the engine or, marked ``degraded``, by a fallback), no ``error``
  frame came, pieces were served after the fault, and the server closed it normally (1000).
- ``vanish-<engine>``: a socket speaks a long text and, once its first audio arrives, drops the
  TCP connection without a close frame; measured: the time until no engine call is in flight
  (``/api/v1/sla``: the piece in its worker finishes, the pieces queued behind it never start).
  Passes when that is under 10 s.

Every scenario probes ``/healthz`` every 100 ms (``bench/_sla_probe.py``). Prints one JSON line
per scenario and a Markdown table; exit status 1 when a scenario failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from _http_server import voxgate_server
from _scenarios import QUIET_SERVER_ENV, chosen_scenarios, scenario_parser, table
from _sla_probe import PROBE_EVERY_S, PROBE_TIMEOUT_S, HealthProbe, health_stats
from _sla_stats import quantile
from voxgate.client import realtime_url

DATA = Path(__file__).resolve().parent / "data"
VOICES = {"kokoro": "jm_kumo", "piper": "joe", "espeak": "espeak-en-us"}
SENTENCE_EVERY_S = 1.2
FAULT_AT_S = 2.5
FREE_WITHIN_S = 10.0
ZH = [
    "今天天气很好，我们去公园散步吧。",
    "请在听到提示音后留言。",
    "您的订单已经发货，预计三天内送达。",
    "会议改到下午三点，请准时参加。",
    "这家餐厅的菜很好吃，价格也不贵。",
    "明天早上八点出发，别迟到了。",
    "图书馆周末开放到晚上九点。",
    "感谢您的耐心等待，我们马上为您处理。",
]


def english() -> list[str]:
    """The Harvard sentences (bench/data)."""
    lines = (DATA / "harvard_lists_1_3.txt").read_text("utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def _chars(text: str) -> int:
    return sum(not c.isspace() for c in text)


@dataclass(slots=True)
class SocketRun:
    """What one socket got."""

    sent_chars: int = 0
    spoken_chars: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)
    segment_times: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    close_code: int | None = None
    first_audio_s: list[float] = field(default_factory=list)


async def probe_until(url: str, stop: asyncio.Event) -> list[HealthProbe]:
    """``GET /healthz`` every 100 ms (open model, as ``_sla_probe.probe_health``) until ``stop``."""
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=PROBE_TIMEOUT_S) as client:

        async def one(at: float) -> HealthProbe:
            started = time.perf_counter()
            try:
                status = (await client.get("/healthz")).status_code
            except httpx.HTTPError:
                status = 0
            return HealthProbe(at, time.perf_counter() - started, status)

        tasks: list[asyncio.Task[HealthProbe]] = []
        while not stop.is_set() and len(tasks) < 6000:  # at most 10 minutes
            tasks.append(asyncio.ensure_future(one(time.perf_counter() - t0)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_EVERY_S)
        return list(await asyncio.gather(*tasks))


async def one_socket(url: str, voice: str, sentences: list[str], t0: float) -> SocketRun:
    """Speak ``sentences`` one every SENTENCE_EVERY_S, then close; collect what comes back."""
    run = SocketRun()
    async with connect(realtime_url(url, voice=voice), max_size=None, open_timeout=60) as ws:
        await ws.recv()  # metadata

        async def send() -> None:
            for text in sentences:
                await ws.send(json.dumps({"type": "speak", "text": text + " "}))
                run.sent_chars += _chars(text)
                await asyncio.sleep(SENTENCE_EVERY_S)
            await ws.send(json.dumps({"type": "close"}))

        sender = asyncio.ensure_future(send())
        try:
            async with asyncio.timeout(120):
                async for message in ws:
                    if isinstance(message, bytes):
                        continue
                    event = json.loads(message)
                    if event["type"] == "segment":
                        run.segments.append(event)
                        run.segment_times.append(time.perf_counter() - t0)
                        run.spoken_chars += _chars(event["text"])
                    elif event["type"] == "error":
                        run.errors.append(f"{event.get('code')}: {event.get('message')}")
        except ConnectionClosed:
            pass
        except TimeoutError:
            run.errors.append("no close within 120 s")
        run.close_code = ws.close_code
        sender.cancel()
    return run


async def worker_pids(http: httpx.AsyncClient, engine: str) -> list[int]:
    """The engine's worker PIDs, as its pool reports them."""
    sla = (await http.get("/api/v1/sla")).json()
    return [w["pid"] for w in sla["engines"][engine]["workers"] if w.get("pid")]


async def wait_ready(http: httpx.AsyncClient, limit_s: float = 180.0) -> None:
    """Until every worker of every engine is idle (``/readyz`` is 200 as soon as one engine can
    answer: kokoro may still be reloading), then past the breakers' open time (10 s), so each
    scenario starts with the pools and breakers the last one broke whole again."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        engines = (await http.get("/api/v1/sla")).json()["engines"].values()
        if all(w["state"] == "idle" for e in engines for w in e["workers"]):
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(11.0)


async def fault(url: str, engine: str, sig: signal.Signals, sockets: int, count: int) -> dict[str, Any]:
    """A ``<engine>-kill`` / ``-stop`` scenario (see the module docstring)."""
    voice = VOICES[engine]
    lines = ZH if engine == "kokoro" else english()
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await wait_ready(http)
        t0 = time.perf_counter()
        stop = asyncio.Event()
        prober = asyncio.ensure_future(probe_until(url, stop))
        runs = [
            asyncio.ensure_future(
                one_socket(url, voice, [lines[(s * count + i) % len(lines)] for i in range(count)], t0)
            )
            for s in range(sockets)
        ]
        await asyncio.sleep(FAULT_AT_S)
        pids = await worker_pids(http, engine)
        for pid in pids:
            os.kill(pid, sig)
        results = await asyncio.gather(*runs)
        stop.set()
        health = health_stats(await prober)
    segments = [s for r in results for s in r.segments]
    after = sum(1 for r in results for t in r.segment_times if t > FAULT_AT_S + 1.0)
    degraded = sum(1 for s in segments if s["degraded"])
    complete = all(r.spoken_chars >= r.sent_chars for r in results)
    normal = all(r.close_code == 1000 for r in results)
    errors = [e for r in results for e in r.errors]
    ok = complete and normal and not errors and after > 0 and health.ok
    return {
        "scenario": f"{engine}-{'kill' if sig is signal.SIGKILL else 'stop'}",
        "sockets": sockets,
        "pieces": len(segments),
        "errors": len(errors),
        "first_errors": errors[:2],
        "fallback_pct": round(100 * degraded / max(1, len(segments)), 1),
        "engines": dict(Counter(s["engine"] for s in segments)),
        "reasons": dict(Counter(s["reason"] for s in segments if s["reason"])),
        "pieces_after_fault": after,
        "all_text_spoken": complete,
        "closed_1000": normal,
        "healthz_p99_ms": round(health.p99_ms),
        "healthz_failed": health.failed,
        "verdict": "PASS" if ok else "FAIL",
    }


async def vanish(url: str, engine: str, trials: int) -> dict[str, Any]:
    """A ``vanish-<engine>`` scenario (see the module docstring)."""
    voice = VOICES[engine]
    text = "".join(ZH) if engine == "kokoro" else " ".join(english()[:12])
    free_s: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        await wait_ready(http)
        stop = asyncio.Event()
        prober = asyncio.ensure_future(probe_until(url, stop))
        busy_seen = 0
        for _ in range(trials):
            ws = await connect(realtime_url(url, voice=voice), max_size=None, open_timeout=60)
            await ws.recv()  # metadata
            await ws.send(json.dumps({"type": "speak", "text": text}))
            await ws.send(json.dumps({"type": "flush"}))
            async with asyncio.timeout(60):
                while not isinstance(await ws.recv(), bytes):
                    pass
            sla = (await http.get("/api/v1/sla")).json()
            busy_seen += sum(e["in_flight"] for e in sla["engines"].values())
            ws.transport.abort()  # gone: no close frame, no FIN handshake
            started = time.monotonic()
            while time.monotonic() - started < 60:
                engines = (await http.get("/api/v1/sla")).json()["engines"].values()
                if all(e["in_flight"] == 0 for e in engines):
                    break
                await asyncio.sleep(0.05)
            free_s.append(time.monotonic() - started)
        stop.set()
        health = health_stats(await prober)
    ok = max(free_s) < FREE_WITHIN_S and health.ok
    return {
        "scenario": f"vanish-{engine}",
        "trials": trials,
        "in_flight_when_left": busy_seen,
        "free_p50_s": round(quantile(free_s, 0.5), 2),
        "free_max_s": round(max(free_s), 2),
        "healthz_p99_ms": round(health.p99_ms) if health.n else None,
        "healthz_failed": health.failed,
        "verdict": "PASS" if ok else "FAIL",
    }


SCENARIOS = [f"{e}-{s}" for e in ("piper", "kokoro", "espeak") for s in ("kill", "stop")]
SCENARIOS += ["vanish-kokoro", "vanish-piper"]


async def run(url: str, only: list[str], sockets: int, count: int, trials: int) -> list[dict[str, Any]]:
    """The chosen scenarios, one after the other."""
    rows = []
    for name in only:
        kind, _, rest = name.partition("-")
        if kind == "vanish":
            row = await vanish(url, rest, trials)
        else:
            sig = signal.SIGKILL if rest == "kill" else signal.SIGSTOP
            row = await fault(url, kind, sig, sockets, count)
        print(json.dumps(row, ensure_ascii=False), flush=True)
        rows.append(row)
    return rows


def main() -> int:
    """Start the server, run the scenarios, print the table."""
    parser = scenario_parser(__doc__, SCENARIOS)
    parser.add_argument("--sockets", type=int, default=2, help="sockets at once in a fault scenario")
    parser.add_argument("--sentences", type=int, default=8, help="sentences per socket")
    parser.add_argument("--trials", type=int, default=3, help="vanishing clients per vanish scenario")
    args = parser.parse_args()
    only = chosen_scenarios(parser, args, SCENARIOS)
    env = {
        **QUIET_SERVER_ENV,
        "VOXGATE_ENGINES__KOKORO__WORKERS": "1",
        "VOXGATE_QOS__LIMITS__DEFAULT": "100000/minute",
        "VOXGATE_REALTIME__MAX_SOCKETS_PER_CLIENT": "64",
    }
    with (
        tempfile.TemporaryDirectory() as tmp,
        voxgate_server(Path(tmp), Path(tmp) / "server.log", env) as srv,
    ):
        rows = asyncio.run(run(srv.url, only, args.sockets, args.sentences, args.trials))
    print()
    print(table(rows))
    return 0 if all(row["verdict"] == "PASS" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
