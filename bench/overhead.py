"""Where the gateway's time goes per request, with espeak so the engine is a small share.

    nice .venv/bin/python bench/overhead.py                 # ~1 minute
    nice .venv/bin/python bench/overhead.py --profile       # plus cProfile of the full app
    nice .venv/bin/python bench/overhead.py --uvicorn       # plus a real server over TCP

All in one process, one espeak worker, the audio cache off (every request synthesises) and the
same short text throughout. Printed side by side (µs per request, requests/s, interleaved rounds,
median of the rounds):

Wall time on a shared machine is noisy; the CPU time this process spends per request (all its
threads; the espeak worker is another process) is the steadier measure of the gateway's own cost.

1. ``engine``: ``EspeakEngine.synthesize`` called in this process (no worker, no QoS);
2. ``admission``: the Synthesizer's rate-limit and quota check alone (two moving windows, as
   by default, each tested then hit); ``synthesizer``: ``Synthesizer.synthesize`` (plan,
   admission, routing, the worker round trip, WAV encoding): the service layer without HTTP;
3. ``app``: ``POST /api/v1/tts`` through the whole ASGI app, called directly (no HTTP parsing),
   and the same app without each middleware in turn, and without the route's disconnect
   watcher: each row's difference to ``app`` is that part's cost;
4. each middleware alone around an empty endpoint (exact µs of the middleware itself);
5. with ``--uvicorn``: ``voxgate serve``'s protocol over TCP on 127.0.0.1, one keep-alive client.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import limits.aio.storage
import limits.aio.strategies
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import voxgate.api.routes_tts as routes_tts
from voxgate.api import create_app
from voxgate.api.auth import ApiKeyAuth, RequireKeyMiddleware
from voxgate.api.body_limit import BodyLimitMiddleware, body_limits
from voxgate.api.guard import BrowserGuardMiddleware
from voxgate.api.middleware import RequestContextMiddleware
from voxgate.clock import SystemClock
from voxgate.engines.espeak import EspeakEngine
from voxgate.logs import configure_logging
from voxgate.qos.admission import Admission
from voxgate.requests import SynthesisRequest
from voxgate.settings import Settings
from voxgate.types import Priority, SynthesisOptions
from voxgate.wiring import build_synthesizer

TEXT = "The birch canoe slid on the smooth planks."
VOICE = "espeak-en-us"
BODY = json.dumps({"text": TEXT, "voice": VOICE, "format": "wav"}).encode()
KEYS = 10
"""API keys configured for the key check's measurement (it compares against every key)."""
MIDDLEWARES = {
    "request context": RequestContextMiddleware,
    "browser guard": BrowserGuardMiddleware,
    "require key": RequireKeyMiddleware,
    "body limit": BodyLimitMiddleware,
}


def settings_for(data_dir: Path) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        cache={"url": "memory://?max_bytes=0"},
        qos={"limits": {"default": "100000000/minute;1000000000/hour"}},  # two, as the default
    )


def scope_for(path: str = "/api/v1/tts", body: bytes = BODY) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"bench"),
            (b"accept", b"*/*"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


async def call(
    app: ASGIApp,
    state: dict[str, Any],
    body: bytes = BODY,
    path: str = "/api/v1/tts",
    key: bytes = b"",
    router_of: ASGIApp | None = None,
) -> int:
    """One request through ``app`` as uvicorn would make it; returns the status.

    ``router_of``: the app whose routes a middleware called alone sees (as Starlette sets it).
    """
    scope = scope_for(path, body)
    if router_of is not None:
        scope["app"] = router_of
    if key:
        scope["headers"].append((b"authorization", b"Bearer " + key))
    scope["state"] = dict(state)
    sent_body = False
    never = asyncio.Event()
    status = 0

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never.wait()  # the client stays: the disconnect watcher waits until cancelled
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def timed(n: int, one: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all its threads) per call of ``one``, over ``n`` calls."""
    began, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        await one()
    return (time.perf_counter() - began) / n, (time.process_time() - cpu) / n


def without(settings: Settings, drop: type | None) -> ASGIApp:
    app = create_app(settings)
    if drop is not None:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not drop]
    return app


async def _direct(_request: Any, work: Awaitable[Any]) -> Any:
    return await work


async def empty(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


async def main_async(args: argparse.Namespace) -> None:
    # as `voxgate serve` logs (one JSON access line per request), into /dev/null
    stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
    configure_logging(json_logs=True)
    sys.stderr = stderr
    tmp = Path(tempfile.mkdtemp(prefix="overhead-"))
    settings = settings_for(tmp)
    engine = EspeakEngine()
    engine.load()
    opts = SynthesisOptions()
    synth = build_synthesizer(settings)
    await synth.start()
    request = SynthesisRequest(text=TEXT, voice=VOICE)

    apps: dict[str, ASGIApp] = {"app": without(settings, None)}
    for name, cls in MIDDLEWARES.items():
        apps[f"app - {name}"] = without(settings, cls)
    apps["app - disconnect watcher"] = without(settings, None)
    state: dict[str, Any] = {
        "synth": synth,
        "auth": ApiKeyAuth(settings.server),
        "settings": settings,
        "metrics": None,
        "jobs": None,
    }
    from voxgate.api.metrics import Metrics

    state["metrics"] = Metrics()

    async def engine_call() -> None:
        await asyncio.to_thread(lambda: list(engine.synthesize(TEXT, VOICE, opts)))

    # the same admission over limits' own async memory storage (before voxgate's LoopMemoryStorage)
    upstream = Admission(synth.admission._config, SystemClock())
    upstream._limiter = limits.aio.strategies.MovingWindowRateLimiter(limits.aio.storage.MemoryStorage())

    def admit(admission: Admission) -> Callable[[], Awaitable[object]]:
        async def one() -> None:
            await admission.admit("bench", Priority.API, len(TEXT), 30.0, lambda _p, _c: 0.0, queued=0)
            for _ in range(3):  # a request yields to the loop while it runs: background tasks run too
                await asyncio.sleep(0)

        return one

    stages: dict[str, Callable[[], Awaitable[object]]] = {
        "engine (in-process, thread)": engine_call,
        "admission (rate limits, quota)": admit(synth.admission),
        "  with limits' memory storage": admit(upstream),
        "synthesizer": lambda: synth.synthesize(request),
    }
    original = routes_tts.unless_disconnected
    for name, app in apps.items():
        if name.endswith("disconnect watcher"):

            async def no_watch(app: ASGIApp = app) -> int:
                routes_tts.unless_disconnected = _direct  # type: ignore[assignment]
                try:
                    return await call(app, state)
                finally:
                    routes_tts.unless_disconnected = original

            stages[name] = no_watch
        else:
            stages[name] = lambda app=app: call(app, state)
    for fn in stages.values():  # warm up (imports, first-call caches, worker)
        for _ in range(5):
            await fn()
    assert await call(apps["app"], state) == 200

    results: dict[str, list[tuple[float, float]]] = {name: [] for name in stages}
    for _round in range(args.rounds):
        for name, fn in stages.items():
            results[name].append(await timed(args.n, fn))

    alone = await middleware_alone(settings, args.n * 20, args.rounds)
    app_wall = statistics.median(w for w, _ in results["app"])
    app_cpu = statistics.median(c for _, c in results["app"])
    print(f"\nPOST /api/v1/tts, espeak, {len(TEXT)} chars, cache off; {args.rounds} rounds x {args.n}")
    print("wall: elapsed per request; cpu: this process's CPU per request (all threads, not the worker)")
    header = f"{'stage':30} {'wall µs':>8} {'req/s':>7} {'cpu µs':>8} {'Δwall':>7} {'Δcpu':>7}"
    print(header)
    for name, values in results.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        delta = ""
        if name.startswith("app -"):
            delta = f"{(wall - app_wall) * 1e6:+7.0f} {(cpu - app_cpu) * 1e6:+7.0f}"
        print(f"{name:30} {wall * 1e6:8.0f} {1 / wall:7.1f} {cpu * 1e6:8.0f} {delta}")
    print(f"\nmiddleware alone around an empty endpoint ({args.n * 20} calls x {args.rounds} rounds)")
    for name, (wall, cpu) in alone.items():
        print(f"{name:30} {wall * 1e6:8.1f} µs wall {cpu * 1e6:8.1f} µs cpu")

    if args.profile:
        profiler = cProfile.Profile(time.thread_time)  # CPU of the event loop's thread
        profiler.enable()
        for _ in range(args.n):
            await call(apps["app"], state)
        profiler.disable()
        stats = pstats.Stats(profiler)
        print("\ncProfile of the full app, CPU time of the event loop's thread")
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats("voxgate|starlette|fastapi|structlog", 45)
    await synth.stop(grace_s=5)


WATCHER = "disconnect watcher (route)"


async def watched(scope: Scope, receive: Receive, send: Send) -> None:
    """The empty endpoint, its work raced against a disconnect as ``POST /api/v1/tts`` does."""
    await routes_tts.unless_disconnected(Request(scope, receive), empty(scope, receive, send))


async def middleware_alone(settings: Settings, n: int, rounds: int) -> dict[str, tuple[float, float]]:
    auth = ApiKeyAuth(settings.server)
    keyed = ApiKeyAuth.from_keys({f"client{i}": f"key-{i:04d}-{'x' * 32}" for i in range(KEYS)})
    routed = create_app(settings)  # its routes, for the key check (which skips unrouted paths)
    wrapped: dict[str, tuple[ASGIApp, bytes]] = {
        "none (empty endpoint)": (empty, b""),
        "request context": (RequestContextMiddleware(empty), b""),
        "browser guard": (BrowserGuardMiddleware(empty), b""),
        "require key (no keys)": (RequireKeyMiddleware(empty, auth=auth), b""),
        f"require key ({KEYS} keys)": (
            RequireKeyMiddleware(empty, auth=keyed),
            f"key-{KEYS - 1:04d}-{'x' * 32}".encode(),
        ),
        "body limit": (BodyLimitMiddleware(empty, limits=body_limits(settings)), b""),
    }
    per: dict[str, list[tuple[float, float]]] = {name: [] for name in [*wrapped, WATCHER]}
    for _ in range(rounds):
        for name, (app, key) in wrapped.items():
            per[name].append(
                await timed(n, lambda app=app, key=key: call(app, {}, key=key, router_of=routed))
            )
        per[WATCHER].append(await timed(n, lambda: call(watched, {})))
    return {
        name: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for name, v in per.items()
    }


def uvicorn_run(args: argparse.Namespace) -> None:
    import httpx

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _http_server import voxgate_server

    env = {
        "VOXGATE_ENGINES__KOKORO__ENABLED": "false",
        "VOXGATE_ENGINES__PIPER__ENABLED": "false",
        "VOXGATE_ENGINES__ESPEAK__WORKERS": "1",
        "VOXGATE_CACHE__URL": "memory://?max_bytes=0",
        "VOXGATE_QOS__LIMITS__DEFAULT": "100000000/minute;1000000000/hour",
        "VOXGATE_SERVER__LOG_JSON": "true",
    }
    headers = {"content-type": "application/json"}
    with (
        tempfile.TemporaryDirectory() as tmp,
        voxgate_server(Path(tmp), Path(tmp) / "log", env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        for _ in range(10):
            client.post("/api/v1/tts", content=BODY, headers=headers)
        per: list[tuple[float, float]] = []
        for _ in range(args.rounds):
            began, cpu = time.perf_counter(), server_cpu_s(server.pid)
            for _ in range(args.n):
                r = client.post("/api/v1/tts", content=BODY, headers=headers)
                assert r.status_code == 200, r.text
            per.append(((time.perf_counter() - began) / args.n, (server_cpu_s(server.pid) - cpu) / args.n))
    wall = statistics.median(w for w, _ in per)
    cpu = statistics.median(c for _, c in per)
    print(f"{'uvicorn over TCP (gateway cpu)':30} {wall * 1e6:8.0f} {1 / wall:7.1f} {cpu * 1e6:8.0f}")


def server_cpu_s(pid: int) -> float:
    """User plus system CPU seconds of the process ``pid`` (not its children: the workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=100, help="requests per stage per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--uvicorn", action="store_true")
    args = parser.parse_args()
    args.n = min(args.n, 2000)
    asyncio.run(main_async(args))
    if args.uvicorn:
        uvicorn_run(args)


if __name__ == "__main__":
    main()
