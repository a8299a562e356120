"""A request that gets no audio is not charged: failures and cancellations give the characters back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voxgate.errors import NoEngineAvailable, Rejected
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, with_synthesizer

TEXT = "The birch canoe slid on the smooth planks."  # 42 characters


def _settings(data_dir: Path, *, chaos: dict[str, object] | None = None, daily_chars: int = 60) -> Settings:
    espeak: dict[str, object] = {"workers": 1}
    if chaos:
        espeak["chaos"] = {"enabled": True, **chaos}
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": espeak},
        qos={"limits": {"default": "100000/minute", "daily_chars": daily_chars}},
        cache={"url": "memory://?max_bytes=0"},
    )


def test_requests_no_engine_could_answer_are_not_charged(data_dir: Path) -> None:
    """espeak fails every call: three 42-character 503s fit a 60-character quota (old code: 429)."""

    async def body(synth: Synthesizer) -> None:
        for call in (synth.synthesize, synth.stream, synth.synthesize):
            with pytest.raises(NoEngineAvailable):
                await call(SynthesisRequest(TEXT))
            await asyncio.sleep(0)  # the refund runs in a task of its own
        failed = synth.sla.snapshot(300).failed
        assert failed == 3

    with_synthesizer(_settings(data_dir, chaos={"error_rate": 1.0}), body)


def test_a_cancelled_request_is_recorded_cancelled_and_refunded(data_dir: Path) -> None:
    """A synthesis task cancelled mid-way is 'cancelled' (not failed) and its characters come back."""
    text = " ".join(HARVARD_SENTENCES[:8])

    async def body(synth: Synthesizer) -> None:
        task = asyncio.ensure_future(synth.synthesize(SynthesisRequest(text, use_cache=False)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        snapshot = synth.sla.snapshot(300)
        assert (snapshot.cancelled, snapshot.failed) == (1, 0)
        # the whole text again fits the quota of 1.5 texts only if the first was given back
        await synth.synthesize(SynthesisRequest(text, use_cache=False))

    with_synthesizer(
        _settings(data_dir, chaos={"latency_ms": 100, "latency_sigma": 0}, daily_chars=len(text) * 3 // 2),
        body,
    )


def test_a_stream_closed_early_is_cancelled_and_refunds_what_it_did_not_send(data_dir: Path) -> None:
    """A stream closed after its first piece: cancelled, encoder closed, the unsent characters come back."""
    text = " ".join(HARVARD_SENTENCES[:8])

    async def body(synth: Synthesizer) -> None:
        _meta, chunks = await synth.stream(SynthesisRequest(text, use_cache=False))
        assert await anext(chunks)
        await chunks.aclose()
        await asyncio.sleep(0)
        snapshot = synth.sla.snapshot(300)
        assert (snapshot.cancelled, snapshot.failed) == (1, 0)
        await synth.synthesize(SynthesisRequest(text, use_cache=False))
        with pytest.raises(Rejected):  # ... but what was sent stays charged
            await synth.synthesize(SynthesisRequest(text[: len(text) // 2 + 2], use_cache=False))

    with_synthesizer(_settings(data_dir, daily_chars=len(text) * 3 // 2), body)
