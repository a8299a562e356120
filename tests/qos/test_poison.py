"""Poison memory: per-priority thresholds, bounded LRU, InputPoisoned events."""

from __future__ import annotations

import pytest

from voxgate.qos.events import EventBus
from voxgate.qos.poison import InputPoisoned, PoisonMemory
from voxgate.types import Priority


def test_batch_is_kept_away_after_one_death_and_everyone_after_two() -> None:
    """One death poisons an input for batch segments only; the second for every priority."""
    bus = EventBus()
    memory = PoisonMemory(bus)
    key = memory.key("piper", "joe", "en", "a poison text")
    with bus.capture() as events:
        assert not memory.is_poisoned(key, Priority.BATCH)
        memory.record_death(key, "piper")
        assert memory.is_poisoned(key, Priority.BATCH)
        assert not memory.is_poisoned(key, Priority.INTERACTIVE)
        memory.record_death(key, "piper")
        assert memory.is_poisoned(key, Priority.INTERACTIVE)
        assert memory.is_poisoned(key, Priority.API)
        memory.record_death(key, "piper")  # no threshold crossed: no event
    assert events == [
        InputPoisoned("piper", key, 1, (Priority.BATCH,)),
        InputPoisoned("piper", key, 2, (Priority.INTERACTIVE, Priority.API, Priority.BATCH)),
    ]


def test_key_separates_engine_voice_language_and_text() -> None:
    """The same text on another engine, voice or language is another input."""
    keys = {
        PoisonMemory.key("piper", "joe", "en", "x"),
        PoisonMemory.key("espeak", "joe", "en", "x"),
        PoisonMemory.key("piper", "amy", "en", "x"),
        PoisonMemory.key("piper", "joe", None, "x"),
        PoisonMemory.key("piper", "joe", "en", "y"),
    }
    assert len(keys) == 5


def test_memory_is_bounded_least_recently_used_first() -> None:
    """Past its capacity the memory forgets the input looked at least recently."""
    memory = PoisonMemory(EventBus(), capacity=2)
    a, b, c = (memory.key("piper", "joe", "en", t) for t in "abc")
    for key in (a, b):
        memory.record_death(key, "piper")
    assert memory.is_poisoned(a, Priority.BATCH)  # a is now more recent than b
    memory.record_death(c, "piper")
    assert len(memory) == 2
    assert memory.deaths(b) == 0
    assert memory.deaths(a) == memory.deaths(c) == 1


def test_bad_construction_is_rejected() -> None:
    """Capacity and thresholds must be at least 1."""
    with pytest.raises(ValueError, match="≥ 1"):
        PoisonMemory(EventBus(), capacity=0)
    with pytest.raises(ValueError, match="≥ 1"):
        PoisonMemory(EventBus(), thresholds={Priority.BATCH: 0})


def test_the_last_resort_needs_two_deaths_even_for_batch() -> None:
    """Without a fallback one death does not poison a batch input: a wrong guess would fail it."""
    memory = PoisonMemory(EventBus())
    key = memory.key("espeak", "espeak-en-us", "en", "x")
    memory.record_death(key, "espeak")
    assert memory.is_poisoned(key, Priority.BATCH)
    assert not memory.is_poisoned(key, Priority.BATCH, has_fallback=False)
    memory.record_death(key, "espeak")
    assert memory.is_poisoned(key, Priority.BATCH, has_fallback=False)
