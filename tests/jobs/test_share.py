"""The jobs' share of an engine: none while other work has not left it quiet for the grace period."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voxgate.jobs.share import JobShare
from voxgate.qos.sla import OutcomeStatus, RequestOutcome
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.testing import FakeClock
from voxgate.types import Priority
from voxgate.wiring import build_synthesizer


@pytest.fixture
def synth(data_dir: Path) -> Synthesizer:
    """A real Synthesizer, not started (no worker runs: the share only reads its scheduler and bus)."""
    settings = Settings.load(data_dir=data_dir, engines={"kokoro": {"enabled": False}})
    return build_synthesizer(settings)


def _ended(priority: Priority, engine: str | None = "piper") -> RequestOutcome:
    return RequestOutcome(0.0, priority, 40, 0.2, OutcomeStatus.OK, engine)


def _share(synth: Synthesizer, clock: FakeClock) -> JobShare:
    config = Settings.load(data_dir=Path("unused")).jobs
    return JobShare(synth, config, clock, idle_grace_s=1.0, recheck_s=0.01)


def test_a_segment_starts_only_once_interactive_work_has_been_quiet_for_the_grace(synth: Synthesizer) -> None:
    """After an interactive request ends, a job segment waits 1 s of (fake) quiet time, then starts."""

    async def main() -> None:
        clock = FakeClock()
        share = _share(synth, clock)
        share.attach()
        slots = share.slots("piper")
        synth.bus.publish(_ended(Priority.INTERACTIVE))
        assert share.limit("piper") == 0
        waiter = asyncio.ensure_future(slots.acquire())
        await asyncio.sleep(0.05)
        clock.advance(0.6)
        await asyncio.sleep(0.05)
        assert not waiter.done()
        synth.bus.publish(_ended(Priority.API))  # more traffic: the quiet time starts again
        clock.advance(0.6)
        await asyncio.sleep(0.05)
        assert not waiter.done()
        clock.advance(0.5)
        await asyncio.wait_for(waiter, 1)
        assert slots.used == 1
        assert share.limit("piper") == 1  # a stopped engine still gets one job slot
        share.detach()

    asyncio.run(main())


def test_job_segments_and_other_engines_do_not_hold_jobs_back(synth: Synthesizer) -> None:
    """A batch outcome (a job's own segment), or interactive work on espeak, leaves piper's share open."""

    async def main() -> None:
        share = _share(synth, FakeClock())
        share.attach()
        synth.bus.publish(_ended(Priority.BATCH))
        synth.bus.publish(_ended(Priority.INTERACTIVE, engine="espeak"))
        synth.bus.publish(_ended(Priority.INTERACTIVE, engine=None))  # failed: no engine spoke
        await asyncio.wait_for(share.slots("piper").acquire(), 1)
        assert share.limit("espeak") == 0
        share.detach()

    asyncio.run(main())


def test_a_detached_share_no_longer_watches_requests(synth: Synthesizer) -> None:
    """After detach(), interactive outcomes no longer start a grace period."""
    share = _share(synth, FakeClock())
    share.attach()
    share.detach()
    synth.bus.publish(_ended(Priority.INTERACTIVE))
    assert share.limit("piper") == 1
