"""ONNX Runtime threads per kokoro worker: a lone request's latency vs. throughput with two busy workers.

For each setting (1 thread; 2 threads spinning; 2 threads not spinning) it prints the time kokoro
takes for a short Chinese clause alone (median of 3), then the wall time two processes take side
by side for the same six sentences each (two busy workers on this machine's cores).

    .venv/bin/python bench/onnx_threads.py            # ~2 minutes on 2 cores
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

SHORT = "今天天气很好，"
SENTENCES = (
    "今天天气很好，我们去公园散步吧。",
    "下午三点在学校门口见面，别迟到。",
    "听说北京的饭馆又便宜又好吃。",
) * 2
SETTINGS = (("1 thread", 1, True), ("2 threads, spinning", 2, True), ("2 threads, not spinning", 2, False))


def _engine(threads: int, spinning: bool) -> Any:
    import onnxruntime as ort

    import voxgate.engines.kokoro as kokoro_module
    from voxgate.engines.registry import build_engine
    from voxgate.settings import Settings

    def session(model_path: Any, n: int) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = n
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.enable_mem_pattern = False  # as voxgate's cpu_session
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])

    kokoro_module.cpu_session = session  # type: ignore[assignment]
    engine = build_engine("kokoro", Settings.load(engines={"kokoro": {"threads": threads}}))
    engine.load()
    return engine


def child(threads: int, spinning: bool, mode: str) -> None:
    """Run in a subprocess: print one number (seconds)."""
    from voxgate.types import SynthesisOptions

    engine = _engine(threads, spinning)
    opts = SynthesisOptions(language="zh")
    list(engine.synthesize("准备好了。", "jm_kumo", opts))
    if mode == "lone":
        times = []
        for _ in range(3):
            started = time.perf_counter()
            list(engine.synthesize(SHORT, "jm_kumo", opts))
            times.append(time.perf_counter() - started)
        print(statistics.median(times))
        return
    started = time.perf_counter()
    for text in SENTENCES:
        list(engine.synthesize(text, "jm_kumo", opts))
    print(time.perf_counter() - started)


def _run(threads: int, spinning: bool, mode: str, copies: int) -> list[float]:
    command = [sys.executable, __file__, "--child", str(threads), str(int(spinning)), mode]
    procs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(copies)
    ]
    return [float(p.communicate()[0].decode().split()[-1]) for p in procs]


def main() -> None:
    """Print the table."""
    print("| setting | lone short clause | two busy workers, 6 sentences each |")
    print("|---|---:|---:|")
    for name, threads, spinning in SETTINGS:
        lone = _run(threads, spinning, "lone", 1)[0]
        busy = max(_run(threads, spinning, "busy", 2))
        print(f"| {name} | {lone * 1000:.0f} ms | {busy:.1f} s |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4])
    else:
        main()
