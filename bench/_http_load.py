"""Load and latency measurements against a running server: wrk for throughput, httpx for one-at-a-time.

Throughput comes from ``wrk`` (C, epoll): a Python load generator would compete with the server
for the same two cores and understate it. Single requests are timed with httpx in this process,
one at a time, so the client costs nothing the server waits on.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True, slots=True)
class WrkResult:
    """What one wrk run measured.

    Attributes:
        requests: requests completed.
        duration_s: the run's length as wrk measured it.
        rps: requests per second.
        p50_s: median latency.
        p99_s: 99th percentile latency.
        non_2xx: responses with a status outside 2xx/3xx.
        socket_errors: connect, read, write and timeout errors added up.
    """

    requests: int
    duration_s: float
    rps: float
    p50_s: float
    p99_s: float
    non_2xx: int
    socket_errors: int


def wrk_available() -> bool:
    """Whether ``wrk`` is on the PATH (Debian: ``apt-get install wrk``)."""
    return shutil.which("wrk") is not None


def run_wrk(
    url: str,
    *,
    body: dict[str, object] | None = None,
    connections: int = 32,
    threads: int = 2,
    duration_s: float = 15.0,
) -> WrkResult:
    """Run wrk against ``url`` (POST ``body`` as JSON when given, else GET) and parse its report.

    Raises:
        RuntimeError: wrk failed or printed something this parser does not understand.
    """
    with tempfile.TemporaryDirectory() as tmp:
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            "10s",
            "--latency",
        ]
        if body is not None:
            script = Path(tmp) / "post.lua"
            script.write_text(_post_script(body), encoding="utf-8")
            command += ["-s", str(script)]
        done = subprocess.run(
            [*command, url], capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse_wrk(done.stdout)


def _post_script(body: dict[str, object]) -> str:
    payload = json.dumps(body, ensure_ascii=False)
    if "]==]" in payload:
        raise ValueError("the body cannot be written as a Lua long string")
    # a Lua long string takes the bytes as they are (LuaJIT knows no \u escapes)
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = [==[{payload}]==]\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def parse_wrk(report: str) -> WrkResult:
    """Parse wrk's text report (with ``--latency``).

    Raises:
        RuntimeError: a figure this needs is missing.
    """
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", report)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", report)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.M)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m)\s*$", report, re.M)
    if not (requests and rps and p50 and p99):
        raise RuntimeError(f"cannot parse wrk's report:\n{report}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    return WrkResult(
        requests=int(requests.group(1)),
        duration_s=float(requests.group(2)) * _UNITS[requests.group(3)],
        rps=float(rps.group(1)),
        p50_s=float(p50.group(1)) * _UNITS[p50.group(2)],
        p99_s=float(p99.group(1)) * _UNITS[p99.group(2)],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


@dataclass(frozen=True, slots=True)
class Timed:
    """One request timed from the client.

    Attributes:
        first_byte_s: from sending the request to the first body byte.
        total_s: from sending the request to the last body byte.
        status: HTTP status.
        headers: response headers (lower-case names).
        size: body bytes.
    """

    first_byte_s: float
    total_s: float
    status: int
    headers: dict[str, str]
    size: int


def timed_post(client: httpx.Client, url: str, body: dict[str, object]) -> Timed:
    """POST ``body`` as JSON and time the first and the last body byte."""
    started = time.perf_counter()
    first: float | None = None
    size = 0
    with client.stream("POST", url, json=body) as response:
        for chunk in response.iter_raw():
            if chunk and first is None:
                first = time.perf_counter() - started
            size += len(chunk)
        total = time.perf_counter() - started
    return Timed(
        first if first is not None else total, total, response.status_code, dict(response.headers), size
    )


def prometheus_value(text: str, name: str) -> float:
    """The value of an unlabelled sample ``name`` in a Prometheus text exposition (0 if absent)."""
    match = re.search(rf"^{re.escape(name)}\s+([0-9.eE+-]+)\s*$", text, re.M)
    return float(match.group(1)) if match else 0.0
