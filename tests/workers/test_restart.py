"""Restart policy: which deaths back off, and how a refused spawn is retried."""

from __future__ import annotations

import pytest

from voxgate.workers.events import ExitReason
from voxgate.workers.restart import SPAWN_RETRY_FIRST_S, Death, RestartPolicy

NEVER_READY = Death(ExitReason.CRASHED, became_ready=False, on_first_job=False, lived_s=0.0)


def test_deaths_before_ready_back_off_doubling_up_to_the_cap() -> None:
    """A worker that keeps dying while loading is restarted after 0, then 0.5, 1, 2 ... 4 s."""
    policy = RestartPolicy(base_s=0.5, max_s=4.0)
    assert [policy.after_death(NEVER_READY) for _ in range(6)] == [0.0, 0.5, 1.0, 2.0, 4.0, 4.0]


@pytest.mark.parametrize(
    "death",
    [
        Death(ExitReason.CRASHED, became_ready=True, on_first_job=False, lived_s=0.1),  # idle, killed
        Death(ExitReason.CRASHED, became_ready=True, on_first_job=True, lived_s=30.0),
        Death(ExitReason.FROZEN, became_ready=True, on_first_job=True, lived_s=0.1),
        Death(ExitReason.MEMORY_HARD, became_ready=True, on_first_job=True, lived_s=0.1),
        Death(ExitReason.RECYCLED, became_ready=True, on_first_job=False, lived_s=0.1),
    ],
)
def test_deaths_from_outside_restart_at_once_and_reset_the_backoff(death: Death) -> None:
    """A warm worker killed from outside (idle, frozen, over memory, or long after its start) is
    replaced at once, however many times in a row, and ends a crash loop."""
    policy = RestartPolicy(base_s=0.5)
    policy.after_death(NEVER_READY)
    policy.after_death(NEVER_READY)
    assert [policy.after_death(death) for _ in range(5)] == [0.0] * 5
    assert policy.after_death(NEVER_READY) == 0.0


def test_death_on_the_first_job_soon_after_start_is_a_crash_loop() -> None:
    """Dying on the first job right after warming up is what a restart cannot fix: it backs off."""
    policy = RestartPolicy(base_s=0.5, stable_after_s=10.0)
    first_job = Death(ExitReason.CRASHED, became_ready=True, on_first_job=True, lived_s=0.2)
    assert [policy.after_death(first_job) for _ in range(3)] == [0.0, 0.5, 1.0]


def test_spawn_retries_double_and_reset_after_a_success() -> None:
    """Refused spawns are retried after 0.1, 0.2, 0.4 s ... capped; a success starts over."""
    policy = RestartPolicy(max_s=0.3)
    assert [policy.after_spawn_failed() for _ in range(3)] == [SPAWN_RETRY_FIRST_S, 0.2, 0.3]
    policy.after_spawned()
    assert policy.after_spawn_failed() == SPAWN_RETRY_FIRST_S


def test_start_timeout_before_ready_is_a_crash_loop() -> None:
    """A worker killed for not becoming ready in time backs off like one that cannot load."""
    policy = RestartPolicy(base_s=0.5)
    hung = Death(ExitReason.START_TIMEOUT, became_ready=False, on_first_job=False, lived_s=0.0)
    assert [policy.after_death(hung) for _ in range(3)] == [0.0, 0.5, 1.0]
