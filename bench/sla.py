"""SLA bench: the real server under open-model load, overload, crashes, hangs and a memory leak.

Starts ``voxgate serve`` as a subprocess on 127.0.0.1 (fresh data dir, no cache, no rate limits),
measures the primary engine's capacity (closed loop, as many callers as it has workers), then
runs each scenario for a fixed time with Poisson arrivals at a multiple of that capacity, from
this process (asyncio + httpx; pinned to one core so it cannot starve the server):

  1 steady 50 % and 100 %            4 primary workers SIGSTOPped (a hang)
  2 overload 200 % and 400 %         5 the primary leaks memory (chaos); the watchdog must act
  3 primary workers SIGKILLed        6 batch floods the queue while interactive traffic runs
  7 every 10 s all workers of one engine (the last resort too) are SIGKILLed, at 70 %
  8 hostile clients (huge bodies, pathological Markdown, poison texts, clients that leave
    mid-stream, slow loris) beside interactive traffic at 50 %

Scenarios 7 and 8 also probe /healthz every 100 ms (P99 target); 8 counts the attackers' answers
apart from the legitimate traffic's (legitimate requests must not fail, attackers must not get 5xx).

Every request goes to a CSV per scenario; the report directory gets summary.md (table, targets,
resources), summary.json and one PNG per scenario (latency with fault moments, engine mix,
worker RSS). Targets are printed pass/fail per scenario; the exit status is 1 if one failed.

    nice .venv/bin/python bench/sla.py --short          # ≈ 7 minutes (three servers: main, leak, hostile)
    nice .venv/bin/python bench/sla.py --full           # release: 90 s per scenario (≈ 22 minutes)
    nice .venv/bin/python bench/sla.py --soak           # 30 min at 70 %: RSS slope, latency drift
    nice .venv/bin/python bench/sla.py --short --only kill,freeze --publish docs/sla
    nice .venv/bin/python bench/sla.py --only kill-all,hostile --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx
import psutil

from _sla_attack import ATTACKS, POISON_MARKER, AttackRecord, attack_checks, attack_stats
from _sla_chaos import (
    FaultEvent,
    RssSample,
    inject,
    kill_all,
    outcomes,
    restart_delta,
    restarts,
    sample_rss,
)
from _sla_hostile import attack
from _sla_load import Planned, RequestRecord, measure_capacity, plan, run_open, send
from _sla_probe import HealthProbe, health_check, health_stats, probe_health
from _sla_report import plot_scenario, render_soak, render_summary, write_records
from _sla_report_hostile import write_attacks
from _sla_scenarios import (
    HARD_RSS_MB,
    MODES,
    OWN_SERVER,
    SCENARIOS,
    SOAK_LOAD,
    SOFT_RSS_MB,
    STEADY_MIX,
    Mode,
    Scenario,
    leak_mb_per_call,
    server_settings,
)
from _sla_server import REPO, Server, settle
from _sla_stats import RSS_SLOPE_MB_PER_H, STRICT, Check, Summary, drift, rss_trends, summarize

_LOAD_LIMITS = httpx.Limits(max_connections=2000, max_keepalive_connections=200)


class Bench:
    """One run against one server: capacity, scenarios, records, plots.

    Args:
        args: the command line.
        out: the report directory.
    """

    def __init__(self, args: argparse.Namespace, out: Path) -> None:
        self.args = args
        self.out = out
        self.mode: Mode = MODES["full" if args.full else "short"]
        self.voice: str = args.voice
        self.primary = "piper" if args.voice == "joe" else "kokoro"
        self.workers = {"piper": 2, "espeak": 2} | ({"kokoro": 2} if self.primary == "kokoro" else {})
        self.me = psutil.Process()
        self.started = time.perf_counter()
        self.duration_s: float = args.seconds or self.mode.scenario_s
        self.last_records: list[RequestRecord] = []
        self.last_rss: list[RssSample] = []

    async def run_server(
        self, name: str, settings: dict[str, Any], scenarios: list[Scenario], capacity: float | None
    ) -> tuple[float, list[Summary]]:
        """Start a server, measure capacity if not given, run ``scenarios`` on it, stop it."""
        server = Server(self.out / f"server-{name}", settings)
        server.start()
        all_cpus = set(range(os.cpu_count() or 1))
        os.sched_setaffinity(server.process.pid if server.process else 0, all_cpus)  # not our one core
        summaries: list[Summary] = []
        try:
            async with (
                httpx.AsyncClient(base_url=server.url, timeout=10.0) as control,
                httpx.AsyncClient(base_url=server.url, limits=_LOAD_LIMITS) as load,
            ):
                await server.wait_ready(control)
                await settle(control, self.workers, lambda: self.probe(load))
                if capacity is None:
                    capacity, sent = await measure_capacity(
                        load, self.voice, self.primary, self.workers[self.primary], self.mode.capacity_s
                    )
                    self.say(f"capacity of {self.primary}: {capacity:.2f} requests/s ({sent} sent)")
                for scenario in scenarios:
                    summaries.append(await self.scenario(server, control, load, scenario, capacity))
        finally:
            server.stop()
        return capacity, summaries

    async def probe(self, load: httpx.AsyncClient) -> RequestRecord:
        """One small interactive request between scenarios (lets a half-open breaker close)."""
        return await send(
            load, self.voice, Planned(0, 0.0, "interactive", "Settling down."), time.perf_counter()
        )

    async def scenario(
        self,
        server: Server,
        control: httpx.AsyncClient,
        load: httpx.AsyncClient,
        scenario: Scenario,
        capacity: float,
    ) -> Summary:
        """Run one scenario and write its CSV and plot."""
        duration = self.duration_s
        if not await settle(control, self.workers, lambda: self.probe(load)):
            self.say(f"warning: server not settled before {scenario.key}")
        seed = 1000 + SCENARIOS.index(scenario) if scenario in SCENARIOS else 999
        schedule = plan(scenario.mixes, capacity * scenario.load, duration, seed)
        before, served_before = await restarts(control), await outcomes(control)
        my_cpu, server_cpu, wall = _cpu(self.me), server.cpu_seconds(), time.perf_counter()
        t0 = time.perf_counter()
        stop = asyncio.Event()
        every = 5.0 if duration > 600 else self.mode.rss_every_s
        sampler = asyncio.ensure_future(sample_rss(control, server, t0, every, stop))
        faults: asyncio.Future[list[FaultEvent]] | None = None
        if scenario.fault in ("kill", "freeze"):
            faults = asyncio.ensure_future(
                inject(
                    scenario.fault,
                    control,
                    server,
                    self.primary,
                    t0,
                    every_s=self.mode.fault_every_s,
                    duration_s=duration,
                )
            )
        elif scenario.fault == "kill-all":
            faults = asyncio.ensure_future(
                kill_all(
                    control,
                    server,
                    list(self.workers),
                    t0,
                    every_s=self.mode.kill_all_every_s,
                    duration_s=duration,
                    seed=seed,
                )
            )
        probing = asyncio.ensure_future(probe_health(server.url, t0, duration)) if scenario.probe else None
        hostile = scenario.fault == "hostile"
        kinds = [k for k in self.args.attackers.split(",") if k]
        attackers = (
            asyncio.ensure_future(attack(server.url, self.voice, t0, duration, kinds)) if hostile else None
        )
        records = await run_open(load, self.voice, schedule)
        events = await faults if faults is not None else []
        probes = await probing if probing is not None else []
        attacks = await attackers if attackers is not None else []
        stop.set()
        rss = await sampler
        wall = time.perf_counter() - wall
        my_cpu = 100 * (_cpu(self.me) - my_cpu) / wall
        server_cpu = 100 * (server.cpu_seconds() - server_cpu) / wall
        delta = restart_delta(before, await _counters(restarts, control))
        served = restart_delta(served_before, await _counters(outcomes, control))
        health = health_stats(probes) if scenario.probe else None
        extra = [health_check(health)] if health is not None else []
        extra += attack_checks(attacks, served) if hostile else []
        summary = summarize(
            records,
            key=scenario.key,
            title=scenario.title,
            kind=scenario.kind,
            offered_rps=capacity * scenario.offered_share,
            duration_s=duration,
            restarts=delta,
            rss=rss,
            generator_cpu_pct=my_cpu,
            server_cpu_pct=server_cpu,
            health=health,
            attacks=attack_stats(attacks),
            server_outcomes=served,
            extra_checks=extra,
        )
        self.save(scenario, records, events, rss, summary, duration)
        self.save_hostile(scenario, probes, attacks)
        self.last_records, self.last_rss = records, rss
        return summary

    def save(
        self,
        scenario: Scenario,
        records: list[RequestRecord],
        events: list[FaultEvent],
        rss: list[RssSample],
        summary: Summary,
        duration: float,
    ) -> None:
        """Write the scenario's records, faults, RSS samples and plot; print its verdict."""
        write_records(self.out / f"{scenario.key}.csv", records)
        (self.out / f"{scenario.key}-faults.json").write_text(
            json.dumps([asdict(e) for e in events], indent=1)
        )
        (self.out / f"{scenario.key}-rss.json").write_text(json.dumps([asdict(s) for s in rss]))
        limits = (
            [("soft limit", SOFT_RSS_MB), ("hard limit", HARD_RSS_MB)] if scenario.fault == "leak" else []
        )
        if not self.args.no_plots:
            plot_scenario(
                self.out / f"{scenario.key}.png", scenario.title, records, events, rss, duration, limits
            )
        verdict = "PASS" if summary.passed else "FAIL"
        misses = "; ".join(f"{c.name}: {c.detail}" for c in summary.checks if not c.ok)
        health = summary.health
        self.say(
            f"{verdict} {scenario.title}: {summary.requests} requests, {summary.ok_pct:.1f} % 2xx, "
            f"{summary.rejected_pct:.1f} % 429, {summary.server_errors} × 5xx, "
            f"{summary.dropped_pct:.1f} % dropped, "
            f"interactive P95 {summary.latency['interactive'].p95:.2f} s, "
            f"availability {summary.availability_pct:.2f} %, restarts {summary.restarts or 0}"
            + (f", /healthz P99 {health.p99_ms:.0f} ms max {health.max_ms:.0f} ms" if health else "")
            + (f", {sum(a.n for a in summary.attacks)} attacker attempts" if summary.attacks else "")
            + (f" — {misses}" if misses else "")
        )

    def save_hostile(
        self, scenario: Scenario, probes: list[HealthProbe], attacks: list[AttackRecord]
    ) -> None:
        """Write the scenario's ``/healthz`` probes and attacker attempts, if it had any."""
        if probes:
            (self.out / f"{scenario.key}-healthz.json").write_text(json.dumps([asdict(p) for p in probes]))
        if attacks:
            write_attacks(self.out / f"{scenario.key}-attacks.csv", attacks)

    def say(self, line: str) -> None:
        """Print a progress line with the minutes and seconds since the start."""
        elapsed = time.perf_counter() - self.started
        print(f"[{int(elapsed // 60):02d}:{elapsed % 60:04.1f}] {line}", flush=True)


async def _counters(
    read: Callable[[httpx.AsyncClient], Awaitable[dict[str, float]]], control: httpx.AsyncClient
) -> dict[str, float]:
    """A counter reading after a scenario, or none if the server does not answer (e.g. its loop is stuck)."""
    try:
        return await read(control)
    except httpx.HTTPError as exc:
        print(f"warning: no counters after the scenario ({type(exc).__name__})", flush=True)
        return {}


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


async def main_async(args: argparse.Namespace, out: Path) -> list[Summary]:
    """Run the chosen scenarios (or the soak) and write the report."""
    bench = Bench(args, out)
    only = set(args.only.split(",")) if args.only else None
    chosen = [s for s in SCENARIOS if only is None or s.key in only or s.fault in only]
    started = time.time()
    context = {
        "mode": "soak" if args.soak else bench.mode.name,
        "machine": f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"load average before the run {os.getloadavg()[0]:.2f}",
        "primary": f"{bench.primary} (voice {bench.voice}), chain {bench.primary} → espeak",
        "workers": ", ".join(f"{e} {n}" for e, n in bench.workers.items()) + " (1 ONNX thread each)",
        "generator": f"this process, pinned to CPU {sorted(os.sched_getaffinity(0))}",
    }
    summaries: list[Summary] = []
    if args.soak:
        soak = Scenario("soak", f"soak {SOAK_LOAD:.0%}", STRICT, SOAK_LOAD, STEADY_MIX)
        bench.duration_s = 60 * args.soak_minutes
        capacity, summaries = await bench.run_server("soak", server_settings(bench.primary), [soak], None)
        summaries = [soak_report(bench, summaries[0], args.soak_minutes)]
    else:
        main = [s for s in chosen if s.fault not in OWN_SERVER]
        leak = [s for s in chosen if s.fault == "leak"]
        hostile = [s for s in chosen if s.fault == "hostile"]
        capacity, summaries = await bench.run_server("main", server_settings(bench.primary), main, None)
        if leak:
            leak_mb = leak_mb_per_call(capacity, leak[0].load, bench.workers[bench.primary], bench.duration_s)
            settings = server_settings(bench.primary, leak_mb=leak_mb)
            _, more = await bench.run_server("leak", settings, leak, capacity)
            summaries += more
            context["leak scenario"] = (
                f"{leak_mb:.1f} MB leaked per engine call (one call per sentence), "
                f"soft/hard RSS limit {SOFT_RSS_MB}/{HARD_RSS_MB} MB"
            )
        if hostile:
            settings = server_settings(bench.primary, poison=POISON_MARKER)
            _, more = await bench.run_server("hostile", settings, hostile, capacity)
            summaries += more
            context["hostile scenario"] = (
                f"own server; {bench.primary}'s chaos wrapper crashes its worker on {POISON_MARKER!r} "
                "(engines.<primary>.chaos.poison_text, poison_effect crash)"
            )
        order = [s.key for s in SCENARIOS]
        summaries.sort(key=lambda s: order.index(s.key))
    context |= {
        "capacity": f"{capacity:.2f} requests/s of {bench.primary} "
        f"(closed loop, {bench.mode.capacity_s:g} s)",
        "duration": f"{(time.time() - started) / 60:.1f} min in all; "
        f"{bench.duration_s:g} s of arrivals per scenario",
        "command": "bench/sla.py " + " ".join(sys.argv[1:]),
    }
    text = render_summary(summaries, context)
    if args.soak:
        text += (out / "soak.md").read_text()
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps([asdict(s) for s in summaries], indent=1, default=str))
    return summaries


def soak_report(bench: Bench, summary: Summary, minutes: float) -> Summary:
    """Add the soak's RSS slope per worker and latency drift to the report and the targets."""
    window = min(600.0, 60 * minutes / 3)
    warmup = min(300.0, 60 * minutes / 6)
    trends = rss_trends(bench.last_rss, min_span_s=window, warmup_s=warmup)
    first, last = drift(bench.last_records, window)
    text = render_soak(trends, first, last, RSS_SLOPE_MB_PER_H)
    note = f"\nEach worker's first {warmup / 60:g} min (model paging in) are left out of its slope.\n"
    (bench.out / "soak.md").write_text("\n" + text + note)
    slope_ok = bool(trends) and all(t.slope_mb_per_h < RSS_SLOPE_MB_PER_H for t in trends)
    worst = max((t.slope_mb_per_h for t in trends), default=float("nan"))
    check = Check(f"RSS slope < {RSS_SLOPE_MB_PER_H:g} MB/h per worker", slope_ok, f"worst {worst:+.2f} MB/h")
    return replace(summary, checks=(*summary.checks, check))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--short", action="store_true", help="16 s a scenario, ≈ 7 minutes (default)")
    group.add_argument("--full", action="store_true", help="release run: 90 s per scenario")
    group.add_argument("--soak", action="store_true", help="a long run at 70 %% of capacity")
    parser.add_argument("--soak-minutes", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=None, help="override the seconds per scenario")
    parser.add_argument(
        "--only", default="", help="comma-separated scenario keys or faults (kill, leak, ...)"
    )
    parser.add_argument(
        "--attackers",
        default="",
        help="scenario 8: comma-separated attackers to run (default all: "
        + ", ".join(spec.kind for spec in ATTACKS)
        + ")",
    )
    parser.add_argument("--voice", default="joe", help="joe: piper primary; a kokoro voice: kokoro primary")
    parser.add_argument("--out", type=Path, default=None, help="report directory (default bench/reports/...)")
    parser.add_argument("--publish", type=Path, default=None, help="also copy summary.md and PNGs here")
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--no-pin", action="store_true", help="do not pin this process to one core")
    args = parser.parse_args(argv)
    unknown = {k for k in args.attackers.split(",") if k} - {spec.kind for spec in ATTACKS}
    if unknown:
        parser.error(f"unknown attackers: {', '.join(sorted(unknown))}")
    return args


def main() -> None:
    """Run the bench; exit 1 when a target failed."""
    args = parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    mode = "soak" if args.soak else "full" if args.full else "short"
    out = args.out or REPO / "bench" / "reports" / f"sla-{stamp}-{mode}"
    out.mkdir(parents=True, exist_ok=True)
    if not args.no_pin and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {(os.cpu_count() or 1) - 1})
    summaries = asyncio.run(main_async(args, out))
    print((out / "summary.md").read_text())
    print(f"report: {out}")
    if args.publish:
        args.publish.mkdir(parents=True, exist_ok=True)
        for path in [out / "summary.md", *sorted(out.glob("*.png"))]:
            shutil.copy2(path, args.publish / path.name)
        print(f"published: {args.publish}")
    sys.exit(0 if all(s.passed for s in summaries) else 1)


if __name__ == "__main__":
    main()
