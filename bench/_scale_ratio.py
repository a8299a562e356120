"""Piper with 1 vs 2 engine slots, five ways side by side (``bench/scale.py --replicas-ratio``).

Issue 13 wants 2 piper replicas (2 cores) to give ≥ 1.7× the throughput of one. Each row below
runs the same closed loop with 1 caller, then with 2 (one per slot), alternating for ``--rounds``,
over the same text sequence (the Harvard sentences in order, the i-th call of a phase speaks
sentence i whoever makes it; no per-caller suffix: the cache is off instead, so both phases
speak the same words):

1. ``engine``: the piper engine in-process (no voxgate path): 1 process, then 2 processes at once;
2. ``machine``: 1 engine process alone vs the same beside a pure-Python spinner (in a session of
   its own) on the other core: when the engine's CPU per call grows, the cores slow each other
   down and no software can reach 2×;
3. ``sessions``: 2 engine processes in one session vs each in a session of its own: above 1 when
   other sessions compete for the CPU, which the kernel shares per session first (autogroup; see
   :func:`autogroup_note`), so a gateway's workers, all in its session, get one session's share;
4. ``local://``: one ``voxgate serve`` with 2 piper workers × 1 thread, closed-loop HTTP callers;
5. ``ray://local``: the same gateway with ``qos.backend = "ray://local"`` (2 replicas).

For each phase: calls/s, answers by ``X-Voxgate-Spoken-By`` (only piper's count), the engine
processes' CPU per call (from ``/proc``, summed over the piper workers or replicas), the gateway's
and the client's CPU per call, and the load average when the phase started.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from voxgate.testing import HARVARD_SENTENCES, free_port

_TCK = os.sysconf("SC_CLK_TCK")
_OPTS_LANGUAGE = "en"


@dataclass
class Phase:
    """One timed phase: ``slots`` callers (or processes) for ``wall_s``."""

    row: str
    slots: int
    load: float
    variant: str = ""
    """How the second phase of a row differs (``beside a spinner``, ``own sessions``); "" in the first."""
    wall_s: float = 0.0
    calls: int = 0
    piper: int = 0
    audio_s: float = 0.0
    engine_cpu_s: float = 0.0
    gateway_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0
    stack_cpu_s: float = 0.0
    """CPU of the rest of the served stack (espeak's worker, Ray's processes; or the spinner)."""
    spoken_by: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Piper answers (or engine calls) per second."""
        return self.piper / self.wall_s if self.wall_s else 0.0

    @property
    def others_cores(self) -> float:
        """Cores the rest of the machine (other processes, not this bench's) used meanwhile."""
        ours = self.engine_cpu_s + self.gateway_cpu_s + self.client_cpu_s + self.stack_cpu_s
        return max(0.0, self.machine_cpu_s - ours) / self.wall_s if self.wall_s else 0.0

    @property
    def engine_busy(self) -> float:
        """Fraction of the phase each engine slot spent computing (CPU seconds / slot / wall)."""
        return self.engine_cpu_s / self.slots / self.wall_s if self.wall_s else 0.0

    def per_call_ms(self, cpu_s: float) -> float:
        """``cpu_s`` spread over the phase's calls, in ms."""
        return 1000.0 * cpu_s / self.calls if self.calls else float("nan")


# ---- process CPU from /proc ----------------------------------------------------------------------


def _machine_cpu_s() -> float:
    """CPU seconds every core of the machine has spent busy since boot (``/proc/stat``)."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / _TCK


def _processes() -> dict[int, tuple[int, float, str]]:
    """Every process: pid → (parent pid, CPU seconds, command line)."""
    out: dict[int, tuple[int, float, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TCK, cmd)
    return out


def _descendants(root: int, procs: dict[int, tuple[int, float, str]]) -> set[int]:
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, (parent, _, _) in procs.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _cpu_by_role(root: int) -> dict[str, float]:
    """CPU seconds of the gateway ``root`` and its descendants, by role: ``gateway``, ``engine``
    (piper workers: forkserver children; Ray replicas of voxgate-piper), ``other`` (espeak's
    worker, Ray's own processes)."""
    procs = _processes()
    roles: dict[str, float] = collections.defaultdict(float)
    for pid in _descendants(root, procs):
        if pid not in procs:
            continue
        _, cpu, cmd = procs[pid]
        if pid == root:
            roles["gateway"] += cpu
        elif "ServeReplica:voxgate-piper" in cmd:
            roles["engine"] += cpu
        else:
            roles[f"other:{pid}"] += cpu
    return roles


# ---- row 1 and 2: the engine in-process ----------------------------------------------------------


def child_main(seconds: float) -> None:
    """``python _scale_ratio.py engine SECONDS``: load piper, say ready, wait for ``go``, speak
    the Harvard sentences in order for SECONDS, print calls/CPU/audio as JSON."""
    from voxgate.engines.piper import PiperEngine
    from voxgate.types import SynthesisOptions

    engine = PiperEngine(threads=1)
    engine.load()
    opts = SynthesisOptions(language=_OPTS_LANGUAGE)
    for _ in engine.synthesize(HARVARD_SENTENCES[0], "joe", opts):
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    calls, audio = 0, 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        for chunk in engine.synthesize(HARVARD_SENTENCES[calls % len(HARVARD_SENTENCES)], "joe", opts):
            audio += len(chunk.audio) / chunk.sample_rate
        calls += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"calls": calls, "wall": wall, "cpu": cpu, "audio": audio}), flush=True)


def spinner_main(seconds: float) -> None:
    """``python _scale_ratio.py spin SECONDS``: keep one core busy without touching memory."""
    print("ready", flush=True)
    sys.stdin.readline()
    c0 = time.process_time()
    stop = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < stop:
        n += 1
    print(time.process_time() - c0, flush=True)


def _in_process(row: str, kinds: list[str], seconds: float, variant: str = "") -> Phase:
    """``kinds`` processes started together (``engine`` or ``spin``); figures of the engines.
    With ``variant == "own sessions"`` each process gets its own session (its own autogroup)."""
    phase = Phase(row, kinds.count("engine"), os.getloadavg()[0], variant)
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, kind, str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            # the spinner in a session of its own takes its CPU from the other sessions' shares,
            # not from the engine's (see autogroup_note): only the cores' interference remains
            start_new_session=variant == "own sessions" or kind == "spin",
        )
        for kind in kinds
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"{proc.args!r} did not start")
        m0 = _machine_cpu_s()
        for proc in procs:  # as close together as two writes get
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [proc.communicate(timeout=seconds + 60)[0] for proc in procs]
        phase.machine_cpu_s = _machine_cpu_s() - m0
        for kind, out in zip(kinds, outs, strict=True):
            if kind != "engine":
                phase.stack_cpu_s += float(out.strip().splitlines()[-1])
                continue
            got = json.loads(out.strip().splitlines()[-1])
            phase.calls += got["calls"]
            phase.piper += got["calls"]
            phase.engine_cpu_s += got["cpu"]
            phase.audio_s += got["audio"]
            phase.wall_s = max(phase.wall_s, got["wall"])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    phase.spoken_by = {"piper (in-process)": phase.calls}
    return phase


# ---- rows 3 and 4: over HTTP -----------------------------------------------------------------------

_CONFIG = """
[qos]
backend = "{backend}"
[qos.limits]
default = "1000000/minute"
daily_chars = 0
[jobs]
enabled = false
[cache]
url = "memory://?max_bytes=0"
[engines.kokoro]
enabled = false
[engines.piper]
workers = 2
threads = 1
[engines.espeak]
workers = 1
threads = 1
"""


@dataclass
class Gateway:
    """A ``voxgate serve`` this bench started (stopped by its process group)."""

    backend: str
    workdir: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start, then wait until piper has 2 slots; returns the seconds it took."""
        config = self.workdir / f"{self.backend.replace(':', '').replace('/', '')}.toml"
        config.write_text(_CONFIG.format(backend=self.backend), encoding="utf-8")
        data = self.workdir / f"data-{config.stem}"
        data.mkdir(exist_ok=True)
        self.port = free_port()
        log = os.open(self.workdir / f"{config.stem}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        t0 = time.monotonic()
        voxgate = str(Path(sys.executable).parent / "voxgate")
        self.proc = subprocess.Popen(
            [voxgate, "serve", "--port", str(self.port), "-c", str(config)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=os.environ | {"VOXGATE_DATA_DIR": str(data), "RAY_AUTH_MODE": "disabled"},
        )  # fmt: skip
        os.close(log)
        while time.monotonic() - t0 < 300:
            if self.proc.poll() is not None:
                raise RuntimeError(f"voxgate serve exited; see {self.workdir}/{config.stem}.log")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"http://127.0.0.1:{self.port}/api/v1/sla", timeout=2)
                piper = r.json().get("engines", {}).get("piper", {}) if r.status_code == 200 else {}
                if piper.get("capacity", 0) >= 2:
                    return time.monotonic() - t0
            time.sleep(0.5)
        raise RuntimeError(f"piper did not get 2 slots in 300 s; see {self.workdir}/{config.stem}.log")

    def stop(self) -> None:
        """SIGTERM the group (Ray's processes of ``ray://local`` are in it), SIGKILL after 30 s."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


async def _http_phase(row: str, gateway: Gateway, callers: int, seconds: float) -> Phase:
    assert gateway.proc is not None
    phase = Phase(row, callers, os.getloadavg()[0])
    seen: collections.Counter[str] = collections.Counter()
    url = f"http://127.0.0.1:{gateway.port}/api/v1/tts"
    issued = 0
    async with httpx.AsyncClient(timeout=30) as client:

        async def loop() -> None:
            nonlocal issued
            while time.monotonic() < stop_at:
                text = HARVARD_SENTENCES[issued % len(HARVARD_SENTENCES)]
                issued += 1
                r = await client.post(url, json={"text": text, "voice": "joe", "format": "wav"})
                by = r.headers.get("x-voxgate-spoken-by", "") if r.status_code == 200 else str(r.status_code)
                if r.headers.get("x-voxgate-cache") == "hit":
                    by += " (cache hit)"
                seen[by] += 1
                if r.status_code != 200:
                    await asyncio.sleep(0.1)  # a refusal comes back at once: do not spin on it
                else:
                    with wave.open(io.BytesIO(r.content)) as w:
                        phase.audio_s += w.getnframes() / w.getframerate()

        before, c0, m0 = _cpu_by_role(gateway.proc.pid), time.process_time(), _machine_cpu_s()
        t0 = time.monotonic()
        stop_at = t0 + seconds
        await asyncio.gather(*(loop() for _ in range(callers)))
        phase.wall_s = time.monotonic() - t0
        after, phase.client_cpu_s = _cpu_by_role(gateway.proc.pid), time.process_time() - c0
        phase.machine_cpu_s = _machine_cpu_s() - m0
    used = {role: cpu - before.get(role, 0.0) for role, cpu in after.items()}
    phase.gateway_cpu_s = used.pop("gateway", 0.0)
    if "engine" in used:  # Ray: the replicas are named
        phase.engine_cpu_s = used.pop("engine")
    else:  # local://: the piper workers are the forkserver's busy children; espeak's stays idle
        busy = sorted(used.values(), reverse=True)
        phase.engine_cpu_s = sum(busy[:2])
        used = {str(i): cpu for i, cpu in enumerate(busy[2:])}
    phase.stack_cpu_s = sum(used.values())
    phase.calls = sum(seen.values())
    phase.piper = sum(n for by, n in seen.items() if by.endswith("@piper"))
    phase.spoken_by = dict(seen)
    return phase


# ---- the run and its report ----------------------------------------------------------------------


_IN_PROCESS_PLANS: dict[str, tuple[tuple[list[str], str], tuple[list[str], str]]] = {
    "engine": ((["engine"], ""), (["engine", "engine"], "")),
    "machine": ((["engine"], ""), (["engine", "spin"], "beside a spinner")),
    "sessions": ((["engine", "engine"], ""), (["engine", "engine"], "own sessions")),
}
"""Each in-process row's two phases: the processes started, and what makes the second differ."""


def autogroup_note() -> str:
    """What the kernel's autogroup scheduling does here, and the niced processes it undoes.

    With ``kernel.sched_autogroup_enabled = 1`` the CPU is shared between sessions first (one
    autogroup per ``setsid``), and only then between the processes of a session: a process's nice
    value weighs only inside its own session, so a ``nice -n 19`` job started in its own session
    still takes a full session's share, and every process of one session (a gateway and all its
    workers) shares one session's share.
    """
    try:
        enabled = Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return "autogroup: not available (CPU shared per process)"
    if not enabled:
        return "autogroup: off (CPU shared per process)"
    loud: dict[str, str] = {}  # autogroup → one niced process in it
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            nice = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[16])
            group = Path(f"/proc/{entry}/autogroup").read_text().split()
        except (OSError, IndexError, ValueError):
            continue
        if len(group) == 3 and nice >= 10 and int(group[2]) < nice and group[0] not in loud:
            loud[group[0]] = f"pid {entry} (nice {nice}, its {group[0].lstrip('/')} at nice {group[2]})"
    note = "autogroup: ON (CPU shared per session first; nice counts only inside a session)"
    if loud:
        note += "; niced jobs that still take a full session's share: " + ", ".join(loud.values())
        note += " (`echo 19 > /proc/PID/autogroup` makes them yield)"
    return note


def run(seconds: float, rounds: int, rows: list[str]) -> list[Phase]:
    """Every row in ``rows`` (``engine``, ``machine``, ``local``, ``ray``), each as 1 then 2 slots
    (alternating order by round), ``seconds`` per phase."""
    phases: list[Phase] = []

    def report(phase: Phase) -> None:
        phases.append(phase)
        print(f"  {_line(phase)}", flush=True)

    for row in rows:
        print(f"{row}: load {os.getloadavg()[0]:.1f}", flush=True)
        if row in _IN_PROCESS_PLANS:
            plan = _IN_PROCESS_PLANS[row]
            for r in range(rounds):
                for kinds, variant in plan if r % 2 == 0 else plan[::-1]:
                    report(_in_process(row, kinds, seconds, variant))
            continue
        backend = {"local": "local://", "ray": "ray://local"}[row]
        gateway = Gateway(backend, Path(tempfile.mkdtemp(prefix="vgratio", dir="/tmp")))
        try:
            print(f"  {backend}: 2 piper slots after {gateway.start():.0f} s", flush=True)
            asyncio.run(_http_phase(row, gateway, 2, min(5.0, seconds)))  # warm both alike
            assert gateway.proc is not None
            before = _cpu_by_role(gateway.proc.pid)
            time.sleep(10.0)
            idle = {k: v - before.get(k, 0.0) for k, v in _cpu_by_role(gateway.proc.pid).items()}
            print(
                f"  idle for 10 s, the stack used {sum(idle.values()) / 10:.3f} cores "
                f"(gateway {idle.get('gateway', 0.0) / 10:.3f})",
                flush=True,
            )
            for r in range(rounds):
                for callers in (1, 2) if r % 2 == 0 else (2, 1):
                    report(asyncio.run(_http_phase(row, gateway, callers, seconds)))
        finally:
            gateway.stop()
    return phases


def _label(p: Phase) -> str:
    if p.row in _IN_PROCESS_PLANS:
        noun = "process" if p.slots == 1 else "processes"
        where = p.variant or ("one session" if p.row == "sessions" else "")
        return f"{p.slots} {noun}" + (f", {where}" if where else "")
    return f"{p.slots} caller{'s' if p.slots > 1 else ''}"


def _line(p: Phase) -> str:
    per_audio = 1000.0 * p.engine_cpu_s / p.audio_s if p.audio_s else float("nan")
    return (
        f"{_label(p)}: {p.rate:.2f} piper/s, engine CPU {p.per_call_ms(p.engine_cpu_s):.0f} ms/call "
        f"({per_audio:.0f} ms per s of audio), gateway {p.per_call_ms(p.gateway_cpu_s):.0f} ms/call, "
        f"client {p.per_call_ms(p.client_cpu_s):.0f} ms/call; engines busy {p.engine_busy:.0%}; "
        f"rest of the machine {p.others_cores:.2f} cores; answered by {p.spoken_by}; load {p.load:.1f}"
    )


def _split(phases: list[Phase], row: str) -> tuple[list[Phase], list[Phase]]:
    """A row's first phases (1 slot; or one session) and second phases (2 slots, beside, own sessions)."""
    mine = [p for p in phases if p.row == row]
    if row in _IN_PROCESS_PLANS:
        return [p for p in mine if not p.variant and (row == "sessions" or p.slots == 1)], [
            p for p in mine if p.variant or (row == "engine" and p.slots == 2)
        ]
    return [p for p in mine if p.slots == 1], [p for p in mine if p.slots == 2]


def ratios(phases: list[Phase], row: str) -> list[float]:
    """Per round: throughput of the row's second phase over its first. For ``machine``, the
    engine's speed per CPU second instead (CPU per call alone over beside the spinner): its
    throughput there also depends on how the scheduler shares the cores with the spinner."""
    first, second = _split(phases, row)
    if row == "machine":
        return [
            a.per_call_ms(a.engine_cpu_s) / b.per_call_ms(b.engine_cpu_s)
            for a, b in zip(first, second, strict=False)
            if a.calls and b.calls
        ]
    return [b.rate / a.rate for a, b in zip(first, second, strict=False) if a.rate > 0]


def summary(phases: list[Phase]) -> None:
    """The side-by-side table: one line per row, mean and spread of the per-round ratios."""
    print(
        "\n| path | first | second | ratio (per round) | engine CPU/call | engines busy "
        "| rest of the machine | target |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row, what in (
        ("engine", "piper in-process, 1 vs 2 processes (one session)"),
        ("machine", "1 piper process alone vs beside a spinner (ratio: CPU per call)"),
        ("sessions", "2 piper processes in one session vs each in its own"),
        ("local", "`local://` over HTTP, 1 vs 2 callers"),
        ("ray", "`ray://local` over HTTP, 1 vs 2 callers"),
    ):
        mine = [p for p in phases if p.row == row]
        alone, other = _split(phases, row)
        if not alone or not other:
            continue
        each = ratios(phases, row)
        spread = ", ".join(f"{r:.2f}" for r in each)
        cpu = [statistics.mean(p.per_call_ms(p.engine_cpu_s) for p in ps) for ps in (alone, other)]
        busy = [statistics.mean(p.engine_busy for p in ps) for ps in (alone, other)]
        rest = [p.others_cores for p in mine]
        target = {
            "machine": "≈ 1 (else the cores slow each other)",
            "sessions": "≈ 1 (else other sessions take the CPU)",
        }.get(row, "≥ 1.7")
        print(
            f"| {what} | {statistics.mean(p.rate for p in alone):.2f}/s | "
            f"{statistics.mean(p.rate for p in other):.2f}/s | **{statistics.mean(each):.2f}** ({spread}) | "
            f"{cpu[0]:.0f} → {cpu[1]:.0f} ms | {busy[0]:.0%} → {busy[1]:.0%} each "
            f"| {min(rest):.2f}–{max(rest):.2f} cores | {target} |"
        )


if __name__ == "__main__":
    {"engine": child_main, "spin": spinner_main}[sys.argv[1]](float(sys.argv[2]))
