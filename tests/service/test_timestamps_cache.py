"""Timestamped answers and the audio cache: stored with their words, served from it, on every store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voxgate.audio.cache import FailOpenCache, MemoryCache, cache_from_url
from voxgate.requests import SynthesisRequest
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.testing import with_synthesizer
from voxgate.timestamps import TimedMark, TimedText, Timestamps, merge, pack_timestamps, unpack_timestamps

VOICE = "espeak-en-us"
TEXT = "Dr. Smith paid $3.50 for the book. Then we went home, at last!"


SAMPLE = Timestamps(
    words=(TimedText("$3.50", 0.1234567, 1.5), TimedText("你", 1.6, 1.9)),
    sentences=(TimedText("$3.50 你", 0.1234567, 1.9),),
    marks=(TimedMark("here", 1.55),),
    estimated=True,
    indexes=(0, 2),
)


def test_packed_timestamps_come_back_to_the_millisecond_for_their_own_text_only() -> None:
    """Packing keeps words, sentences, marks, timing, indexes (ms); other text, version or damage: None."""
    packed = pack_timestamps(SAMPLE, "text-a")
    back = unpack_timestamps(packed, "text-a")
    assert back is not None
    assert back.to_dict() == SAMPLE.to_dict()
    assert (back.indexes, back.estimated, back.words[0].start) == ((0, 2), True, 0.123)
    assert unpack_timestamps(packed, "text-b") is None
    assert unpack_timestamps(packed.replace(b'"v":1', b'"v":2'), "text-a") is None
    assert unpack_timestamps(packed[:-3], "text-a") is None
    assert unpack_timestamps(packed.replace(b'"indexes":[0,2]', b'"indexes":[0]'), "text-a") is None
    assert unpack_timestamps(b"\xff\xfe", "text-a") is None


def test_a_dialogues_words_keep_their_turn_and_voice_through_the_cache_layout() -> None:
    """A dialogue's words and sentences come back from the packed layout with their turn and voice."""
    dialogue = Timestamps(
        words=(TimedText("Hi", 0.0, 0.3, 0, "joe"), TimedText("there", 1.0, 1.4, 1, "espeak-en-us")),
        sentences=(TimedText("Hi", 0.0, 0.3, 0, "joe"), TimedText("there", 1.0, 1.4, 1, "espeak-en-us")),
        marks=(),
        estimated=False,
        indexes=(0, 1),
    )
    back = unpack_timestamps(pack_timestamps(dialogue, "t"), "t")
    assert back is not None
    assert back.words == dialogue.words
    assert back.sentences == dialogue.sentences


def _settings(data_dir: Path) -> Settings:
    return Settings.load(
        data_dir=data_dir,
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        qos={"limits": {"default": "100000/minute", "daily_chars": 0}},
    )


def _ask(text: str, *, timestamps: bool) -> SynthesisRequest:
    return SynthesisRequest(text, voice=VOICE, timestamps=timestamps)


async def _stream(synth: Synthesizer, text: str) -> tuple[bool, bytes, dict[str, Any]]:
    """A timestamped stream: (cache hit, its bytes, its words merged as a whole answer's)."""
    parts: list[Timestamps] = []
    meta, chunks = await synth.stream(_ask(text, timestamps=True), on_timing=parts.append)
    data = b"".join([piece async for piece in chunks])
    return meta.cache_hit, data, merge(parts).to_dict()


@pytest.fixture(scope="module")
def outcome(data_dir: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """One espeak Synthesizer runs every scenario on each store (memory; Redis when it runs here)."""
    stores: dict[str, Callable[[], Any]] = {"memory": MemoryCache}
    try:
        url = request.getfixturevalue("redis_server").db(3)
        stores["redis"] = lambda: cache_from_url(f"{url}?timeout_ms=5000")
    except pytest.skip.Exception:
        pass  # without redis-server the memory store still runs
    seen: dict[str, Any] = {}

    async def body(synth: Synthesizer) -> None:
        for name, make in stores.items():
            synth.cache = FailOpenCache(make())
            facts: dict[str, Any] = {}
            # Whole timestamped answers: twice, then plain.
            text = f"{name.capitalize()} store. {TEXT}"
            first = await synth.synthesize(_ask(text, timestamps=True))
            again = await synth.synthesize(_ask(text, timestamps=True))
            plain = await synth.synthesize(_ask(text, timestamps=False))
            assert first.timestamps is not None
            assert again.timestamps is not None
            facts["whole"] = (first.meta.cache_hit, again.meta.cache_hit, plain.meta.cache_hit)
            facts["whole_same_audio"] = again.audio == first.audio == plain.audio
            facts["whole_words"] = (first.timestamps.to_dict(), again.timestamps.to_dict())
            facts["plain_has_no_words"] = plain.timestamps is None
            # The same request streamed: a hit, with the whole answer's audio and words.
            facts["stream_of_whole"] = (*await _stream(synth, text), first.audio, first.timestamps.to_dict())
            # Plain first (an entry without words), then timestamped: a miss that stores the words.
            text = f"Plain first, {name}. {TEXT}"
            plain = await synth.synthesize(_ask(text, timestamps=False))
            timed = await synth.synthesize(_ask(text, timestamps=True))
            again = await synth.synthesize(_ask(text, timestamps=True))
            assert timed.timestamps is not None
            assert again.timestamps is not None
            facts["plain_first"] = (plain.meta.cache_hit, timed.meta.cache_hit, again.meta.cache_hit)
            facts["plain_first_words"] = (timed.timestamps.to_dict(), again.timestamps.to_dict())
            facts["plain_first_audio"] = timed.audio == again.audio  # espeak varies a little per run
            # A timestamped stream is stored with its words: the same stream, and a whole answer, hit.
            text = f"Streamed first, {name}. {TEXT}"
            fresh = await _stream(synth, text)
            repeat = await _stream(synth, text)
            whole = await synth.synthesize(_ask(text, timestamps=True))
            assert whole.timestamps is not None
            served = (whole.meta.cache_hit, whole.audio, whole.timestamps.to_dict())
            facts["streams"] = (fresh, repeat, served)
            seen[name] = facts
            await synth.cache.close()

        # Two texts that read alike share their audio but not their words.
        synth.cache = FailOpenCache(MemoryCache())
        digits, spelled = "It cost $3.50.", "It cost three dollars and fifty cents."
        same_key = (
            synth.planner.plan(_ask(digits, timestamps=True)).key
            == synth.planner.plan(_ask(spelled, timestamps=True)).key
        )
        await synth.synthesize(_ask(digits, timestamps=True))
        other = await synth.synthesize(_ask(spelled, timestamps=True))
        assert other.timestamps is not None
        plain = await synth.synthesize(_ask(spelled, timestamps=False))
        seen["spellings"] = (
            same_key,
            other.meta.cache_hit,
            [w.text for w in other.timestamps.words],
            plain.meta.cache_hit,
        )

    with_synthesizer(_settings(data_dir), body)
    return seen


STORES = ["memory", "redis"]


def _facts(outcome: dict[str, Any], store: str) -> dict[str, Any]:
    if store not in outcome:
        pytest.skip(
            "redis-server not found: install it (apt-get install redis-server) to run the Redis tests"
        )
    facts: dict[str, Any] = outcome[store]
    return facts


@pytest.mark.parametrize("store", STORES)
def test_a_repeated_timestamped_request_is_a_hit_with_the_same_words_and_audio(
    outcome: dict[str, Any], store: str
) -> None:
    """Timestamped twice: the second is a cache hit with identical audio, words, sentences and timing."""
    facts = _facts(outcome, store)
    assert facts["whole"][:2] == (False, True)
    assert facts["whole_same_audio"]
    stored, served = facts["whole_words"]
    assert served == stored
    assert [w["text"] for w in served["words"]][:5] == [store.capitalize(), "store", "Dr.", "Smith", "paid"]
    assert "$3.50" in [w["text"] for w in served["words"]]  # the user's words, not the spoken ones


@pytest.mark.parametrize("store", STORES)
def test_a_plain_request_hits_an_entry_a_timestamped_one_stored(outcome: dict[str, Any], store: str) -> None:
    """Plain after timestamped: a hit, the same audio, and no timestamps in the answer."""
    facts = _facts(outcome, store)
    assert facts["whole"][2] is True
    assert facts["plain_has_no_words"]


@pytest.mark.parametrize("store", STORES)
def test_a_timestamped_request_misses_an_entry_without_words_and_stores_them(
    outcome: dict[str, Any], store: str
) -> None:
    """Timestamped after plain: a miss (that entry has no words), stored with words, then a hit."""
    facts = _facts(outcome, store)
    assert facts["plain_first"] == (False, False, True)
    assert facts["plain_first_audio"]
    stored, served = facts["plain_first_words"]
    assert served == stored
    assert len(served["words"]) > 10


@pytest.mark.parametrize("store", STORES)
def test_a_timestamped_stream_is_served_from_a_hit_with_its_words(
    outcome: dict[str, Any], store: str
) -> None:
    """A stream of a stored timestamped answer is a hit that hands over the same audio and words."""
    hit, data, words, whole_audio, whole_words = _facts(outcome, store)["stream_of_whole"]
    assert hit is True
    assert data == whole_audio
    assert words == whole_words


@pytest.mark.parametrize("store", STORES)
def test_a_completed_timestamped_stream_is_stored_with_its_words(outcome: dict[str, Any], store: str) -> None:
    """A fresh timestamped stream is stored with its words: the same stream and a whole request then hit."""
    (fresh_hit, fresh_data, fresh_words), repeat, whole = _facts(outcome, store)["streams"]
    assert fresh_hit is False
    assert fresh_words["words"]
    samples = fresh_data[44:]  # the streamed WAV's header says "unknown length", the stored one its size
    assert (repeat[0], repeat[1][44:], repeat[2]) == (True, samples, fresh_words)
    assert (whole[0], whole[1][44:], whole[2]) == (True, samples, fresh_words)


def test_texts_that_read_alike_share_audio_but_not_words(outcome: dict[str, Any]) -> None:
    """ "$3.50" and "three dollars and fifty cents" share a key; a timestamped request gets its own words."""
    same_key, other_hit, words, plain_hit = outcome["spellings"]
    assert same_key is True
    assert other_hit is False
    assert words == ["It", "cost", "three", "dollars", "and", "fifty", "cents"]
    assert plain_hit is True
