"""Time to first audio of a long text streamed through voxgate B in front of voxgate A (its ``openai``
remote), against A alone.

A runs espeak (one worker). ``--call-ms`` slows each of A's engine calls (engines/chaos, fixed
latency) to stand for a slower engine, and ``--remote-segment-chars`` makes A answer one of B's
sentences in several streamed pieces, as a remote that streams below the sentence does. Each run
speaks its own text (no cache hits). Run it on the code to compare (``PYTHONPATH=.../src``)::

    nice .venv/bin/python bench/remote_ttfa.py --runs 5 --call-ms 300 --remote-segment-chars 40
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, serve_in_thread

WAV_HEADER = 44


def _a_settings(data_dir: Path, call_ms: float, segment_chars: int) -> Settings:
    chaos = {"enabled": call_ms > 0, "latency_ms": call_ms, "latency_sigma": 0.0}
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"enabled": False},
            "espeak": {"workers": 1, "chaos": chaos},
        },
        text={"max_segment_chars": segment_chars},
        qos={"fallbacks": {"*": ["espeak"]}, "limits": {"default": "100000/minute"}},
    )


def _b_settings(data_dir: Path, a_url: str) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={"fallbacks": {"*": ["espeak"]}, "limits": {"default": "100000/minute"}},
        remotes={
            "a": {
                "kind": "openai",
                "url": f"{a_url}/v1",
                "model": "voxgate",
                "languages": ["en"],
                "voices": {"a-us": "espeak-en-us"},
            }
        },
    )


def _stream(base: str, voice: str, text: str) -> tuple[float, float, str]:
    """Seconds to the first audio byte and to the end, and the engine that spoke."""
    body = {"text": text, "voice": voice, "format": "wav", "stream": True, "deadline_ms": 60_000}
    started = time.perf_counter()
    first = None
    size = 0
    with httpx.stream("POST", f"{base}/api/v1/tts", json=body, timeout=120) as response:
        response.raise_for_status()
        for part in response.iter_bytes():
            size += len(part)
            if first is None and size > WAV_HEADER:
                first = time.perf_counter() - started
        engine = response.headers.get("X-Voxgate-Engine", "?")
    return first or float("nan"), time.perf_counter() - started, engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--call-ms", type=float, default=0.0)
    parser.add_argument("--remote-segment-chars", type=int, default=250)
    args = parser.parse_args()
    runs = min(args.runs, len(HARVARD_SENTENCES) // 4)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        a_settings = _a_settings(root / "a", args.call_ms, args.remote_segment_chars)
        with serve_in_thread(a_settings) as a_url, serve_in_thread(_b_settings(root / "b", a_url)) as b_url:
            _stream(b_url, "a-us", "Warm up the connection.")
            _stream(a_url, "espeak-en-us", "Warm up the connection too.")
            results: dict[str, list[tuple[float, float]]] = {"B -> A": [], "A alone": []}
            for n in range(runs):
                text = " ".join(HARVARD_SENTENCES[4 * n : 4 * n + 4])  # four sentences, ~170 chars
                first, total, engine = _stream(b_url, "a-us", text)
                assert engine == "a", engine
                results["B -> A"].append((first, total))
                first, total, _ = _stream(a_url, "espeak-en-us", text)
                results["A alone"].append((first, total))
    print(f"call_ms={args.call_ms:g} remote_segment_chars={args.remote_segment_chars} runs={runs}")
    print(f"{'path':<8}  {'TTFA median':>12}  {'TTFA max':>9}  {'total median':>13}")
    for path, rows in results.items():
        firsts = [r[0] for r in rows]
        totals = [r[1] for r in rows]
        print(
            f"{path:<8}  {statistics.median(firsts) * 1000:>9.0f} ms  {max(firsts) * 1000:>6.0f} ms"
            f"  {statistics.median(totals) * 1000:>10.0f} ms"
        )


if __name__ == "__main__":
    main()
