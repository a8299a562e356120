"""Where a ``ray://`` call's time goes: the engine inside a Serve replica vs the call's round trip.

Deploys one replica of an engine (a subclass of the real :class:`EngineReplica` with timing methods
added), loads the same engine in this process, then for each of ``--calls`` sentences times:

- ``local engine``: the engine called in this process (what a local worker spends);
- ``replica, on its loop`` / ``replica, in a thread``: the engine timed inside the replica, called
  on the replica's event-loop thread and through ``asyncio.to_thread`` (what ``synthesize`` does);
- ``round trip, synthesize``: the real ``EngineReplica.synthesize`` through a ``DeploymentHandle``;
- ``round trip, no-op`` / ``round trip, answer-sized bytes``: Ray's fixed cost per call, and what the
  answer's size adds through the object store.

It also prints the thread settings the replica sees (Ray sets ``OMP_NUM_THREADS`` to the actor's
``num_cpus``). Bounded: ``--calls`` sentences, one Ray started and stopped here.

    nice .venv/bin/python bench/ray_profile.py --engine piper --calls 12
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import ray
from ray import serve

from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES
from voxgate.types import SynthesisOptions
from voxgate.workers.backend import WARMUPS
from voxgate.workers.child import load_engine
from voxgate.workers.messages import WorkerSpec
from voxgate.workers.ray_replica import EngineReplica

VOICES = {"piper": "joe", "espeak": "espeak-en-us"}
OPTS = SynthesisOptions(language="en")


class TimedReplica(EngineReplica):
    """The real replica plus timing probes (bench only)."""

    def env(self) -> dict[str, Any]:
        """The thread-related environment and scheduling the replica runs with."""
        names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        return {k: os.environ.get(k) for k in names} | {
            "cpus": sorted(os.sched_getaffinity(0)),
            "threads": threading.active_count(),
            "nice": os.nice(0),
        }

    def on_loop(self, text: str, voice: str) -> float:
        """Engine seconds for ``text``, run on the replica's own thread."""
        start = time.perf_counter()
        self._speak(text, voice, OPTS)
        return time.perf_counter() - start

    async def in_thread(self, text: str, voice: str) -> float:
        """Engine seconds for ``text``, run through ``asyncio.to_thread`` as ``synthesize`` does."""
        start = time.perf_counter()
        await asyncio.to_thread(self._speak, text, voice, OPTS)
        return time.perf_counter() - start

    def noop(self) -> None:
        """Nothing: Ray's fixed cost per call."""

    def blob(self, size: int) -> bytes:
        """``size`` bytes: what an answer of that size adds."""
        return b"\0" * size


def _spec(engine: str) -> WorkerSpec:
    engines: dict[str, dict[str, object]] = {
        n: {"enabled": False} for n in ("kokoro", "piper", "espeak") if n != engine
    }
    engines[engine] = {"workers": 1, "threads": 1}
    settings = Settings.load(data_dir=Path(tempfile.gettempdir()) / "voxgate-bench-data", engines=engines)
    settings_json = settings.model_dump_json(
        include={"data_dir": True, "text": True, "engines": {engine: True}}
    )
    return WorkerSpec(engine, settings_json, WARMUPS[engine])


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call.result()
    return time.perf_counter() - start


def main() -> None:
    """Deploy one timed replica, time every stage per sentence, print P50 and minimum."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=sorted(VOICES), default="piper")
    parser.add_argument("--calls", type=int, default=12)
    args = parser.parse_args()
    engine, voice = args.engine, VOICES[args.engine]
    spec = _spec(engine)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(proxy_location="Disabled")
        deployment = serve.deployment(TimedReplica).options(
            name="profile", num_replicas=1, max_ongoing_requests=1, ray_actor_options={"num_cpus": 1}
        )
        handle = serve.run(deployment.bind(spec, 1e6, 60.0), name="voxgate-profile", route_prefix=None)
        print("replica environment:", handle.env.remote().result())
        local = load_engine(spec).engine
        stages: dict[str, list[float]] = {
            k: []
            for k in (
                "local engine",
                "replica, on its loop",
                "replica, in a thread",
                "round trip, synthesize",
                "round trip, no-op",
                "round trip, answer-sized bytes",
            )
        }
        size = 0
        for i in range(args.calls):
            text = HARVARD_SENTENCES[i % len(HARVARD_SENTENCES)]
            start = time.perf_counter()
            chunks = list(local.synthesize(text, voice, OPTS))
            stages["local engine"].append(time.perf_counter() - start)
            size = sum(c.audio.nbytes for c in chunks)
            stages["replica, on its loop"].append(handle.on_loop.remote(text, voice).result())
            stages["replica, in a thread"].append(handle.in_thread.remote(text, voice).result())
            stages["round trip, synthesize"].append(_timed(handle.synthesize.remote(text, voice, OPTS, 30.0)))
            stages["round trip, no-op"].append(_timed(handle.noop.remote()))
            stages["round trip, answer-sized bytes"].append(_timed(handle.blob.remote(size)))
        print(f"\n{engine}, {args.calls} sentences, last answer {size / 1024:.0f} KiB (float32)\n")
        print("| stage | P50 ms | min ms |\n|---|---:|---:|")
        for name, values in stages.items():
            print(f"| {name} | {statistics.median(values) * 1000:.1f} | {min(values) * 1000:.1f} |")
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == "__main__":
    main()
