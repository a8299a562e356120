"""The SLA bench's scenarios and run modes (pure data)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from _sla_load import Mix
from _sla_stats import OVERLOAD, STRICT

STEADY_MIX = (Mix(0.3, "interactive", 20, 120), Mix(0.5, "api", 20, 200), Mix(0.2, "batch", 100, 300))
"""Everyday traffic: short interactive texts, medium API texts, longer batch texts."""
FLOOD_MIX = (Mix(0.5, "interactive", 20, 120), Mix(3.0, "batch", 150, 400))
"""Interactive at half of capacity while batch offers three times capacity in requests."""
HOSTILE_MIX = (Mix(0.5, "interactive", 20, 120),)
"""The legitimate traffic beside the hostile clients: interactive at half of capacity."""


@dataclass(frozen=True, slots=True)
class Scenario:
    """One fixed-duration run.

    Attributes:
        key: file-name stem.
        title: row label.
        kind: which targets apply (``STRICT`` or ``OVERLOAD``).
        load: multiple of the measured primary capacity, applied to every mix's share.
        mixes: the traffic streams.
        fault: ``none``, ``kill`` (SIGKILL workers), ``freeze`` (SIGSTOP workers), ``leak``
            (the primary leaks memory: runs on its own server with chaos settings), ``kill-all``
            (SIGKILL every worker of one engine, the last resort included, engine by engine) or
            ``hostile`` (attackers beside the load: runs on its own server with a poison text).
        probe: probe ``/healthz`` every 100 ms beside the load (adds its P99 target).
    """

    key: str
    title: str
    kind: str
    load: float
    mixes: tuple[Mix, ...] = STEADY_MIX
    fault: str = "none"
    probe: bool = False

    @property
    def offered_share(self) -> float:
        """Offered rate as a multiple of capacity."""
        return self.load * sum(m.share for m in self.mixes)


SCENARIOS = (
    Scenario("steady-050", "1 steady 50 %", STRICT, 0.5),
    Scenario("steady-100", "1 steady 100 %", STRICT, 1.0),
    Scenario("overload-200", "2 overload 200 %", OVERLOAD, 2.0),
    Scenario("overload-400", "2 overload 400 %", OVERLOAD, 4.0),
    Scenario("kill", "3 SIGKILL workers, 70 %", STRICT, 0.7, fault="kill"),
    Scenario("freeze", "4 SIGSTOP workers, 70 %", STRICT, 0.7, fault="freeze"),
    Scenario("leak", "5 memory leak, 70 %", STRICT, 0.7, fault="leak"),
    Scenario("mixed", "6 batch flood + interactive", OVERLOAD, 1.0, FLOOD_MIX),
    Scenario("kill-all", "7 any engine loses all workers, 70 %", STRICT, 0.7, fault="kill-all", probe=True),
    Scenario("hostile", "8 hostile clients + 50 % interactive", STRICT, 1.0, HOSTILE_MIX, "hostile", True),
)
OWN_SERVER = ("leak", "hostile")
"""Faults whose scenario runs on a server of its own (its settings differ)."""


@dataclass(frozen=True, slots=True)
class Mode:
    """How long each part of a run lasts.

    Attributes:
        capacity_s: closed-loop capacity measurement.
        scenario_s: arrival window of each scenario.
        fault_every_s: seconds between two signals in the kill and freeze scenarios.
        rss_every_s: seconds between two ``/metrics`` scrapes.
        kill_all_every_s: seconds between two engines losing all workers (scenario 7); shorter
            when the scenario is too short to hit every engine once at this pace.
    """

    name: str
    capacity_s: float
    scenario_s: float
    fault_every_s: float
    rss_every_s: float = 1.0
    kill_all_every_s: float = 10.0


MODES = {
    "short": Mode("short", capacity_s=8.0, scenario_s=16.0, fault_every_s=4.0),
    "full": Mode("full", capacity_s=30.0, scenario_s=90.0, fault_every_s=5.0),
}
SOAK_LOAD = 0.7
SOFT_RSS_MB, HARD_RSS_MB = 600, 1000
"""RSS limits of the primary's workers in the leak scenario (piper idles at ≈ 300 MB)."""
_LEAK_HEADROOM_MB = 300.0
_CALLS_PER_REQUEST = 3.0
"""Engine calls per request of ``STEADY_MIX`` (one per sentence; ≈ 115 characters a request)."""


def leak_mb_per_call(capacity: float, load: float, workers: int, duration_s: float) -> float:
    """MB to leak per engine call so that a worker crosses the soft limit about four times a scenario.

    Args:
        capacity: primary capacity in requests/s.
        load: the leak scenario's multiple of capacity.
        workers: the primary's workers.
        duration_s: the scenario's arrival window.

    Returns:
        Between 1 and 50 MB.
    """
    calls_per_worker_s = capacity * load * _CALLS_PER_REQUEST / max(1, workers)
    return min(50.0, max(1.0, _LEAK_HEADROOM_MB / max(1e-9, calls_per_worker_s * duration_s / 4)))


def server_settings(primary: str, *, leak_mb: float = 0.0, poison: str = "") -> dict[str, Any]:
    """Settings of a server under test: no cache, no rate limits or quotas (the bench is one client).

    Args:
        primary: the primary engine (kokoro is only started when it is the primary).
        leak_mb: the primary leaks this many MB per call (chaos), under ``SOFT_RSS_MB``/``HARD_RSS_MB``.
        poison: a text that crashes the primary's worker when a sentence contains it (chaos
            ``poison_text`` with ``poison_effect = "crash"``); empty: none.
    """
    engines: dict[str, Any] = {
        "kokoro": {"enabled": primary == "kokoro", "threads": 1, "workers": 2},
        "piper": {"threads": 1, "workers": 2},
        "espeak": {"workers": 2},
    }
    if leak_mb > 0:
        engines[primary] |= {
            "soft_rss_mb": SOFT_RSS_MB,
            "hard_rss_mb": HARD_RSS_MB,
            "chaos": {"enabled": True, "leak_mb_per_call": round(leak_mb, 2)},
        }
    if poison:
        chaos = engines[primary].setdefault("chaos", {"enabled": True})
        chaos |= {"poison_text": poison, "poison_effect": "crash"}
    return {
        "server": {"shutdown_grace_s": 5.0, "log_json": True},
        "cache": {"url": "memory://?max_bytes=0"},
        "qos": {"limits": {"default": "", "daily_chars": 0}},
        "engines": engines,
    }
