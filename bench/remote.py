"""Remote-engine bench: voxgate B in front of voxgate A (loopback) against A alone, then A killed.

Two ``voxgate serve`` subprocesses on 127.0.0.1, fresh data dirs, no audio cache, no rate limits,
kokoro off (piper 1 worker × 1 thread and espeak 1 worker in each):

- **A**, the remote;
- **B**, with ``[remotes.a]`` (kind ``openai``, ``url = A/v1``, voice ``a-joe`` → A's ``joe``) whose
  chain falls back to B's own piper, then espeak.

1. *Parity*: the same texts (two Harvard sentences each) to A (voice ``joe``) and to B (voice
   ``a-joe``), one request at a time, alternating which server goes first, so the machine's noise
   hits both. Whole answers (WAV) give the latency ratio B/A (target ≤ 1.05, on the medians);
   streamed answers (PCM) the time to first audio, B − A (target ≤ +30 ms, on the medians).
   Neither server cuts a first sentence for streaming (``qos.first_audio_s`` 60 s), and B's remote
   voice has joe's own rate, so both stream the same pieces at the same rate and the hop is what differs.
2. *Failover*: two closed-loop clients send interactive requests (deadline 3 s) to B's ``a-joe``;
   A's whole process group is SIGKILLed mid-load, restarted on the same port after a while, and
   the bench waits until B answers from A again. Targets: B's interactive P95 ≤ 3 s from the
   kill until A is used again, and no 5xx in the whole run. Reported: the time from A being ready
   (its ``/readyz``) until B's first answer from A (B's health probe, every 5 s by default, plus
   the breaker's wait when it opened).

    PYTHONPATH=$PWD/src nice .venv/bin/python bench/remote.py                   # ≈ 3 minutes
    PYTHONPATH=$PWD/src nice .venv/bin/python bench/remote.py --short --publish docs/remote

Prints a markdown table; ``--publish DIR`` writes ``summary.md`` and ``summary.json`` there.
Every loop is bounded in requests and seconds; both servers are stopped whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from _sla_server import Server
from _sla_stats import quantile

DATA = Path(__file__).resolve().parent / "data" / "harvard_lists_1_3.txt"
RATIO_TARGET = 1.05
TTFA_TARGET_MS = 30.0
FAILOVER_P95_TARGET_S = 3.0
REQUEST_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 180.0
BACK_TIMEOUT_S = 90.0
"""Longest wait, after A is ready again, for B to answer from A."""
MAX_FAILOVER_REQUESTS = 4000
SETUP = (
    "A and B: `voxgate serve` on 127.0.0.1, piper (1 worker, 1 thread) and espeak, no cache, no rate "
    "limits. B: `[remotes.a]` kind `openai` at A's `/v1`, voice `a-joe` → A's `joe` at 22.05 kHz, chain "
    "a → piper → espeak, default breaker and 5 s health probe. Parity: each text (two sentences) to both, "
    "one request at a time, the first server alternating; no first-sentence cut for streaming on either "
    "(`qos.first_audio_s` 60 s), so both stream the same pieces. Failover: 2 closed-loop clients, "
    "interactive (3 s deadline); A's process group SIGKILLed, restarted on the same port."
)
"""How the run is set up, for the published report."""


def sentences(path: Path = DATA) -> list[str]:
    """The corpus's sentences (comment lines skipped)."""
    return [
        line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]


def pairs(lines: Sequence[str], count: int) -> list[str]:
    """``count`` texts of two consecutive sentences each (wrapping around the corpus)."""
    return [f"{lines[(2 * i) % len(lines)]} {lines[(2 * i + 1) % len(lines)]}" for i in range(count)]


def engine_settings() -> dict[str, Any]:
    """What A and B share: piper and espeak, one worker each, no cache, no rate limits."""
    return {
        "engines": {
            "kokoro": {"enabled": False},
            "piper": {"workers": 1, "threads": 1},
            "espeak": {"workers": 1},
        },
        # no first-sentence cut for streaming: B's estimate for its remote (A's service time plus the
        # hop and A's queue) is higher than A's for its piper, so B would cut its first piece shorter
        # and stream it sooner than A, which measures the cut, not the hop
        "qos": {"limits": {"default": "1000000/minute", "daily_chars": 0}, "first_audio_s": 60.0},
        "cache": {"url": "memory://?max_bytes=0"},
    }


def gateway_settings(remote_url: str) -> dict[str, Any]:
    """B: A as its ``openai`` remote ``a`` (default breaker and 5 s health probe), then its own engines."""
    settings = engine_settings()
    settings["remotes"] = {
        "a": {
            "kind": "openai",
            "url": f"{remote_url}/v1",
            "model": "voxgate",
            "languages": ["en"],
            "max_concurrency": 2,
            "voices": {"a-joe": "joe"},
            "sample_rate": 22050,  # joe's own rate: B answers at it, as A does (the default is 24 kHz)
        }
    }
    return settings


@dataclass(frozen=True, slots=True)
class Sample:
    """One parity request: which server, which mode, its text index, seconds, and who spoke."""

    server: str
    mode: str
    index: int
    seconds: float
    status: int
    engine: str


@dataclass(frozen=True, slots=True)
class Paired:
    """B against A for one mode: medians, P95s, median ratio and difference, per-text medians."""

    mode: str
    count: int
    a_median: float
    b_median: float
    a_p95: float
    b_p95: float
    ratio: float
    """Median of B over median of A."""
    difference_ms: float
    """Median of B minus median of A, in milliseconds."""
    paired_ratio: float
    """Median over texts of B's time over A's."""
    paired_difference_ms: float
    """Median over texts of B's time minus A's, in milliseconds."""


def paired(samples: Sequence[Sample], mode: str) -> Paired:
    """Compare B with A on the texts both answered (200) in ``mode``."""
    by = {(s.server, s.index): s.seconds for s in samples if s.mode == mode and s.status == 200}
    indices = sorted(i for (server, i) in by if server == "A" and ("B", i) in by)
    a = [by[("A", i)] for i in indices]
    b = [by[("B", i)] for i in indices]
    if not indices:
        nan = math.nan
        return Paired(mode, 0, nan, nan, nan, nan, nan, nan, nan, nan)
    return Paired(
        mode=mode,
        count=len(indices),
        a_median=statistics.median(a),
        b_median=statistics.median(b),
        a_p95=quantile(a, 0.95),
        b_p95=quantile(b, 0.95),
        ratio=statistics.median(b) / statistics.median(a),
        difference_ms=1000 * (statistics.median(b) - statistics.median(a)),
        paired_ratio=statistics.median([y / x for x, y in zip(a, b, strict=True)]),
        paired_difference_ms=1000 * statistics.median([y - x for x, y in zip(a, b, strict=True)]),
    )


@dataclass(frozen=True, slots=True)
class Call:
    """One failover request to B: start and end (seconds since the load began), status, who spoke."""

    start: float
    end: float
    status: int
    engine: str
    reason: str

    @property
    def seconds(self) -> float:
        """Its latency."""
        return self.end - self.start


@dataclass(slots=True)
class Failover:
    """What the failover run saw (times in seconds since the load began)."""

    killed_at: float = math.nan
    restarted_at: float = math.nan
    ready_at: float = math.nan
    back_at: float = math.nan
    """Start of B's first request answered by A after the restart."""
    breaker_after_kill: str = ""
    calls: list[Call] = field(default_factory=list)

    def window(self) -> list[Call]:
        """Requests in flight at the kill or started after it, until A answered again (or the end)."""
        end = self.back_at if not math.isnan(self.back_at) else math.inf
        return [c for c in self.calls if c.end >= self.killed_at and c.start <= end]

    def summary(self) -> dict[str, Any]:
        """Counts, latency quantiles and the recovery times, JSON-ready."""
        window = [c for c in self.window() if c.status == 200]
        return {
            "requests": len(self.calls),
            "5xx": sum(1 for c in self.calls if c.status >= 500),
            "no_answer": sum(1 for c in self.calls if c.status == 0),
            "window_requests": len(self.window()),
            "window_p50_s": quantile([c.seconds for c in window], 0.5),
            "window_p95_s": quantile([c.seconds for c in window], 0.95),
            "window_max_s": max((c.seconds for c in window), default=math.nan),
            "window_engines": dict(Counter(c.engine for c in self.window())),
            "window_reasons": dict(Counter(c.reason for c in self.window() if c.reason)),
            "restart_to_ready_s": self.ready_at - self.restarted_at,
            "ready_to_used_s": max(0.0, self.back_at - self.ready_at),
            "restart_to_used_s": self.back_at - self.restarted_at,
            "breaker_after_kill": self.breaker_after_kill,
        }


def render(parity: Sequence[Paired], failover: dict[str, Any], context: dict[str, Any]) -> str:
    """The report as markdown: one table, targets marked, then the context."""

    def ok(good: bool) -> str:
        return "✅" if good else "❌"

    whole = next(p for p in parity if p.mode == "whole")
    ttfa = next(p for p in parity if p.mode == "ttfa")
    p95 = failover["window_p95_s"]
    lines = [
        "| measure | A alone | B → A | result | target |",
        "|---|---|---|---|---|",
        f"| whole answer, median (P95), {whole.count} texts | {whole.a_median * 1000:.0f} ms "
        f"({whole.a_p95 * 1000:.0f}) | {whole.b_median * 1000:.0f} ms ({whole.b_p95 * 1000:.0f}) | "
        f"ratio {whole.ratio:.3f} (per text {whole.paired_ratio:.3f}) | ≤ {RATIO_TARGET} "
        f"{ok(whole.ratio <= RATIO_TARGET)} |",
        f"| time to first audio, median (P95), {ttfa.count} texts | {ttfa.a_median * 1000:.0f} ms "
        f"({ttfa.a_p95 * 1000:.0f}) | {ttfa.b_median * 1000:.0f} ms ({ttfa.b_p95 * 1000:.0f}) | "
        f"{ttfa.difference_ms:+.0f} ms (per text {ttfa.paired_difference_ms:+.0f}) | "
        f"≤ +{TTFA_TARGET_MS:.0f} ms "
        f"{ok(ttfa.difference_ms <= TTFA_TARGET_MS)} |",
        f"| A killed: B's interactive P50 / P95 / max, {failover['window_requests']} requests | — | "
        f"{failover['window_p50_s']:.2f} / {p95:.2f} / {failover['window_max_s']:.2f} s | "
        f"{_engines(failover['window_engines'])} | P95 ≤ {FAILOVER_P95_TARGET_S:.0f} s "
        f"{ok(p95 <= FAILOVER_P95_TARGET_S)} |",
        f"| 5xx / no answer, {failover['requests']} failover requests | — | "
        f"{failover['5xx']} / {failover['no_answer']} | | 0 "
        f"{ok(failover['5xx'] == 0 and failover['no_answer'] == 0)} |",
        f"| A restarted → ready → B uses A again | — | {failover['restart_to_ready_s']:.1f} s + "
        f"{failover['ready_to_used_s']:.1f} s | {failover['restart_to_used_s']:.1f} s after the restart | "
        "≈ health probe (5 s) + breaker wait |",
    ]
    reasons = ", ".join(f"{k} × {v}" for k, v in sorted(failover["window_reasons"].items())) or "none"
    lines += [
        "",
        f"Fallback reasons while A was gone: {reasons}. B's breaker on `a` after the kill: "
        f"{failover['breaker_after_kill'] or 'unknown'}.",
        "",
        "Context: " + ", ".join(f"{k} {v}" for k, v in context.items()) + ".",
    ]
    return "\n".join(lines) + "\n"


def _engines(counts: dict[str, int]) -> str:
    return ", ".join(f"{engine} × {n}" for engine, n in sorted(counts.items())) or "none"


# ---- the run -------------------------------------------------------------------------------------


async def _whole(client: httpx.AsyncClient, base: str, voice: str, text: str) -> tuple[float, int, str]:
    body = {"text": text, "voice": voice, "format": "wav"}
    started = time.perf_counter()
    response = await client.post(f"{base}/api/v1/tts", json=body)
    return time.perf_counter() - started, response.status_code, response.headers.get("X-Voxgate-Engine", "")


async def _first_audio(client: httpx.AsyncClient, base: str, voice: str, text: str) -> tuple[float, int, str]:
    body = {"text": text, "voice": voice, "format": "pcm", "stream": True}
    started = time.perf_counter()
    first = math.nan
    async with client.stream("POST", f"{base}/api/v1/tts", json=body) as response:
        async for chunk in response.aiter_bytes():
            if chunk and math.isnan(first):
                first = time.perf_counter() - started
        return first, response.status_code, response.headers.get("X-Voxgate-Engine", "")


async def parity_run(client: httpx.AsyncClient, a: Server, b: Server, texts: Sequence[str]) -> list[Sample]:
    """Each text to A and to B, whole then streamed, the server going first alternating per text."""
    targets = {"A": (a.url, "joe"), "B": (b.url, "a-joe")}
    for base, voice in targets.values():  # warm-up: connections, B's estimator, the OS's caches
        for text in texts[:3]:
            await _whole(client, base, voice, text + " Again.")
            await _first_audio(client, base, voice, text + " Once more.")
    samples: list[Sample] = []
    for index, text in enumerate(texts):
        order = ("A", "B") if index % 2 == 0 else ("B", "A")
        for mode, call in (("whole", _whole), ("ttfa", _first_audio)):
            for name in order:
                base, voice = targets[name]
                seconds, status, engine = await call(client, base, voice, text)
                samples.append(Sample(name, mode, index, seconds, status, engine))
    return samples


async def _breaker_state(client: httpx.AsyncClient, b: Server) -> str:
    with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
        status = (await client.get(f"{b.url}/api/v1/sla", timeout=5.0)).json()
        return str(status["breakers"]["a"]["state"])
    return ""


async def failover_run(
    client: httpx.AsyncClient, a: Server, b: Server, lines: Sequence[str], kill_after_s: float, down_s: float
) -> Failover:
    """Closed-loop interactive load on B; A SIGKILLed, restarted, and B watched until it uses A again."""
    result = Failover()
    began = time.perf_counter()
    stop = asyncio.Event()
    counter = iter(range(MAX_FAILOVER_REQUESTS))

    def now() -> float:
        return time.perf_counter() - began

    async def caller() -> None:
        for n in counter:
            if stop.is_set():
                return
            body = {
                "text": lines[n % len(lines)],
                "voice": "a-joe",
                "format": "wav",
                "priority": "interactive",
            }
            start = now()
            try:
                response = await client.post(f"{b.url}/api/v1/tts", json=body)
                status, engine = response.status_code, response.headers.get("X-Voxgate-Engine", "")
                reason = response.headers.get("X-Voxgate-Fallback-Reason", "")
            except httpx.HTTPError:
                status, engine, reason = 0, "", "no answer"
            result.calls.append(Call(start, now(), status, engine, reason))
            restarted = not math.isnan(result.restarted_at) and start > result.restarted_at
            if engine == "a" and restarted and math.isnan(result.back_at):
                result.back_at = start
            await asyncio.sleep(0)
        stop.set()

    async def conductor() -> None:
        try:
            await asyncio.sleep(kill_after_s)
            assert a.process is not None
            os.killpg(a.process.pid, signal.SIGKILL)  # the server and its workers, at once
            result.killed_at = now()
            a.process.wait(10)
            a.process = None
            await asyncio.sleep(min(3.0, down_s))
            result.breaker_after_kill = await _breaker_state(client, b)
            await asyncio.sleep(max(0.0, down_s - 3.0))
            a.start()  # the same port: B's configured URL
            result.restarted_at = now()
            async with client_for(a.url) as probe:
                await a.wait_ready(probe, READY_TIMEOUT_S)
            result.ready_at = now()
            give_up = time.perf_counter() + BACK_TIMEOUT_S
            while math.isnan(result.back_at) and time.perf_counter() < give_up:
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # a little steady state with A back
        finally:
            stop.set()

    await asyncio.gather(conductor(), caller(), caller())
    return result


def client_for(base: str) -> httpx.AsyncClient:
    """A client whose relative URLs go to ``base`` (``Server.wait_ready`` asks for ``/readyz``)."""
    return httpx.AsyncClient(base_url=base, timeout=5.0)


async def main_async(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    lines = sentences()
    texts = pairs(lines, args.texts)
    workdir = Path(tempfile.mkdtemp(prefix="voxgate-remote-bench-"))
    a = Server(workdir / "a", engine_settings())
    b = Server(workdir / "b", gateway_settings(f"http://127.0.0.1:{a.port}"))
    load_before = os.getloadavg()[0]
    try:
        a.start()
        b.start()
        async with client_for(a.url) as ca, client_for(b.url) as cb:
            await asyncio.gather(a.wait_ready(ca, READY_TIMEOUT_S), b.wait_ready(cb, READY_TIMEOUT_S))
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
            samples = await parity_run(client, a, b, texts)
            failover = await failover_run(client, a, b, lines, args.kill_after, args.down)
    finally:
        for server in (b, a):
            server.stop(grace_s=10)
    parity = [paired(samples, "whole"), paired(samples, "ttfa")]
    not_from_a = sum(1 for s in samples if s.server == "B" and s.engine != "a")
    context = {
        "mode": "short" if args.short else "full",
        "load average before/after": f"{load_before:.1f}/{os.getloadavg()[0]:.1f}",
        "B answers not from A during parity": not_from_a,
        "parity failures (non-200)": sum(1 for s in samples if s.status != 200),
    }
    print(f"server logs: {workdir}")
    summary = failover.summary()
    report = render(parity, summary, context)
    data = {
        "parity": [asdict(p) for p in parity],
        "failover": summary,
        "context": context,
        "failover_times": {
            k: getattr(failover, k) for k in ("killed_at", "restarted_at", "ready_at", "back_at")
        },
        "failover_calls": [asdict(c) for c in failover.calls],
        "parity_samples": [asdict(s) for s in samples],
    }
    return report, data


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", action="store_true", help="8 texts, a shorter outage (≈ 1.5 minutes)")
    parser.add_argument("--publish", type=Path, default=None, help="write summary.md and summary.json here")
    args = parser.parse_args(argv)
    args.texts = 8 if args.short else 20
    args.kill_after = 4.0 if args.short else 6.0
    args.down = 6.0 if args.short else 10.0
    return args


def main() -> None:
    args = parse_args()
    report, data = asyncio.run(main_async(args))
    print(report)
    if args.publish is not None:
        args.publish.mkdir(parents=True, exist_ok=True)
        command = "nice .venv/bin/python bench/remote.py" + (" --short" if args.short else "")
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        header = (
            f"# voxgate B in front of voxgate A\n\n`{command}`, {when}, on the 2-core machine "
            "shared with other jobs (see the load average below).\n\n"
            f"{SETUP}\n\n"
        )
        (args.publish / "summary.md").write_text(header + report)
        (args.publish / "summary.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"published: {args.publish}")


if __name__ == "__main__":
    main()
