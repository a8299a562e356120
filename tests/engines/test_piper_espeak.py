"""piper's espeak-ng bridge, wrapped by voxgate: no leaked clause tuples, voices still switch."""

from __future__ import annotations

import gc
import sys
import tracemalloc
from typing import Any

import pytest

from voxgate.engines import _piper_espeak
from voxgate.engines.piper import PiperEngine
from voxgate.testing import HARVARD_SENTENCES
from voxgate.types import SynthesisOptions


@pytest.fixture(scope="module")
def bridge() -> Any:
    """piper's espeak bridge as a worker has it: wrapped by ``PiperEngine.load()``, initialised."""
    PiperEngine(threads=1).load()
    from piper import espeakbridge
    from piper.phonemize_espeak import EspeakPhonemizer

    EspeakPhonemizer()  # initialises espeak-ng (get_phonemes before that crashes the process)
    espeakbridge.set_voice("en-us")
    return espeakbridge


def test_returned_clauses_are_owned_by_their_list_only(bridge: Any) -> None:
    """Without the wrapper each clause tuple carries one reference too many (it never dies)."""
    clauses = bridge.get_phonemes("Hello there. How are you?")
    assert [c[1] for c in clauses] == [".", "?"]
    assert [sys.getrefcount(clauses[i]) for i in range(len(clauses))] == [2, 2]


def test_release_leaves_correctly_counted_items_alone() -> None:
    """A list whose items are owned only by it (a fixed piper) loses nothing."""
    items = [tuple(range(3)), tuple(range(4))]
    assert _piper_espeak.release_surplus_references(items) == 0
    assert items == [(0, 1, 2), (0, 1, 2, 3)]


@pytest.mark.usefixtures("bridge")
def test_phonemizing_many_texts_keeps_no_python_objects() -> None:
    """500 texts: the leak kept ~1 KB of tuples and strings per text; now next to nothing stays."""
    from piper.phonemize_espeak import EspeakPhonemizer

    phonemizer = EspeakPhonemizer()
    texts = [f"Item {n}. {HARVARD_SENTENCES[n % len(HARVARD_SENTENCES)]}" for n in range(500)]
    phonemizer.phonemize("en-us", texts[0])
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for text in texts:
            phonemizer.phonemize("en-us", text)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 50_000, f"{grown} bytes still held after 500 texts"


@pytest.mark.usefixtures("bridge")
def test_voice_changes_still_reach_espeak() -> None:
    """Skipping repeated set_voice calls must not skip real changes of voice."""
    from piper.phonemize_espeak import EspeakPhonemizer

    phonemizer = EspeakPhonemizer()
    english = phonemizer.phonemize("en-us", "Wasser")
    german = phonemizer.phonemize("de", "Wasser")
    assert english != german
    assert phonemizer.phonemize("en-us", "Wasser") == english


def test_piper_still_speaks_after_the_wrapper() -> None:
    """The engine's audio path goes through the wrapped bridge and still produces speech."""
    engine = PiperEngine(threads=1)
    chunks = list(engine.synthesize("Hello there. How are you?", "joe", SynthesisOptions(language="en")))
    assert sum(c.duration for c in chunks) > 1.0
