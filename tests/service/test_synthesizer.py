"""The Synthesizer end to end on real worker subprocesses: fallback, degradation marks, cache, admission."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from voxgate.audio.decode import decode
from voxgate.errors import Rejected
from voxgate.qos.breaker import BreakerState
from voxgate.service import SynthesisRequest, Synthesizer
from voxgate.settings import Settings
from voxgate.testing import with_synthesizer
from voxgate.text.pace import speech_s
from voxgate.timestamps import Timestamps
from voxgate.types import AudioFormat, Priority

EN = "The birch canoe slid on the smooth planks."


def _settings(
    data_dir: Path, *, piper_chaos: dict[str, Any] | None = None, piper_workers: int = 2, **qos: Any
) -> Settings:
    chaos = {"enabled": bool(piper_chaos), **(piper_chaos or {})}
    return Settings.load(
        data_dir=data_dir,
        engines={
            "kokoro": {"enabled": False},
            "piper": {"workers": piper_workers, "chaos": chaos},
            "espeak": {"workers": 2},
        },
        qos=qos,
    )


def test_primary_answers_and_second_call_hits_the_cache(data_dir: Path) -> None:
    """English goes to piper, undegraded; the same request again comes from the cache."""

    async def body(synth: Synthesizer) -> None:
        request = SynthesisRequest(EN, voice="joe", format=AudioFormat.MP3)
        first = await synth.synthesize(request)
        assert (first.meta.engine, first.meta.degraded, first.meta.cache_hit) == ("piper", False, False)
        audio, rate = decode(first.audio, AudioFormat.MP3)
        assert rate == 22050
        assert abs(len(audio) / rate - first.duration_s) < 0.06
        second = await synth.synthesize(request)
        assert second.meta.cache_hit
        assert second.audio == first.audio

    with_synthesizer(_settings(data_dir), body)


@pytest.mark.parametrize(
    ("chaos", "reason"),
    [
        ({"error_rate": 1.0}, "piper:error"),
        ({"crash_rate": 1.0}, "piper:crashed"),
        ({"hang_rate": 1.0}, "piper:timeout"),
    ],
)
def test_engine_failure_falls_back_marked_degraded(
    data_dir: Path, chaos: dict[str, Any], reason: str
) -> None:
    """Error, crash and hang in the primary are each answered by espeak, marked degraded with the reason."""

    async def body(synth: Synthesizer) -> None:
        started = time.monotonic()
        result = await synth.synthesize(SynthesisRequest(EN, voice="joe", deadline_s=2.0))
        assert result.meta.engine == "espeak"
        assert result.meta.degraded
        assert result.meta.fallback_reason == reason
        assert time.monotonic() - started < 2.5
        again = await synth.synthesize(SynthesisRequest(EN, voice="joe", deadline_s=2.0))
        assert not again.meta.cache_hit  # degraded answers are not cached

    with_synthesizer(_settings(data_dir, piper_chaos=chaos), body)


def test_breaker_opens_and_skips_the_primary(data_dir: Path) -> None:
    """After enough failures piper's breaker opens; later requests skip it with reason breaker_open."""

    async def body(synth: Synthesizer) -> None:
        for i in range(5):
            await synth.synthesize(SynthesisRequest(f"{EN} {i}", voice="joe"))
        assert synth.breakers.get("piper").state is BreakerState.OPEN
        result = await synth.synthesize(SynthesisRequest(EN + " again", voice="joe"))
        assert result.meta.fallback_reason == "piper:breaker_open"

    with_synthesizer(_settings(data_dir, piper_chaos={"error_rate": 1.0}, breaker={"minimum_calls": 5}), body)


def test_estimate_over_the_deadline_skips_to_the_fast_engine(data_dir: Path) -> None:
    """A long text with a deadline shorter than piper's estimate goes straight to espeak (too_slow)."""

    async def body(synth: Synthesizer) -> None:
        text = " ".join([EN] * 6)
        result = await synth.synthesize(SynthesisRequest(text, voice="joe", deadline_s=0.4))
        assert result.meta.engine == "espeak"
        assert result.meta.fallback_reason == "piper:too_slow"

    with_synthesizer(_settings(data_dir), body)


def test_rate_limit_rejects_with_retry_after(data_dir: Path) -> None:
    """The third request in a minute from one client is refused with a retry-after; another client passes."""

    async def body(synth: Synthesizer) -> None:
        for i in range(2):
            await synth.synthesize(SynthesisRequest(f"Hello {i}.", client_id="alice"))
        with pytest.raises(Rejected) as info:
            await synth.synthesize(SynthesisRequest("Hello two.", client_id="alice"))
        assert info.value.reason == "rate_limit"
        assert 1 <= info.value.retry_after <= 60
        assert await synth.synthesize(SynthesisRequest("Hello three.", client_id="bob"))

    with_synthesizer(_settings(data_dir, limits={"default": "2/minute"}), body)


@pytest.mark.long  # a fault drill (15 s): run by CI after the default suite (`-m long`)
def test_workers_killed_and_frozen_under_load_every_request_answered(data_dir: Path) -> None:
    """SIGKILL one piper worker, SIGSTOP the other, 20 requests running: all answered in time."""

    async def body(synth: Synthesizer) -> None:
        pool = synth.backend.pools["piper"]  # type: ignore[attr-defined]
        deadline_s = 3.0
        texts = [f"Request number {i} reads a short sentence for the test." for i in range(20)]

        async def one(text: str) -> tuple[float, str]:
            started = time.monotonic()
            result = await synth.synthesize(SynthesisRequest(text, voice="joe", deadline_s=deadline_s))
            return time.monotonic() - started, result.meta.engine

        calls = [asyncio.ensure_future(one(t)) for t in texts]
        await asyncio.sleep(0.3)
        pids = [w.pid for w in pool.snapshot() if w.pid is not None]
        os.kill(pids[0], signal.SIGKILL)
        os.kill(pids[1], signal.SIGSTOP)
        results = await asyncio.gather(*calls)
        assert len(results) == 20
        assert max(latency for latency, _ in results) <= deadline_s + 0.5
        recovered = time.monotonic()
        while pool.ready_count < 2 or any(w.pid in pids for w in pool.snapshot()):
            assert time.monotonic() - recovered < 30.0, pool.snapshot()  # replaced, however loaded the box
            await asyncio.sleep(0.05)

    with_synthesizer(_settings(data_dir), body)


def test_priority_is_recorded_in_the_sla_windows(data_dir: Path) -> None:
    """Answered requests appear in the SLA snapshot under their priority with full availability."""

    async def body(synth: Synthesizer) -> None:
        await synth.synthesize(SynthesisRequest("One.", priority=Priority.INTERACTIVE))
        await synth.synthesize(SynthesisRequest("Two.", priority=Priority.BATCH))
        snap = synth.sla.snapshot(300).to_dict()
        assert snap["answered"] == 2
        assert snap["availability"] == 1.0

    with_synthesizer(_settings(data_dir), body)


def test_hedge_answers_from_the_next_engine_when_the_primary_is_slow(data_dir: Path) -> None:
    """With hedging on, a slow primary is overtaken by espeak, marked degraded with reason hedged."""

    async def body(synth: Synthesizer) -> None:
        started = time.monotonic()
        result = await synth.synthesize(SynthesisRequest(EN, voice="joe", deadline_s=4.0))
        elapsed = time.monotonic() - started
        assert result.meta.engine == "espeak"
        assert result.meta.fallback_reason == "piper:hedged"
        assert elapsed < 2.5  # did not wait for the slow primary's 3 s

    settings = _settings(data_dir, piper_chaos={"latency_ms": 3000, "latency_sigma": 0}, hedge_after=0.3)
    with_synthesizer(settings, body)


def test_hedge_not_started_when_the_primary_is_quick(data_dir: Path) -> None:
    """With hedging on, a healthy primary answers before the hedge point and nothing is degraded."""

    async def body(synth: Synthesizer) -> None:
        result = await synth.synthesize(SynthesisRequest(EN, voice="joe", deadline_s=10.0))
        assert (result.meta.engine, result.meta.degraded) == ("piper", False)

    with_synthesizer(_settings(data_dir, hedge_after=0.5), body)


def test_stream_sends_a_cached_answer_in_one_piece(data_dir: Path) -> None:
    """A streamed request whose answer is cached gets the cached file at once, marked as a hit."""

    async def body(synth: Synthesizer) -> None:
        request = SynthesisRequest(EN, voice="joe", format=AudioFormat.MP3)
        first = await synth.synthesize(request)
        meta, pieces = await synth.stream(request)
        assert meta.cache_hit
        assert b"".join([p async for p in pieces]) == first.audio

    with_synthesizer(_settings(data_dir), body)


@pytest.mark.parametrize(("first_audio_s", "first_words"), [(60.0, 8), (0.001, 3)])
def test_stream_cuts_the_first_sentence_to_the_first_audio_budget(
    data_dir: Path, first_audio_s: float, first_words: int
) -> None:
    """A first sentence the primary speaks within the budget streams whole; else it is cut between
    words (the first segment's words, as its timestamps come before the next segment's audio)."""

    async def body(synth: Synthesizer) -> None:
        request = SynthesisRequest(EN, voice="joe", format=AudioFormat.PCM, use_cache=False, timestamps=True)
        parts: list[Timestamps] = []
        meta, pieces = await synth.stream(request, parts.append)
        async for _ in pieces:
            pass
        assert meta.engine == "piper"
        assert len(parts[0].words) == first_words  # piper streams a segment in pieces: count words

    with_synthesizer(_settings(data_dir, first_audio_s=first_audio_s), body)


def test_stream_keeps_only_two_segments_in_synthesis_ahead_of_what_it_sent(data_dir: Path) -> None:
    """A six-sentence stream never has more than two segments queued or running beyond those sent."""
    text = " ".join(f"Sentence number {n} is spoken by the only piper worker." for n in range(6))

    async def body(synth: Synthesizer) -> None:
        request = SynthesisRequest(text, voice="joe", format=AudioFormat.PCM, use_cache=False)
        _meta, pieces = await synth.stream(request)
        ahead = []
        sent = 0
        async for piece in pieces:
            sent += 1 if piece else 0
            ahead.append(synth.scheduler.in_flight("piper") + synth.scheduler.queued("piper", Priority.API))
        assert sent >= 6  # one piece per sentence; the first in several (piper streams it)
        assert max(ahead) == 2

    with_synthesizer(_settings(data_dir, piper_workers=1), body)


def test_a_later_segment_is_due_after_the_speech_of_the_segments_before_it(data_dir: Path) -> None:
    """The two segments a stream starts together are not due at the same moment: the second plays
    after the first, so its deadline is later by (at least) the first one's estimated speech. Both
    are due no earlier than the request's deadline. Before, both got the same deadline, so the
    second was often skipped as too slow for it (Chinese fell to espeak mid-answer)."""
    sentences = [f"Sentence number {n} is spoken by the piper worker at its own pace." for n in range(4)]

    async def body(synth: Synthesizer) -> None:
        dues: dict[int, float] = {}
        texts: dict[int, str] = {}
        route = synth._route_segment

        async def spy(request: SynthesisRequest, plan: Any, index: int, deadline: float, *rest: Any) -> Any:
            dues[index], texts[index] = deadline, plan.prepared.segments[index].text
            return await route(request, plan, index, deadline, *rest)

        synth._route_segment = spy  # type: ignore[method-assign]
        request = SynthesisRequest(" ".join(sentences), voice="joe", format=AudioFormat.PCM, use_cache=False)
        arrived = time.monotonic()
        _meta, pieces = await synth.stream(request)
        async for _piece in pieces:
            pass
        assert len(dues) >= len(sentences)  # one segment a sentence (the first may be cut in two)
        assert dues[1] >= arrived + 1.0  # never before the request's deadline (qos.deadlines.api_s)
        # 1 and 2 start together, after segment 0 is sent; 2 plays after 1, so it is due later
        assert dues[2] - dues[1] == pytest.approx(speech_s(texts[1]), abs=1e-6)

    # a short deadline, so that when the audio runs out decides (piper speaks a sentence in ~0.2 s)
    with_synthesizer(_settings(data_dir, piper_workers=1, deadlines={"api_s": 1.0}), body)


def test_job_segments_skip_rate_limits_and_the_cache(data_dir: Path) -> None:
    """Requests marked as job segments are neither rate limited nor cached; normal ones are both."""

    async def body(synth: Synthesizer) -> None:
        for _ in range(4):  # the limit is 2/minute
            result = await synth.synthesize(
                SynthesisRequest("Segment.", client_id="job:alice", rate_limited=False, use_cache=False)
            )
            assert not result.meta.cache_hit
        assert (await synth.cache.stats()).items == 0

    with_synthesizer(_settings(data_dir, limits={"default": "2/minute"}), body)
