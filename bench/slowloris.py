"""Slow-loris against a real ``voxgate serve``: connections held, server fds, ``/healthz`` latency.

    nice .venv/bin/python bench/slowloris.py                       # 500 slow heads, 40 s
    nice .venv/bin/python bench/slowloris.py --mode body           # slow bodies on POST /api/v1/tts
    nice .venv/bin/python bench/slowloris.py --mode drain          # answered GET, body trickled after
    nice .venv/bin/python bench/slowloris.py --nofile 1024 --sockets 1000 --reconnect
    nice .venv/bin/python bench/slowloris.py --nofile 1024 --sockets 1000 --reconnect \
        --attacker-address 127.0.0.2 --env VOXGATE_SERVER__MAX_CONNECTIONS_PER_CLIENT=64
    # as before the fix (no head timeout, no connection cap):
    nice .venv/bin/python bench/slowloris.py --env VOXGATE_SERVER__HEADER_TIMEOUT_S=100000 \
        --env VOXGATE_SERVER__MAX_CONNECTIONS=1000000

Starts its own server (espeak only, a fresh data dir, 127.0.0.1, a free port) and stops it at
the end. Everything is bounded: ``--sockets`` connections, ``--duration`` seconds.

Modes (each attacking socket sends one byte every ``--interval`` seconds):

- ``head``: an unfinished request head (``GET /healthz`` then a header a byte at a time);
- ``body``: a complete ``POST /api/v1/tts`` head declaring a 64 KiB body, then the body a byte at
  a time (what :mod:`voxgate.api.body_limit` answers 408);
- ``drain``: ``GET /healthz`` declaring a 1 MiB body: answered at once, then the rest of the body
  trickled (the server discards it; no app code reads it).

The probes come from 127.0.0.1; ``--attacker-address 127.0.0.2`` makes the attack come from
another address (the per-client cap's case). Printed: the ``/healthz`` latency on a fresh
connection before and during the attack (P50, P99,
max, failures), and once a second the attacking connections the server still holds, the server's
open fds, and, at the end, how long the server held the connections it closed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http_server import voxgate_server

ESPEAK_ONLY = {
    "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
    "VOXGATE_ENGINES__PIPER__ENABLED": "false",
    "VOXGATE_ENGINES__ESPEAK__WORKERS": "1",
}
HEADS = {
    "head": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
    "body": (
        b"POST /api/v1/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 65536\r\n\r\n"
    ),
    "drain": b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1048576\r\n\r\n",
}


@dataclass(slots=True)
class Attack:
    """What the attacking sockets saw."""

    opened: int = 0
    refused: int = 0
    held: int = 0
    closed_after_s: list[float] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def probe(port: int, timeout_s: float) -> float | None:
    """``GET /healthz`` on a fresh connection; seconds taken, None if it failed or timed out."""
    began = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:  # refused, reset or timed out
        return None
    return time.perf_counter() - began if answer.startswith(b"HTTP/1.1 200") else None


def prober(
    port: int, seconds: float, every_s: float, timeout_s: float, out: Queue[list[float | None]]
) -> None:
    """In its own process (so the attack's event loop does not delay it): probe until time is up."""
    until = time.monotonic() + seconds
    found: list[float | None] = []
    while time.monotonic() < until:
        found.append(probe(port, timeout_s))
        time.sleep(every_s)
    out.put(found)


async def slow_clients(port: int, args: argparse.Namespace, until: float, attack: Attack) -> None:
    """One attacker: a slow connection, and with ``--reconnect`` a new one each time it is closed."""
    while time.monotonic() < until:
        await slow_client(port, args.mode, args.interval, until, attack, args.attacker_address)
        if not args.reconnect:
            return
        await asyncio.sleep(0.05)


async def slow_client(
    port: int, mode: str, interval_s: float, until: float, attack: Attack, source: str | None
) -> None:
    """Open a connection and feed it a byte per interval until the server closes it or time is up."""
    try:
        local = (source, 0) if source else None
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
    except OSError:
        attack.refused += 1
        return
    attack.opened += 1
    attack.held += 1
    began = time.monotonic()
    closed = False

    async def watch() -> None:
        nonlocal closed
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                status = data.split(b"\r\n", 1)[0].decode(errors="replace")[9:12]
                if status.isdigit():
                    attack.answers[status] = attack.answers.get(status, 0) + 1
        closed = True

    watcher = asyncio.create_task(watch())
    try:
        writer.write(HEADS[mode])
        while not closed and time.monotonic() < until:
            await asyncio.sleep(interval_s)
            writer.write(b"a")
            await writer.drain()
    except OSError:
        closed = True
    finally:
        await asyncio.sleep(0)
        if closed or watcher.done():
            attack.closed_after_s.append(time.monotonic() - began)
        attack.held -= 1
        watcher.cancel()
        writer.close()


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


async def run(port: int, pid: int, args: argparse.Namespace) -> None:
    baseline = [probe(port, 5.0) for _ in range(args.probes)]
    ok = [t for t in baseline if t is not None]
    print(
        f"baseline /healthz (fresh connection, n={len(baseline)}): P50 {quantile(ok, 0.5) * 1e3:.1f} ms"
        f"  P99 {quantile(ok, 0.99) * 1e3:.1f} ms  failures {len(baseline) - len(ok)}  fds {open_fds(pid)}"
    )
    attack = Attack()
    until = time.monotonic() + args.duration
    context = multiprocessing.get_context("spawn")
    results: Queue[list[float | None]] = context.Queue()
    probing = context.Process(
        target=prober, args=(port, args.duration, args.probe_every, args.probe_timeout, results)
    )
    probing.start()
    clients = []
    for _ in range(args.sockets):  # ramp up: a connect storm would measure the backlog instead
        clients.append(asyncio.create_task(slow_clients(port, args, until, attack)))
        await asyncio.sleep(0.002)
    peak_fds = 0
    next_report = time.monotonic()
    while time.monotonic() < until:
        peak_fds = max(peak_fds, open_fds(pid))
        if time.monotonic() >= next_report:
            elapsed = args.duration - (until - time.monotonic())
            print(
                f"  t={elapsed:5.1f} s  held {attack.held:4d}  opened {attack.opened:4d}"
                f"  refused {attack.refused:3d}  server fds {open_fds(pid):5d}"
            )
            next_report += 5.0
        await asyncio.sleep(0.1)
    during = await asyncio.to_thread(results.get, True, args.probe_timeout + 30)
    await asyncio.to_thread(probing.join, 10)
    await asyncio.gather(*clients)
    ok = [t for t in during if t is not None]
    closed = attack.closed_after_s
    print(
        f"during {args.sockets} '{args.mode}' sockets (n={len(during)} probes): "
        f"P50 {quantile(ok, 0.5) * 1e3:.1f} ms  P99 {quantile(ok, 0.99) * 1e3:.1f} ms"
        f"  max {max(ok, default=float('nan')) * 1e3:.1f} ms  failures {len(during) - len(ok)}"
    )
    print(
        f"attack: opened {attack.opened}  refused at connect {attack.refused}"
        f"  closed by the server {len(closed)} (after P50 {quantile(closed, 0.5):.1f} s,"
        f" max {max(closed, default=float('nan')):.1f} s)  still open at the end"
        f" {attack.opened - len(closed)}  answers {attack.answers}  peak server fds {peak_fds}"
    )


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--mode", choices=sorted(HEADS), default="head")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between two bytes")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of attack")
    parser.add_argument("--probes", type=int, default=50, help="baseline /healthz probes")
    parser.add_argument("--probe-every", type=float, default=0.1)
    parser.add_argument("--probe-timeout", type=float, default=5.0)
    parser.add_argument(
        "--attacker-address", default=None, help="bind the slow sockets to this address (e.g. 127.0.0.2)"
    )
    parser.add_argument("--reconnect", action="store_true", help="reopen each closed connection")
    parser.add_argument("--nofile", type=int, default=0, help="lower the server's fd limit to this")
    parser.add_argument("--env", action="append", default=[], help="extra VOXGATE_X=Y for the server")
    args = parser.parse_args()
    args.duration = min(args.duration, 300.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.sockets + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sockets + 512), hard))
    env = dict(ESPEAK_ONLY)
    env.update(item.split("=", 1) for item in args.env)
    ours = resource.getrlimit(resource.RLIMIT_NOFILE)
    if args.nofile:  # the server inherits it (and derives its default connection cap from it)
        resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, ours[1]))
    with (
        tempfile.TemporaryDirectory(prefix="slowloris-") as tmp,
        voxgate_server(Path(tmp), Path(tmp) / "server.log", env) as server,
    ):
        resource.setrlimit(resource.RLIMIT_NOFILE, ours)
        port = int(server.url.rsplit(":", 1)[1])
        print(f"server pid {server.pid} on port {port}, fd limit {args.nofile or soft}, env {args.env}")
        asyncio.run(run(port, server.pid, args))


if __name__ == "__main__":
    main()
