"""Fast checks of the scale bench's helpers (no engine, no server).

Run with ``cd bench && PYTHONPATH=../src:. ../.venv/bin/python -m pytest test_scale_ratio.py -q``.
"""

from __future__ import annotations

from _scale_cluster import _throughput_text
from _scale_ratio import Phase, _label, autogroup_note, ratios


def test_throughput_phases_speak_the_same_texts_whoever_calls() -> None:
    """Texts depend on the call's index only (not on the caller), never repeat within a phase, and
    their opening words are all equally long (no phase speaks longer texts than the other)."""
    texts = [_throughput_text(i) for i in range(200)]
    assert len(set(texts)) == 200
    assert len({len(t.split(": ", 1)[0]) for t in texts}) == 1


def _phase(row: str, slots: int, calls: int, variant: str = "", cpu_s: float = 0.0) -> Phase:
    return Phase(row, slots, 0.0, variant, wall_s=10.0, calls=calls, piper=calls, engine_cpu_s=cpu_s)


def test_ratios_pair_each_rounds_phases_of_a_row() -> None:
    """Each round's second phase over its first: 2 slots over 1, own sessions over one session;
    the machine row compares CPU per call (speed), not throughput."""
    phases = [
        _phase("local", 1, 20),
        _phase("local", 2, 36),
        _phase("local", 2, 30),
        _phase("local", 1, 20),
        _phase("sessions", 2, 15),
        _phase("sessions", 2, 30, "own sessions"),
        _phase("machine", 1, 20, cpu_s=4.0),
        _phase("machine", 1, 10, "beside a spinner", cpu_s=2.5),
    ]
    assert ratios(phases, "local") == [1.8, 1.5]
    assert ratios(phases, "sessions") == [2.0]
    assert ratios(phases, "machine") == [0.8]  # 200 ms per call alone, 250 beside: CPU per call


def test_phase_labels_say_what_ran() -> None:
    """Labels name processes or callers and the variant of the second phase."""
    assert _label(_phase("engine", 2, 1)) == "2 processes"
    assert _label(_phase("sessions", 2, 1)) == "2 processes, one session"
    assert _label(_phase("sessions", 2, 1, "own sessions")) == "2 processes, own sessions"
    assert _label(_phase("ray", 1, 1)) == "1 caller"


def test_autogroup_note_names_the_scheduling() -> None:
    """The note says whether the kernel shares the CPU per session (it reads /proc only)."""
    assert autogroup_note().startswith("autogroup: ")
