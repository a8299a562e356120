"""One engine inside a Ray Serve replica: what a worker process does, as a deployment class.

Imported only inside Ray (and by :mod:`voxgate.workers.ray_backend` to deploy it). The replica loads
and warms its engine with the worker's own code (:func:`voxgate.workers.child.load_engine`), so
Serve marks it RUNNING — and the gateway counts it as capacity — only once it is warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time

from voxgate.errors import EngineError, EngineUnavailable
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions, merge_partials
from voxgate.workers.child import load_engine, speak
from voxgate.workers.messages import WorkerSpec

DATA_DIR_ENV = "VOXGATE_DATA_DIR"
"""Where a replica keeps its models (e.g. the joined kokoro file): this variable in the environment
of its node's ``ray start``, else voxgate's default data directory on that node."""
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
_PROBE_EVERY_S = 30.0
"""A replica's engine speaks its warm-up sentence in a health check when it has answered nothing
(neither a call nor a probe) for this long (kokoro: ~0.3 s). A replica under traffic never probes:
the probe used to run every 30 s regardless, in the gap between two calls, and the next call
waited for it."""


def node_settings_json(settings_json: str) -> str:
    """The gateway's engine settings with this node's data directory.

    The gateway sends no ``data_dir``: models are resolved from the packages installed on the
    replica's node into its own directory, so the deployment's fingerprint holds no gateway path
    and gateways with different data directories attach to the same deployment.
    """
    data = json.loads(settings_json)
    data.pop("data_dir", None)
    if os.environ.get(DATA_DIR_ENV):
        data["data_dir"] = os.environ[DATA_DIR_ENV]
    # pydantic fills an absent data_dir with the default (XDG_DATA_HOME or ~/.local/share) here
    return Settings.model_validate(data).model_dump_json(exclude={"server", "remotes"})


def rss_mb() -> float:
    """This process's resident memory in MiB (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE_MB


class ReplicaBusy(EngineUnavailable):
    """This replica's engine is still on a call its caller abandoned: try another replica.

    Serve counts a cancelled request as finished and may route the next one here, although an
    engine cannot be interrupted; the gateway sends it again (Serve picks replicas at random).
    A replica being recycled (above its soft memory limit) refuses calls the same way.
    """


class EngineReplica:
    """A Serve replica running one engine, one call at a time.

    Args:
        spec: which engine to build and how to warm it up (the worker processes' spec).
        hard_rss_mb: the health check fails above this resident memory (Serve then replaces us).
        hang_after_s: a call still running this long past its deadline is a hang: the health check
            fails and Serve replaces the replica (the pool's hang kill).
        soft_rss_mb: a call that ends above this resident memory recycles the replica, as a local
            worker is recycled between jobs: it refuses further calls (``ReplicaBusy``: the gateway
            sends them to another replica) and, once idle, fails its health check, so Serve stops it
            gracefully and starts a fresh one. No call is dropped: the one that crossed the limit
            is answered, and none runs when the check fails.
    """

    def __init__(
        self, spec: WorkerSpec, hard_rss_mb: float, hang_after_s: float, soft_rss_mb: float | None = None
    ) -> None:
        # a VoxgateError here fails the deployment, as LoadFailed does
        loaded = load_engine(dataclasses.replace(spec, settings_json=node_settings_json(spec.settings_json)))
        self._name = spec.engine
        self._engine = loaded.engine
        self._plain = loaded.plain
        self._probe = spec.warmups[0]
        self._hard_rss_mb = hard_rss_mb
        self._hang_after_s = hang_after_s
        self._soft_rss_mb = soft_rss_mb
        self._recycling: str | None = None  # why this replica takes no more calls
        self._lock = asyncio.Lock()  # the engine runs one call (or health probe) at a time
        self._overdue_at: float | None = None
        self._orphaned = False  # the engine runs a call whose caller is gone
        self._probed_at = time.monotonic()

    async def synthesize(
        self, text: str, voice: str, opts: SynthesisOptions, budget_s: float
    ) -> list[AudioChunk]:
        """Speak ``text``; ``budget_s`` is what remained of the caller's deadline when it sent the call.

        The engine runs in a thread. If the caller cancels (its deadline passed), the call still
        holds this replica until the engine returns: an engine cannot be interrupted, and a second
        call must not run beside an abandoned one: until then new calls get ``ReplicaBusy``.

        Raises:
            ReplicaBusy: the engine is still on an abandoned call.
            VoxgateError: the engine's typed errors (``InvalidInput`` ...), or ``EngineError``.
        """
        if self._orphaned:
            raise ReplicaBusy(self._name, "the replica is still on an abandoned call")
        if self._recycling is not None:
            raise ReplicaBusy(self._name, f"the replica is being recycled: {self._recycling}")
        async with self._lock:
            self._overdue_at = time.monotonic() + budget_s + self._hang_after_s
            work = asyncio.ensure_future(asyncio.to_thread(self._speak, text, voice, opts))
            try:
                chunks = await asyncio.shield(work)
            except asyncio.CancelledError:
                self._orphaned = True
                with contextlib.suppress(Exception):
                    await work  # cancelled again (replica shutting down): give up holding the slot
                raise
            finally:
                self._orphaned = False
                self._overdue_at = None
                self._check_soft_limit()
        self._probed_at = time.monotonic()  # it just answered: no warm-up probe owed for a while
        return chunks

    def _check_soft_limit(self) -> None:
        if self._soft_rss_mb is None or self._recycling is not None:
            return
        rss = rss_mb()
        if rss > self._soft_rss_mb:
            self._recycling = f"{rss:.0f} MiB > soft limit {self._soft_rss_mb:.0f} after a call"

    def _speak(self, text: str, voice: str, opts: SynthesisOptions) -> list[AudioChunk]:
        # a replica answers whole: a sentence an engine streamed in pieces is one chunk again
        return merge_partials(list(speak(self._engine, self._name, text, voice, opts)))

    async def check_health(self) -> None:
        """Fail (Serve then replaces this replica) on a hard-limit RSS, a hung call, a mute engine,
        or, once idle, when a call left it above the soft limit (recycling).

        Raises:
            EngineError: why this replica is unhealthy.
        """
        rss = rss_mb()
        if rss > self._hard_rss_mb:
            raise EngineError(self._name, f"replica at {rss:.0f} MiB > hard limit {self._hard_rss_mb:.0f}")
        overdue_at = self._overdue_at
        if overdue_at is not None:
            if time.monotonic() > overdue_at:
                raise EngineError(self._name, f"a call overran its deadline by {self._hang_after_s:.1f} s")
            return
        if self._lock.locked() or self._orphaned:
            return
        if self._recycling is not None:  # idle and refusing calls: Serve may stop us now
            raise EngineError(self._name, f"recycling: {self._recycling}")
        now = time.monotonic()
        if now - self._probed_at < _PROBE_EVERY_S:
            return
        self._probed_at = now
        async with self._lock:  # idle: the engine must still answer its warm-up sentence
            probe = self._probe
            opts = SynthesisOptions(language=probe.language)
            chunks = await asyncio.to_thread(
                lambda: list(speak(self._plain, self._name, probe.text, probe.voice, opts))
            )
        if not chunks:
            raise EngineError(self._name, "the warm-up sentence produced no audio")
