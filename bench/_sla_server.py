"""The SLA bench's server under test: ``voxgate serve`` as a subprocess on 127.0.0.1, and its metrics.

The server runs in its own session (process group) so the bench can always take it down
with every worker it spawned. Worker PIDs come from ``GET /api/v1/sla`` (the pool's own
view) and are checked against the server's children with psutil before any signal is sent:
the workers' process names (``voxgate-<engine>-<n>``) live only inside Python, psutil sees
the ``multiprocessing`` spawn command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from voxgate.testing import free_port

REPO = Path(__file__).resolve().parent.parent
VOXGATE = REPO / ".venv" / "bin" / "voxgate"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Labels = tuple[tuple[str, str], ...]


def parse_metrics(text: str) -> dict[str, dict[Labels, float]]:
    """Prometheus text exposition → metric name → sorted label pairs → value (comments skipped)."""
    out: dict[str, dict[Labels, float]] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if line.startswith("#") or match is None:
            continue
        name, _, labels, value = match.groups()
        pairs = tuple(sorted(_LABEL.findall(labels or "")))
        with contextlib.suppress(ValueError):
            out.setdefault(name, {})[pairs] = float(value)
    return out


def total(metrics: Mapping[str, Mapping[Labels, float]], name: str, **match: str) -> float:
    """Sum of a metric's samples whose labels include ``match``."""
    return sum(v for labels, v in metrics.get(name, {}).items() if match.items() <= set(labels))


def toml_config(settings: Mapping[str, Any]) -> str:
    """Nested settings → TOML text (tables for mappings; str, bool, int, float values and lists of them)."""
    lines: list[str] = []

    def emit(prefix: str, table: Mapping[str, Any]) -> None:
        scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
        if prefix and scalars:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f"{key} = {_toml_value(value)}")
        for key, value in table.items():
            if isinstance(value, Mapping):
                emit(f"{prefix}.{key}" if prefix else key, value)

    emit("", settings)
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


@dataclass(slots=True)
class Server:
    """One ``voxgate serve`` subprocess.

    Attributes:
        workdir: holds the config, the data dir and the server's log.
        settings: nested settings written to the TOML config.
        port: where it listens (127.0.0.1 only).
    """

    workdir: Path
    settings: Mapping[str, Any]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _cpu_seen: dict[int, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Write the config and spawn the server (not yet ready: see :meth:`wait_ready`)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "voxgate.toml"
        config.write_text(toml_config(self.settings))
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOXGATE_")}
        env["VOXGATE_DATA_DIR"] = str(self.workdir / "data")
        log = (self.workdir / "server.log").open("ab")
        self.process = subprocess.Popen(
            [str(VOXGATE), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--config", str(config)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    async def wait_ready(self, client: httpx.AsyncClient, timeout_s: float = 180.0) -> None:
        """Poll ``/readyz`` until 200.

        Raises:
            RuntimeError: the server exited or was not ready within ``timeout_s``.
        """
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.workdir / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz", timeout=2.0)).status_code == 200:
                    return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"server not ready after {timeout_s:.0f} s; see {self.workdir / 'server.log'}")

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL the server's whole process group."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # the group is this server's session: its workers
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5.0)
        self.process = None

    def children(self) -> set[int]:
        """PIDs of every live descendant of the server."""
        if self.process is None:
            return set()
        try:
            return {p.pid for p in psutil.Process(self.process.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and every worker seen so far.

        A worker's time is remembered at each call, so a worker that died since still counts
        (up to its last reading): call it often (the RSS sampler does) for a close total.
        """
        if self.process is None:
            return sum(self._cpu_seen.values())
        with contextlib.suppress(psutil.NoSuchProcess):
            root = psutil.Process(self.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = proc.cpu_times()
                    self._cpu_seen[proc.pid] = times.user + times.system
        return sum(self._cpu_seen.values())


async def workers(client: httpx.AsyncClient, server: Server, engine: str) -> list[dict[str, Any]]:
    """The engine's workers as the pool reports them, keeping only real children of ``server``."""
    status = (await client.get("/api/v1/sla", timeout=5.0)).json()
    children = server.children()
    found: list[dict[str, Any]] = status["engines"].get(engine, {}).get("workers", [])
    return [w for w in found if w.get("pid") in children]


async def scrape(client: httpx.AsyncClient) -> dict[str, dict[Labels, float]]:
    """One ``GET /metrics``, parsed."""
    return parse_metrics((await client.get("/metrics", timeout=5.0)).text)


async def settle(
    client: httpx.AsyncClient,
    engines: Mapping[str, int],
    probe: Callable[[], Awaitable[object]],
    timeout_s: float = 60.0,
) -> bool:
    """Wait until nothing is queued or running, every pool is full again and breakers are closed.

    A breaker leaves OPEN only when a request asks it for a permit, so once the server is
    quiet and its pools are full, ``probe`` (one small request, not recorded) is sent each
    round until every breaker has closed.

    Args:
        engines: engine → configured worker count.
        probe: sends one request.
        timeout_s: give up after this long.

    Returns:
        Whether the server settled within ``timeout_s``.
    """
    give_up = time.monotonic() + timeout_s
    while time.monotonic() < give_up:
        m = await scrape(client)
        quiet = total(m, "voxgate_in_flight") == 0 and total(m, "voxgate_queue_depth") == 0
        full = all(total(m, "voxgate_engine_capacity", engine=e) >= n for e, n in engines.items())
        closed = total(m, "voxgate_breaker_state") == 0
        if quiet and full and closed:
            return True
        if quiet and full:
            await probe()
        await asyncio.sleep(0.5)
    return False
