"""Voice-agent frameworks against voxgate's OpenAI route, as their users plug it in (issue 15).

pipecat's ``OpenAITTSService(base_url=...)`` and LiveKit Agents' ``openai.TTS(base_url=...)`` are
pointed at a running voxgate; each speaks two sentences with OpenAI voice names, and the audio
frames they hand to their pipelines are checked: 24 kHz mono, as long as the speech (within
20 %), not silence. Time to the first frame is reported. LiveKit's default model
(``gpt-4o-mini-tts``) asks for ``stream_format: sse``, which voxgate answers; pipecat asks for
raw ``pcm``.

The frameworks are heavy and not voxgate dependencies; run this with an interpreter that has
them (a separate virtual environment is fine: only the HTTP API is used)::

    python -m venv /tmp/agents && /tmp/agents/bin/pip install 'pipecat-ai==1.14.0' \\
        'livekit-agents==1.8.9' 'livekit-plugins-openai==1.8.9'
    voxgate serve --port 8000 &
    /tmp/agents/bin/python bench/agents.py --url http://127.0.0.1:8000 [--api-key KEY]
"""

from __future__ import annotations

import argparse
import array
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background."
SECONDS = (4.0, 7.5)
"""What two Harvard sentences last at a natural pace (the check is loose: it catches wrong rates)."""
RATE = 24000


async def livekit(url: str, api_key: str, voice: str, response_format: str) -> dict[str, Any]:
    """LiveKit Agents' OpenAI TTS plugin: ``synthesize`` and read the audio frames it emits."""
    from livekit.plugins import openai  # type: ignore[import-not-found]

    tts = openai.TTS(base_url=f"{url}/v1", api_key=api_key, voice=voice, response_format=response_format)
    started = time.monotonic()
    first = None
    samples = 0
    peak = 0
    rates = set()
    try:
        async with tts.synthesize(TEXT) as stream:
            async for event in stream:
                frame = event.frame
                first = first or time.monotonic() - started
                rates.add((frame.sample_rate, frame.num_channels))
                samples += frame.samples_per_channel
                peak = max(peak, _peak(bytes(frame.data)))
    finally:
        await tts.aclose()
    return _row("livekit openai.TTS", response_format, voice, first, samples, rates, peak)


async def pipecat(url: str, api_key: str, voice: str, response_format: str) -> dict[str, Any]:
    """pipecat's OpenAITTSService: ``run_tts`` and read the raw audio frames it yields."""
    from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame  # type: ignore[import-not-found]
    from pipecat.services.openai.tts import OpenAITTSService  # type: ignore[import-not-found]

    del response_format  # pipecat always asks for pcm
    settings = OpenAITTSService.Settings(voice=voice)
    service = OpenAITTSService(api_key=api_key, base_url=f"{url}/v1", settings=settings, sample_rate=RATE)
    service._sample_rate = RATE  # what the pipeline's StartFrame would set; run_tts is called directly
    started = time.monotonic()
    first = None
    samples = 0
    peak = 0
    rates = set()
    async for frame in service.run_tts(TEXT, "bench"):
        if isinstance(frame, ErrorFrame):
            raise RuntimeError(frame.error)
        if isinstance(frame, TTSAudioRawFrame):
            first = first or time.monotonic() - started
            rates.add((frame.sample_rate, frame.num_channels))
            samples += len(frame.audio) // 2
            peak = max(peak, _peak(frame.audio))
    return _row("pipecat OpenAITTSService", "pcm", voice, first, samples, rates, peak)


def _peak(pcm: bytes) -> int:
    samples = array.array("h", pcm[: len(pcm) // 2 * 2])
    return max((abs(x) for x in samples), default=0)


def _row(
    name: str, fmt: str, voice: str, first: float | None, samples: int, rates: set[Any], peak: int
) -> dict[str, Any]:
    seconds = samples / RATE
    ok = rates == {(RATE, 1)} and SECONDS[0] <= seconds <= SECONDS[1] and peak > 1000
    return {
        "framework": name,
        "format": fmt,
        "voice": voice,
        "first_frame_ms": round(1000 * first) if first is not None else None,
        "seconds": round(seconds, 2),
        "rates": sorted(rates),
        "ok": ok,
    }


async def run(url: str, api_key: str) -> list[dict[str, Any]]:
    """Every framework and format, one after the other; a framework that is missing is reported."""
    cases: list[tuple[Callable[..., Awaitable[dict[str, Any]]], str, str]] = [
        (livekit, "alloy", "pcm"),
        (livekit, "nova", "mp3"),
        (pipecat, "alloy", "pcm"),
    ]
    rows = []
    for case, voice, fmt in cases:
        try:
            rows.append(await case(url, api_key, voice, fmt))
        except ImportError as exc:  # not installed: not run
            rows.append(
                {"framework": case.__name__, "format": fmt, "voice": voice, "ok": None, "error": str(exc)}
            )
        except Exception as exc:  # ran and failed
            rows.append(
                {"framework": case.__name__, "format": fmt, "voice": voice, "ok": False, "error": repr(exc)}
            )
    return rows


def main() -> int:
    """Run against ``--url`` and print one JSON line per case; exit 1 if a case that ran failed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="voxgate's base URL")
    parser.add_argument("--api-key", default="voxgate", help="a key, if the server has keys")
    args = parser.parse_args()
    rows = asyncio.run(run(args.url.rstrip("/"), args.api_key))
    for row in rows:
        print(json.dumps(row))
    return 1 if any(row["ok"] is False for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
