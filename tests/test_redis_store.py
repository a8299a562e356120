"""Bounded Redis calls: the cool-down after failures, and one cool-down per server across the stores."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from voxgate.audio.cache import CacheError
from voxgate.qos.admission import StoreFailed
from voxgate.redis_store import Cooldown, SharedStoreError
from voxgate.settings import Settings
from voxgate.testing import FakeClock
from voxgate.types import Priority
from voxgate.wiring import build_synthesizer


def test_the_cool_down_doubles_while_failing_and_resets_on_success() -> None:
    """1 s, 2 s, 4 s ... capped at 30 s after failures in a row; a success starts again at 1 s."""
    clock = FakeClock()
    cooldown = Cooldown(clock, 1.0, max_s=30.0)
    cooldown.check()  # fresh: calls go through
    waits = []
    for _ in range(7):
        cooldown.failed()
        start = clock.monotonic()
        while True:
            try:
                cooldown.check()
                break
            except SharedStoreError:
                clock.advance(0.25)
        waits.append(clock.monotonic() - start)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    cooldown.succeeded()
    cooldown.failed()
    with pytest.raises(SharedStoreError, match="cooling down"):
        cooldown.check()
    clock.advance(1.0)
    cooldown.check()


def test_the_cache_and_the_limits_on_one_redis_share_a_cool_down(
    data_dir: Path, redis_server, redis_url: str
) -> None:
    """Redis stopped: the cache's timeout starts a cool-down that the limits and quota then skip at once."""
    settings = Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={"limits": {"storage_uri": "async+" + redis_url, "default": "5/minute", "daily_chars": 100}},
        cache={"url": redis_url.removesuffix("/0") + "/1?timeout_ms=200"},
    )
    cache_errors: list[CacheError] = []
    store_errors: list[StoreFailed] = []

    async def main() -> None:
        synth = build_synthesizer(settings)  # not started: no workers needed for the cache and admission
        synth.bus.subscribe(CacheError, cache_errors.append)
        synth.bus.subscribe(StoreFailed, store_errors.append)
        try:
            os.kill(redis_server.process.pid, signal.SIGSTOP)
            try:
                assert await synth.cache.get("0" * 64) is None
                await synth.admission.admit("c", Priority.API, 10, 10.0, lambda _p, _c: 0.0, queued=0)
            finally:
                os.kill(redis_server.process.pid, signal.SIGCONT)
        finally:
            await synth.cache.close()  # type: ignore[attr-defined]
            await synth.admission.close()

    asyncio.run(asyncio.wait_for(main(), 30))
    assert [e.op for e in cache_errors] == ["get"]
    assert "no answer within 0.2 s" in cache_errors[0].error
    assert [(e.store, e.op) for e in store_errors] == [
        ("rate_limit", "check"),
        ("quota", "check"),
        ("quota", "charge"),
        ("rate_limit", "hit"),
    ]
    assert all("cooling down" in e.error for e in store_errors)  # none waited for a timeout
