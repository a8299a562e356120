"""Engine benchmark: cold load time, real-time factor and peak RSS per engine and language.

Each (engine, language, threads) cell runs in a fresh subprocess, so the load time is cold
(but for the OS page cache) and the peak RSS is that engine's alone.

    .venv/bin/python bench/engines.py [--runs 3] [--threads 1,2] [--engines kokoro,piper,espeak]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXTS = {
    "en": (
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
        "It is easy to tell the depth of a well. These days a chicken leg is a rare dish."
    ),
    "zh": "今天天气很好，我们去公园散步吧。下午三点在学校门口见面，别迟到。这家饭馆的菜又便宜又好吃。",
    "ja": "こんにちは。今日はいい天気ですね。午後から友達と一緒に公園へ行きます。",
}
CELLS = [
    ("piper", "joe", "en"),
    ("kokoro", "jf_alpha", "zh"),
    ("kokoro", "jf_alpha", "en"),
    ("kokoro", "jf_alpha", "ja"),
    ("espeak", "espeak-en-us", "en"),
    ("espeak", "espeak-cmn", "zh"),
]


def child(engine_name: str, voice: str, language: str, threads: int, runs: int, data_dir: str) -> None:
    """Measure one cell in this (fresh) process and print one JSON line."""
    from voxgate.engines.registry import build_engine
    from voxgate.settings import Settings
    from voxgate.text import prepare
    from voxgate.types import SynthesisOptions

    settings = Settings.load(data_dir=Path(data_dir), engines={engine_name: {"threads": threads}})
    engine = build_engine(engine_name, settings)
    started = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - started
    text = prepare(TEXTS[language], max_chars=10_000, max_segment_chars=250).text
    opts = SynthesisOptions(language=language)
    list(
        engine.synthesize("Warm up.", voice, opts)
        if language == "en"
        else engine.synthesize(text[:8], voice, opts)
    )
    rtfs: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter()
        chunks = list(engine.synthesize(text, voice, opts))
        elapsed = time.perf_counter() - t0
        rtfs.append(elapsed / sum(c.duration for c in chunks))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"load_s": load_s, "rtf": statistics.median(rtfs), "rtf_all": rtfs, "peak_mb": peak_mb}))


def main() -> None:
    """Run every cell in a subprocess and print a Markdown table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--engines", default="piper,kokoro,espeak")
    parser.add_argument("--data-dir", default=str(Path(tempfile.gettempdir()) / "voxgate-bench-data"))
    parser.add_argument(
        "--child", nargs=4, metavar=("ENGINE", "VOICE", "LANG", "THREADS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        engine, voice, language, threads = args.child
        child(engine, voice, language, int(threads), args.runs, args.data_dir)
        return
    wanted = set(args.engines.split(","))
    print("| engine | voice | lang | threads | cold load s | RTF (median) | RTF runs | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|")
    for engine, voice, language in CELLS:
        if engine not in wanted:
            continue
        thread_counts = [1] if engine == "espeak" else [int(t) for t in args.threads.split(",")]
        for threads in thread_counts:
            cmd = [sys.executable, __file__, "--runs", str(args.runs), "--data-dir", args.data_dir]
            cmd += ["--child", engine, voice, language, str(threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(
                    f"| {engine} | {voice} | {language} | {threads} "
                    f"| failed: {proc.stderr.strip()[-200:]} |||||"
                )
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            runs = ", ".join(f"{x:.3f}" for x in r["rtf_all"])
            print(
                f"| {engine} | {voice} | {language} | {threads} | {r['load_s']:.2f} | {r['rtf']:.3f} "
                f"| {runs} "
                f"| {r['peak_mb']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
