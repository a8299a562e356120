"""Completed streams are cached: the same stream or whole request later is a hit, for every store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from voxgate.audio.cache import FailOpenCache, MemoryCache, cache_from_url
from voxgate.audio.cache_disk import DiskCache
from voxgate.audio.pcm import STREAMING_WAV_SIZE
from voxgate.requests import SynthesisRequest
from voxgate.service import CACHED_PIECE_BYTES, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import HARVARD_SENTENCES, with_synthesizer
from voxgate.types import AudioFormat

TEXT = " ".join(HARVARD_SENTENCES[:3])
VOICE = "espeak-en-us"


def _settings(data_dir: Path) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            # piper fails every call (fault injection): its voice is answered by espeak, degraded
            "piper": {"workers": 1, "threads": 1, "chaos": {"enabled": True, "error_rate": 1.0}},
            "espeak": {"workers": 1},
        },
        qos={"limits": {"default": "100000/minute", "daily_chars": 0}},
        cache={"url": "memory://?max_bytes=268435456"},
    )


async def _drain(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [piece async for piece in chunks]


@pytest.fixture(scope="module")
def outcome(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> dict:
    """One espeak Synthesizer runs every scenario (its cache swapped per store); the facts they saw."""
    stores: dict[str, Callable[[], object]] = {
        "memory": lambda: MemoryCache(),
        "disk": lambda: DiskCache(tmp_path_factory.mktemp("stream-cache")),
    }
    try:
        url = request.getfixturevalue("redis_server").db(2)
        stores["redis"] = lambda: cache_from_url(f"{url}?timeout_ms=5000")
    except pytest.skip.Exception:
        pass  # without redis-server the memory and disk stores still run
    seen: dict = {}

    async def body(synth: Synthesizer) -> None:
        for name, make in stores.items():
            synth.cache = FailOpenCache(make())  # type: ignore[arg-type]
            text = f"{name.capitalize()} store. {TEXT}"
            first_meta, first = await synth.stream(
                SynthesisRequest(text, voice=VOICE, format=AudioFormat.MP3)
            )
            first_pieces = await _drain(first)
            again_meta, again = await synth.stream(
                SynthesisRequest(text, voice=VOICE, format=AudioFormat.MP3)
            )
            again_pieces = await _drain(again)
            whole = await synth.synthesize(SynthesisRequest(text, voice=VOICE, format=AudioFormat.MP3))
            seen[name] = {
                "first_hit": first_meta.cache_hit,
                "first_pieces": len(first_pieces),
                "again_hit": again_meta.cache_hit,
                "same_bytes": b"".join(again_pieces) == b"".join(first_pieces),
                "whole_hit": whole.meta.cache_hit,
                "whole_engine": whole.meta.engine,
            }
            await synth.cache.close()  # type: ignore[attr-defined]

        synth.cache = FailOpenCache(MemoryCache())
        # Closed after its first piece: not stored.
        _meta, chunks = await synth.stream(SynthesisRequest(f"Cancelled. {TEXT}", voice=VOICE))
        await anext(chunks)
        await chunks.aclose()
        seen["cancelled_then"] = (
            await synth.synthesize(SynthesisRequest(f"Cancelled. {TEXT}", voice=VOICE))
        ).meta.cache_hit
        # A WAV stream says "unknown length"; the stored answer states its size.
        _meta, chunks = await synth.stream(SynthesisRequest(f"Wave. {TEXT}", voice=VOICE))
        streamed = b"".join(await _drain(chunks))
        stored = await synth.synthesize(SynthesisRequest(f"Wave. {TEXT}", voice=VOICE))
        seen["wav"] = (streamed, stored.audio, stored.meta.cache_hit)
        # A stream larger than the cache's largest entry is not collected, hence not stored.
        synth.cache = FailOpenCache(MemoryCache(max_bytes=2000))
        _meta, chunks = await synth.stream(SynthesisRequest(f"Too big. {TEXT}", voice=VOICE))
        await _drain(chunks)
        seen["too_big_then"] = (
            await synth.synthesize(SynthesisRequest(f"Too big. {TEXT}", voice=VOICE))
        ).meta.cache_hit
        # A degraded stream (piper's voice, answered by espeak) is not stored, as a degraded answer is not.
        meta, chunks = await synth.stream(SynthesisRequest(f"Degraded. {TEXT}", voice="joe"))
        await _drain(chunks)
        again = await synth.synthesize(SynthesisRequest(f"Degraded. {TEXT}", voice="joe"))
        seen["degraded"] = (meta.degraded, again.meta.cache_hit)
        # A cached answer longer than one piece is streamed in pieces.
        synth.cache = FailOpenCache(MemoryCache())
        long_text = " ".join(HARVARD_SENTENCES[:10])
        await synth.synthesize(SynthesisRequest(long_text, voice=VOICE))
        meta, chunks = await synth.stream(SynthesisRequest(long_text, voice=VOICE))
        seen["long"] = (meta.cache_hit, [len(p) for p in await _drain(chunks)])

    with_synthesizer(_settings(data_dir), body)
    return seen


@pytest.mark.parametrize("store", ["memory", "disk", "redis"])
def test_a_second_identical_stream_is_served_from_the_cache(outcome: dict, store: str) -> None:
    """A completed stream is stored: the same stream again is a hit, same bytes; a whole request too."""
    if store not in outcome:
        pytest.skip(
            "redis-server not found: install it (apt-get install redis-server) to run the Redis tests"
        )
    facts = outcome[store]
    assert facts["first_hit"] is False
    assert facts["first_pieces"] > 1  # it really streamed
    assert facts["again_hit"] is True
    assert facts["same_bytes"]
    assert (facts["whole_hit"], facts["whole_engine"]) == (True, "espeak")


def test_a_cancelled_stream_is_not_stored(outcome: dict) -> None:
    """A stream closed before its end leaves nothing in the cache."""
    assert outcome["cancelled_then"] is False


def test_a_degraded_stream_is_not_stored(outcome: dict) -> None:
    """A stream answered by a fallback engine is not cached, as a degraded whole answer is not."""
    assert outcome["degraded"] == (True, False)


def test_a_stream_over_the_largest_entry_is_not_stored(outcome: dict) -> None:
    """A stream bigger than the cache's largest entry is not kept (nor held in memory past it)."""
    assert outcome["too_big_then"] is False


def test_a_stored_wav_stream_states_its_length(outcome: dict) -> None:
    """The streamed WAV header says "unknown"; the cached file has the real sizes and the same samples."""
    streamed, stored, hit = outcome["wav"]
    assert hit is True
    assert int.from_bytes(streamed[40:44], "little") == STREAMING_WAV_SIZE
    assert int.from_bytes(stored[40:44], "little") == len(stored) - 44
    assert int.from_bytes(stored[4:8], "little") == len(stored) - 8
    assert stored[44:] == streamed[44:]


def test_a_cached_answer_streams_in_pieces(outcome: dict) -> None:
    """A hit on the stream path is sent in CACHED_PIECE_BYTES pieces, not as one block."""
    hit, sizes = outcome["long"]
    assert hit is True
    assert len(sizes) > 1
    assert max(sizes) == CACHED_PIECE_BYTES
