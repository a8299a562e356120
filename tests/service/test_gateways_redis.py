"""Two gateways on one Redis: one answer is a cache hit on the other; a client's limits hold across both."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voxgate.errors import Rejected
from voxgate.requests import SynthesisRequest
from voxgate.settings import Settings
from voxgate.wiring import build_synthesizer

TEXT = "The birch canoe slid on the smooth planks."  # 42 characters


def test_two_gateways_share_the_cache_the_rate_limit_and_the_quota(data_dir: Path, redis_url: str) -> None:
    """Gateway 2 answers from gateway 1's cache entry; 3/minute and 100 chars/day hold across both."""
    settings = Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={
            "limits": {
                "storage_uri": "async+" + redis_url,
                "default": "3/minute",
                "daily_chars": 100,
                "store_timeout_s": 5,  # generous: this test is about sharing, not timing
            }
        },
        cache={"url": redis_url.removesuffix("/0") + "/1?timeout_ms=5000"},
    )

    async def main() -> None:
        one, two = build_synthesizer(settings), build_synthesizer(settings)
        await asyncio.gather(one.start(), two.start())
        try:
            first = await one.synthesize(SynthesisRequest(TEXT, client_id="c"))
            assert first.meta.cache_hit is False
            shared = await two.synthesize(SynthesisRequest(TEXT, client_id="c"))
            assert shared.meta.cache_hit is True  # a hit is neither rate-limited nor charged
            assert shared.audio == first.audio
            await two.synthesize(SynthesisRequest(TEXT + " Again.", client_id="c"))  # 42 + 49 chars
            with pytest.raises(Rejected) as quota:
                await one.synthesize(SynthesisRequest("Twelve chars", client_id="c"))
            assert quota.value.reason == "quota"
            await one.synthesize(SynthesisRequest("Short.", client_id="c"))  # the third hit, 97 chars
            with pytest.raises(Rejected) as rate:
                await two.synthesize(SynthesisRequest("Hi.", client_id="c"))
            assert rate.value.reason == "rate_limit"
            await two.synthesize(SynthesisRequest("Hi.", client_id="other"))  # others are not affected
        finally:
            await asyncio.gather(one.stop(grace_s=1), two.stop(grace_s=1))

    asyncio.run(asyncio.wait_for(main(), 90))
