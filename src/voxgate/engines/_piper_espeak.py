"""Plug two memory leaks in piper-tts 1.8's espeak-ng bridge (``piper.espeakbridge``).

1. ``get_phonemes`` builds each ``(phonemes, terminator, end_of_sentence)`` tuple with
   ``Py_BuildValue`` and hands it to ``PyList_Append``, which takes a reference of its own; the
   builder's reference is never released, so every clause's tuple and its two strings live as
   long as the process (``bench/piper_rss.py --variants phonemize-as-is``: +1.25 MB per 1000 texts;
   this was the piper workers' RSS creep in the soak).
2. ``set_voice``, which piper calls before every text, reloads the voice inside espeak-ng and
   leaks about 1.3 KB of C memory each time.

:func:`install` wraps both in place (piper looks them up on the module at every call): the
returned tuples give back exactly the surplus reference they carry, and only if they carry one,
so a piper that fixes the bug is left alone; ``set_voice`` is skipped when that voice is
already set. CPython only (it uses ``Py_DecRef``), like piper's extension itself.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from typing import Any

_installed = False
_install_lock = threading.Lock()


def _refs(items: list[Any], index: int) -> int:
    return sys.getrefcount(items[index])


_OWNED_BY_LIST_ONLY = _refs([tuple(range(3))], 0)
"""What :func:`_refs` reports for an item nothing but its list refers to."""


def release_surplus_references(items: list[Any]) -> int:
    """Drop the one leaked reference of each item in a freshly returned list, where there is one.

    Args:
        items: a list nobody else has seen yet (each item's only rightful owner is the list).

    Returns:
        How many items carried a surplus reference.
    """
    released = 0
    for index in range(len(items)):
        if _refs(items, index) > _OWNED_BY_LIST_ONLY:
            ctypes.pythonapi.Py_DecRef(ctypes.py_object(items[index]))
            released += 1
    return released


def install() -> None:
    """Wrap ``piper.espeakbridge`` once per process (idempotent, thread-safe)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from piper import espeakbridge

        get_phonemes: Callable[[str], list[tuple[str, str, bool]]] = espeakbridge.get_phonemes
        set_voice: Callable[[str], None] = espeakbridge.set_voice
        initialize: Callable[[str], None] = espeakbridge.initialize
        current: str | None = None

        def get_phonemes_without_leak(text: str) -> list[tuple[str, str, bool]]:
            clauses = get_phonemes(text)
            release_surplus_references(clauses)
            return clauses

        def set_voice_once(voice: str) -> None:
            nonlocal current
            if current != voice:
                set_voice(voice)
                current = voice

        def initialize_and_forget_voice(data_dir: str) -> None:
            nonlocal current
            current = None
            initialize(data_dir)

        espeakbridge.get_phonemes = get_phonemes_without_leak
        espeakbridge.set_voice = set_voice_once
        espeakbridge.initialize = initialize_and_forget_voice
        _installed = True
