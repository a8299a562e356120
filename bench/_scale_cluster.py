"""Scale-out benchmark, part 2: two gateways on one Ray cluster and one Redis (``bench/scale.py --cluster``).

Starts, in a temporary directory, a Ray head (``ray start --head --block``, its own process group,
killed by group at the end: never ``ray stop``, which would stop every Ray on the machine), a
``redis-server`` as ``tests/conftest.py`` does, and two ``voxgate serve`` processes with
``qos.backend = ray://127.0.0.1:PORT``, ``cache.url`` and ``qos.limits.storage_uri`` on that Redis.
Then, each phase bounded in count and time:

1. cache across gateways: a request answered by gateway 1, then the same by gateway 2 → ``hit``;
2. one client's limit across gateways: a key limited to 6/minute sends 5 requests to each gateway;
   at most 6 of the 10 may pass;
3. replicas of the primary SIGKILLed under load: Poisson interactive arrivals alternating between
   the gateways while a piper replica (pid from Ray's actor list) is killed every few seconds:
   5xx count, interactive P95 (target 0 and ≤ 3 s);
4. piper throughput with 1 vs 2 replicas (closed loop, one caller per replica, through one gateway).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _http_texts import WORDS
from _sla_stats import quantile
from voxgate.testing import HARVARD_SENTENCES, start_redis_server

LOAD_KEY = "bench-load-key-0123456789"
LIMITED_KEY = "bench-limited-key-0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {timeout_s:.0f} s")


def _config(workdir: Path, ray_port: int, redis_port: int, piper_replicas: int) -> Path:
    path = workdir / f"voxgate-{piper_replicas}.toml"
    path.write_text(
        f"""
[qos]
backend = "ray://127.0.0.1:{ray_port}"
[qos.limits]
storage_uri = "async+redis://127.0.0.1:{redis_port}/0"
[jobs]
enabled = false
[cache]
url = "redis://127.0.0.1:{redis_port}/1"
[engines.kokoro]
enabled = false
[engines.piper]
workers = {piper_replicas}
threads = 1
[engines.espeak]
workers = 1
threads = 1
[server.api_keys.load]
key = "{LOAD_KEY}"
rate_limit = "100000/minute"
priorities = ["interactive", "api", "batch"]
[server.api_keys.limited]
key = "{LIMITED_KEY}"
rate_limit = "6/minute"
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Cluster:
    """The processes this bench started (stopped by their ids at the end)."""

    workdir: Path
    ray_port: int = 0
    redis_port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    gateways: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _log(self, name: str) -> int:
        """A log file's descriptor for a child's output (the child keeps it; ours is closed)."""
        return os.open(self.workdir / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def start_infra(self) -> None:
        """Redis and a Ray head."""
        redis, self.redis_port = start_redis_server(self.workdir, maxmemory="256mb", new_session=True)
        self.procs.append(redis)
        self.ray_port = _free_port()
        ray_bin = str(Path(sys.executable).parent / "ray")
        head = subprocess.Popen(
            [ray_bin, "start", "--head", "--block", "--port", str(self.ray_port), "--num-cpus", "3",
             "--include-dashboard=false", "--node-ip-address", "127.0.0.1",
             "--temp-dir", str(self.workdir / "ray"), "--disable-usage-stats"],
            stdout=self._log("ray.log"), stderr=subprocess.STDOUT, start_new_session=True,
            # loopback only: no token (with one, every gateway needs RAY_AUTH_TOKEN)
            # replicas keep their models under the node's own data dir, whatever the gateways' are
            env=os.environ | {"RAY_AUTH_MODE": "disabled", "VOXGATE_DATA_DIR": str(self.workdir / "node")},
        )  # fmt: skip
        self.procs.append(head)
        _wait_port(self.ray_port, head, 120)

    def start_gateway(self, config: Path) -> int:
        """A ``voxgate serve`` on a free port, ready (``/readyz``) within 300 s."""
        port = _free_port()
        # each gateway its own data dir: the replicas resolve their models on their node, so the
        # gateways still attach to the same deployments (they redeployed each other's before)
        data = self.workdir / f"data-{port}"
        data.mkdir(exist_ok=True)
        env = os.environ | {"VOXGATE_DATA_DIR": str(data)}
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "voxgate"), "serve", "--port", str(port), "-c", str(config)],
            stdout=self._log(f"gateway-{port}.log"), stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )  # fmt: skip
        self.gateways[port] = proc
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway on {port} exited; see {self.workdir}/gateway-{port}.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    return port
            time.sleep(0.5)
        raise RuntimeError(f"gateway on {port} not ready after 300 s")

    def flush_cache(self) -> None:
        """Empty the audio cache's Redis database (``cache.url`` uses db 1)."""
        import redis

        redis.Redis(port=self.redis_port, db=1).flushdb()

    def stop_gateway(self, port: int) -> None:
        """SIGTERM one gateway, SIGKILL it after 15 s."""
        proc = self.gateways.pop(port)
        _stop(proc, 15)

    def stop(self) -> None:
        """Everything, gateways first; Ray and Redis by their process groups."""
        for port in list(self.gateways):
            self.stop_gateway(port)
        for proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # Ray's raylet, GCS and workers share the group


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


async def _tts(
    client: httpx.AsyncClient, port: int, text: str, key: str, priority: str = "interactive"
) -> httpx.Response:
    return await client.post(
        f"http://127.0.0.1:{port}/api/v1/tts",
        json={"text": text, "voice": "joe", "priority": priority, "format": "wav"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def _replica_pids(ray_port: int, app: str) -> list[int]:
    """Pids of the Serve replica actors of ``app`` (asked of Ray's state API in a subprocess)."""
    code = (
        "import ray, json, os\n"
        f"ray.init(address='127.0.0.1:{ray_port}', log_to_driver=False)\n"
        "names = [a['name'] for a in ray.util.list_named_actors(all_namespaces=True)"
        f" if a['name'].startswith('SERVE_REPLICA::{app}#')]\n"
        "pid = lambda _self: os.getpid()\n"
        "print(json.dumps([ray.get(ray.get_actor(n, namespace='serve').__ray_call__.remote(pid), timeout=10)"
        " for n in names]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    for line in reversed(out.stdout.splitlines()):
        with contextlib.suppress(ValueError):
            return [int(p) for p in json.loads(line)]
    return []


async def _cache_and_limits(ports: list[int]) -> dict[str, object]:
    async with httpx.AsyncClient() as client:
        text = "A request answered by gateway one is a cache hit on gateway two."
        first = await _tts(client, ports[0], text, LOAD_KEY)
        second = await _tts(client, ports[1], text, LOAD_KEY)
        statuses = []
        for i in range(10):
            r = await _tts(client, ports[i % 2], f"Limit probe number {i}.", LIMITED_KEY, "api")
            statuses.append(r.status_code)
    return {
        "gw1": f"{first.status_code} {first.headers.get('x-voxgate-cache')}",
        "gw2": f"{second.status_code} {second.headers.get('x-voxgate-cache')}",
        "same_audio": first.content == second.content,
        "limit_ok": statuses.count(200),
        "limit_429": statuses.count(429),
        "limit_other": len(statuses) - statuses.count(200) - statuses.count(429),
    }


async def _kill_under_load(
    ports: list[int], ray_port: int, rate: float, duration: float
) -> dict[str, object]:
    rng = random.Random(13)
    latencies: list[float] = []
    codes: dict[int, int] = {}
    errors: list[str] = []  # the bodies of the failed answers: which engines failed, and how
    kills = 0
    stop_at = time.monotonic() + duration

    async def killer() -> None:
        nonlocal kills
        await asyncio.sleep(3)
        while time.monotonic() < stop_at - 3:
            pids = await asyncio.to_thread(_replica_pids, ray_port, "voxgate-piper")
            if pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
            await asyncio.sleep(rng.uniform(4, 5))

    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as client:

        async def one(i: int) -> None:
            start = time.monotonic()
            try:
                text = f"{HARVARD_SENTENCES[i % len(HARVARD_SENTENCES)]} ({i})"
                r = await _tts(client, ports[i % 2], text, LOAD_KEY)
                code = r.status_code
                if code != 200:
                    errors.append(f"{code} after {time.monotonic() - start:.2f} s: {r.text[:300]}")
            except httpx.HTTPError as exc:
                code = 0
                errors.append(f"{type(exc).__name__}: {exc}")
            codes[code] = codes.get(code, 0) + 1
            if code == 200:
                latencies.append(time.monotonic() - start)

        tasks = [asyncio.ensure_future(killer())]
        at = time.monotonic()
        i = 0
        while True:
            at += rng.expovariate(rate)
            if at > stop_at:
                break
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            tasks.append(asyncio.ensure_future(one(i)))
            i += 1
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return {
        "sent": i,
        "codes": dict(sorted(codes.items())),
        "5xx": sum(n for c, n in codes.items() if c >= 500 or c == 0),
        "p50": quantile(latencies, 0.5) if latencies else float("nan"),
        "p95": quantile(latencies, 0.95) if latencies else float("nan"),
        "kills": kills,
        "errors": errors,
    }


async def _wait_for_capacity(port: int, engine: str, slots: int, limit_s: float) -> float | None:
    """Seconds until the gateway's ``/api/v1/sla`` shows ``slots`` for ``engine`` (None: not in time)."""
    start = time.monotonic()
    url = f"http://127.0.0.1:{port}/api/v1/sla"
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {LOAD_KEY}"}) as client:
        while time.monotonic() - start < limit_s:
            r = await client.get(url, timeout=5)
            engines = r.json().get("engines", {}) if r.status_code == 200 else {}
            if engines.get(engine, {}).get("capacity", 0) >= slots:
                return time.monotonic() - start
            await asyncio.sleep(1.0)
    return None


def _throughput_text(i: int) -> str:
    """The i-th text of a throughput phase: the Harvard sentences in order, each round of them
    opened by another five-letter word. Both phases speak the same sequence (the i-th call speaks
    text i whichever caller makes it), so they weigh the same; they used to append ``[caller.i]``
    with caller 1 counting from 1000, which made the 2-caller phase's texts longer (3.74 vs 4.01 s
    of audio per call measured over ``local://``)."""
    n = len(HARVARD_SENTENCES)
    return f"{WORDS[(i // n) % len(WORDS)].capitalize()}: {HARVARD_SENTENCES[i % n]}"


async def _throughput(port: int, callers: int, duration: float) -> tuple[float, dict[str, int]]:
    """Closed-loop callers for ``duration``: piper's answers per second (cache hits and other
    engines' answers not counted) and every answer by ``X-Voxgate-Spoken-By``."""
    seen: dict[str, int] = {}
    issued = 0
    stop_at = time.monotonic() + duration
    async with httpx.AsyncClient() as client:

        async def loop() -> None:
            nonlocal issued
            while time.monotonic() < stop_at:
                text = _throughput_text(issued)
                issued += 1
                r = await _tts(client, port, text, LOAD_KEY)
                by = r.headers.get("x-voxgate-spoken-by", "") if r.status_code == 200 else str(r.status_code)
                if r.headers.get("x-voxgate-cache") == "hit":
                    by += " (cache hit)"
                seen[by] = seen.get(by, 0) + 1

        start = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(callers)))
    piper = sum(n for by, n in seen.items() if by.endswith("@piper"))
    return piper / (time.monotonic() - start), seen


def run(duration: float, rate: float) -> dict[str, object]:
    """Start the cluster, run the four phases, stop everything; return the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="vgs", dir="/tmp"))
    cluster = Cluster(workdir)
    figures: dict[str, object] = {"workdir": str(workdir)}
    try:
        t0 = time.monotonic()
        cluster.start_infra()
        cfg2 = _config(workdir, cluster.ray_port, cluster.redis_port, 2)
        ports = [cluster.start_gateway(cfg2), cluster.start_gateway(cfg2)]
        figures["ready_s"] = time.monotonic() - t0
        figures.update(asyncio.run(_cache_and_limits(ports)))
        figures["kill"] = asyncio.run(_kill_under_load(ports, cluster.ray_port, rate, duration))
        # Serve must have replaced the killed replicas and the gateway seen it (capacity is polled):
        # a gateway that still counts one piper slot sends the second caller to espeak.
        figures["piper_capacity_wait_s"] = asyncio.run(_wait_for_capacity(ports[0], "piper", 2, 90.0))
        # one gateway in both phases (the second one's polling is CPU the 1-replica phase lacked),
        # an empty cache at the start of each (both speak the same texts)
        cluster.stop_gateway(ports[1])
        cluster.flush_cache()
        figures["rps_2"], figures["by_2"] = asyncio.run(_throughput(ports[0], 2, duration / 2))
        cluster.stop_gateway(ports[0])
        cfg1 = _config(workdir, cluster.ray_port, cluster.redis_port, 1)  # redeploys piper with 1 replica
        port = cluster.start_gateway(cfg1)
        cluster.flush_cache()
        figures["rps_1"], figures["by_1"] = asyncio.run(_throughput(port, 1, duration / 2))
    finally:
        cluster.stop()
    return figures
