"""The Synthesizer's remembered plans: a repeated request skips the text front end, nothing else changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from voxgate.audio.decode import decode
from voxgate.clock import SystemClock
from voxgate.errors import TextTooLong
from voxgate.planning import Planner
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import with_synthesizer
from voxgate.types import AudioFormat

EN = "The birch canoe slid on the smooth planks."
OTHER = "Glue the sheet to the dark blue background."
THIRD = "It is easy to tell the depth of a well."


def _settings(data_dir: Path, *, cache_url: str = "memory://?max_bytes=268435456") -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"workers": 1}, "espeak": {"workers": 1}},
        cache={"url": cache_url},
        qos={"limits": {"default": "", "daily_chars": 0}},
    )


def _with_plan_cache(synth: Synthesizer, settings: Settings, size: int) -> Synthesizer:
    """A Synthesizer over ``synth``'s components that remembers at most ``size`` plans."""
    return Synthesizer(
        backend=synth.backend,
        catalog=synth.catalog,
        chains=synth.chains,
        router=synth.router,
        scheduler=synth.scheduler,
        admission=synth.admission,
        cache=synth.cache,
        sla=synth.sla,
        breakers=synth.breakers,
        bus=synth.bus,
        clock=SystemClock(),
        planner=Planner(
            backend=synth.backend,
            catalog=synth.catalog,
            chains=synth.chains,
            router=synth.router,
            clock=SystemClock(),
            deadlines=settings.qos.deadlines,
            max_chars=settings.text.max_chars,
            max_segment_chars=settings.text.max_segment_chars,
            plan_cache_size=size,
        ),
    )


def _counts(synth: Synthesizer) -> tuple[int, int]:
    return synth.planner.texts_prepared, synth.planner.plans_reused


def test_repeat_reuses_the_plan_and_any_changed_field_prepares_again(data_dir: Path) -> None:
    """A repeat is a cache hit without prepare; another speed, voice, format or rate prepares and misses."""

    async def body(synth: Synthesizer) -> None:
        base = SynthesisRequest(EN, voice="joe")
        first = await synth.synthesize(base)
        assert not first.meta.cache_hit
        assert _counts(synth) == (1, 0)
        again = await synth.synthesize(SynthesisRequest(EN, voice="joe", client_id="someone-else"))
        assert again.meta.cache_hit
        assert again.audio == first.audio
        assert _counts(synth) == (1, 1)
        variants = [
            SynthesisRequest(EN, voice="joe", speed=1.25),
            SynthesisRequest(EN, voice="espeak-en-us"),
            SynthesisRequest(EN, voice="joe", format=AudioFormat.FLAC),
            SynthesisRequest(EN, voice="joe", sample_rate=16000),
        ]
        for n, request in enumerate(variants, start=2):
            assert not (await synth.synthesize(request)).meta.cache_hit, request
            assert _counts(synth) == (n, 1), request
        espeak = await synth.synthesize(variants[1])
        assert (espeak.meta.engine, espeak.meta.cache_hit) == ("espeak", True)
        flac = await synth.synthesize(variants[2])
        assert (flac.meta.media_type, flac.meta.cache_hit) == ("audio/flac", True)
        resampled = await synth.synthesize(variants[3])
        assert (resampled.meta.sample_rate, resampled.meta.cache_hit) == (16000, True)
        assert _counts(synth) == (5, 4)
        # another raw text is prepared again; it normalises to the same text, so the audio cache hits
        spaced = await synth.synthesize(SynthesisRequest(f"  {EN}  ", voice="joe"))
        assert spaced.meta.cache_hit
        assert spaced.audio == first.audio
        assert _counts(synth) == (6, 4)

    with_synthesizer(_settings(data_dir), body)


def test_evicted_audio_is_synthesised_again_from_the_remembered_plan(data_dir: Path) -> None:
    """When the audio cache dropped an answer, the remembered plan misses and the engine speaks again."""

    async def body(synth: Synthesizer) -> None:
        first = await synth.synthesize(SynthesisRequest(EN, voice="espeak-en-us"))
        await synth.synthesize(SynthesisRequest(OTHER, voice="espeak-en-us"))  # evicts the first answer
        assert (await synth.cache.stats()).evictions >= 1
        again = await synth.synthesize(SynthesisRequest(EN, voice="espeak-en-us"))
        assert _counts(synth) == (2, 1)
        assert (again.meta.engine, again.meta.cache_hit, again.meta.degraded) == ("espeak", False, False)
        audio, rate = decode(again.audio, AudioFormat.WAV)
        assert rate == first.meta.sample_rate
        assert abs(len(audio) / rate - first.duration_s) < 0.05
        hit = await synth.synthesize(SynthesisRequest(EN, voice="espeak-en-us"))
        assert hit.meta.cache_hit
        assert _counts(synth) == (2, 2)

    # room for one short espeak WAV (~80 KB at 22.05 kHz), not two
    with_synthesizer(_settings(data_dir, cache_url="memory://?max_bytes=120000"), body)


def test_remembered_plans_are_bounded_least_recently_used_first(data_dir: Path) -> None:
    """With room for two plans, the least recently used one is forgotten; its audio still hits the cache."""

    async def body(built: Synthesizer) -> None:
        synth = _with_plan_cache(built, _settings(data_dir), 2)
        for text in (EN, OTHER):
            await synth.synthesize(SynthesisRequest(text, voice="espeak-en-us"))
        await synth.synthesize(SynthesisRequest(EN, voice="espeak-en-us"))  # EN is now the most recent
        await synth.synthesize(SynthesisRequest(THIRD, voice="espeak-en-us"))  # forgets OTHER
        assert _counts(synth) == (3, 1)
        assert (await synth.synthesize(SynthesisRequest(EN, voice="espeak-en-us"))).meta.cache_hit
        assert _counts(synth) == (3, 2)
        forgotten = await synth.synthesize(SynthesisRequest(OTHER, voice="espeak-en-us"))
        assert forgotten.meta.cache_hit  # the audio cache still has it: only the preparation is redone
        assert _counts(synth) == (4, 2)

    with_synthesizer(_settings(data_dir), body)


def test_uncached_and_invalid_requests_are_not_remembered(data_dir: Path) -> None:
    """Job segments (no cache) and refused texts are prepared every time, so nothing stale is kept."""

    async def body(synth: Synthesizer) -> None:
        for _ in range(2):
            await synth.synthesize(SynthesisRequest(EN, voice="espeak-en-us", use_cache=False))
        assert _counts(synth) == (2, 0)
        too_long = "a " * settings.text.max_chars
        for _ in range(2):
            with pytest.raises(TextTooLong):
                await synth.synthesize(SynthesisRequest(too_long, voice="espeak-en-us"))
        assert _counts(synth) == (2, 0)  # a refused text is never remembered, so never reused

    settings = _settings(data_dir)
    with_synthesizer(settings, body)
