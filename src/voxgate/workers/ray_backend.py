"""The ``ray://`` execution backend: each local engine as a Ray Serve application.

``ray://HOST:PORT`` attaches to a running cluster (the GCS address ``ray start --head --port PORT``
prints); ``ray://local`` starts (or reuses) a Ray inside this process, for development. Every
enabled local engine becomes one Serve application, ``voxgate-<engine>``, of
:class:`~voxgate.workers.ray_replica.EngineReplica` replicas. Its deployment's name carries a hash
of the engine's settings, so a gateway finding an application with the same hash attaches to it,
and one with other settings (an upgrade, a changed pool) redeploys it.

The gateway keeps admission, priorities, deadlines, breakers and fallback; Ray places and restarts
the replicas. One :class:`DeploymentHandle` per engine is taken at start; capacity is the number of
RUNNING replicas in ``serve.status()``, polled off the event loop.

Importing this module imports ray: :func:`voxgate.workers.backend.backend_from_url` does so only
when the URL asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import itertools
import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast
from urllib.parse import urlparse

import ray
from ray import serve
from ray.exceptions import RayActorError, RayTaskError
from ray.serve.deployment import Deployment
from ray.serve.exceptions import BackPressureError, RayServeException, RequestCancelledError
from ray.serve.handle import DeploymentHandle, DeploymentResponse

import voxgate
from voxgate.clock import Clock
from voxgate.engines.base import Engine
from voxgate.engines.registry import build_engines
from voxgate.errors import EngineCrashed, EngineError, EngineTimeout, EngineUnavailable, VoxgateError
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions, VoiceInfo
from voxgate.workers.backend import ChunkSink
from voxgate.workers.events import EventSink, ExitReason, WorkerExited, WorkerRss, WorkerStarted
from voxgate.workers.messages import WorkerSpec
from voxgate.workers.pool import Settled, WorkerSnapshot
from voxgate.workers.ray_replica import EngineReplica, ReplicaBusy

log = logging.getLogger(__name__)

APP_PREFIX = "voxgate-"
"""Serve application names: ``voxgate-<engine>``."""

_RUNNING = "RUNNING"
_HEALTH_CHECK_PERIOD_S = 2.0
"""Serve replaces a replica after 3 failed checks in a row: a hung call is caught ~6 s after it overran."""
_HEALTH_CHECK_TIMEOUT_S = 30.0
_GRACEFUL_SHUTDOWN_S = 10.0
"""How long a replica being stopped may finish its call (a hung one never does: its thread is killed)."""
_BUSY_RETRY_S = 0.01
_BUSY_RETRY_MAX_S = 0.2


class RayBackend:
    """Engines as Ray Serve deployments, behind the :class:`ExecutionBackend` Protocol.

    Args:
        url: ``ray://local`` or ``ray://HOST:PORT``.
        settings: engine settings (the replicas rebuild their engines from them).
        clock: monotonic time for deadlines.
        on_event: worker events sink: the replicas' life cycles as the status polls see them
            (:class:`WorkerStarted` when a replica first answers, :class:`WorkerRss` each poll,
            :class:`WorkerExited` when it is gone), so worker metrics read the same as locally.
        poll_s: seconds between two reads of Serve's status (capacity, replica snapshots).
        start_timeout_s: longest wait for an application to become RUNNING at start.
    """

    def __init__(
        self,
        url: str,
        settings: Settings,
        clock: Clock,
        on_event: EventSink,
        *,
        poll_s: float = 2.0,
        start_timeout_s: float = 180.0,
    ) -> None:
        parsed = urlparse(url)
        self._local = parsed.netloc in ("local", "")
        self._address = None if self._local else parsed.netloc
        self._catalog: dict[str, Engine] = build_engines(settings)
        self._clock = clock
        self._poll_s = poll_s
        self._start_timeout_s = start_timeout_s
        self._specs: dict[str, _AppSpec] = {
            name: _app_spec(name, settings, engine) for name, engine in self._catalog.items()
        }
        self._handles: dict[str, DeploymentHandle[Any]] = {}
        self._capacity: dict[str, int] = dict.fromkeys(self._catalog, 0)
        self._snapshots: dict[str, list[WorkerSnapshot]] = {name: [] for name in self._catalog}
        self._replicas = _ReplicaTracker(self._specs, on_event)
        self._actors: dict[str, Any] = {}  # replica actor handles by name (one GCS lookup each)
        self._listeners: list[Callable[[str], None]] = []
        self._deployed: list[str] = []  # applications this gateway created (torn down by a local stop)
        self._started_ray = False
        self._poller: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()

    # ---- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect to Ray, deploy (or attach to) each engine's application, wait until it runs.

        Raises:
            EngineUnavailable: Ray cannot be reached, or an application did not come up in time.
        """
        try:
            await asyncio.to_thread(self._connect)
        except Exception as exc:  # ray.init's errors are plain ConnectionError, RuntimeError ...
            first = next(iter(self._catalog), "ray")
            raise EngineUnavailable(first, f"cannot reach Ray at {self._address or 'local'}: {exc}") from exc
        for name in self._catalog:
            try:
                await asyncio.wait_for(asyncio.to_thread(self._deploy, name), self._start_timeout_s)
            except TimeoutError:
                why = await asyncio.to_thread(self._status_message, name)
                raise EngineUnavailable(
                    name, f"no Ray replica running after {self._start_timeout_s:.0f} s: {why}"
                ) from None
            except Exception as exc:  # serve.run raises RuntimeError when the replicas fail to start
                raise EngineUnavailable(name, f"Ray Serve deployment failed: {exc}") from exc
        await self._poll_once()
        self._poller = asyncio.ensure_future(self._poll_loop())

    def _connect(self) -> None:
        if not ray.is_initialized():
            if self._local:
                # as many logical CPUs as the replicas reserve, like local:// (which runs every
                # engine's workers whatever the cores): else a replica would wait for a free CPU
                needed = sum(spec.replicas * spec.actor_options["num_cpus"] for spec in self._specs.values())
                ray.init(
                    num_cpus=max(os.cpu_count() or 1, needed), include_dashboard=False, log_to_driver=False
                )
                self._started_ray = True
            else:
                ray.init(address=self._address, log_to_driver=False)
        # the gateway calls replicas through handles: no HTTP proxy (a no-op if Serve already runs)
        serve.start(proxy_location="Disabled")

    def _deploy(self, name: str) -> None:
        spec = self._specs[name]
        app = serve.status().applications.get(spec.app)
        if app is not None and app.status == _RUNNING and spec.deployment in app.deployments:
            log.info("attaching to Ray Serve application %s (%s)", spec.app, spec.deployment)
        else:
            log.info("deploying Ray Serve application %s (%s)", spec.app, spec.deployment)
            deployment = cast(Deployment, serve.deployment(EngineReplica)).options(
                name=spec.deployment,
                num_replicas=spec.replicas,
                max_ongoing_requests=1,
                max_queued_requests=spec.replicas,
                ray_actor_options=spec.actor_options,
                health_check_period_s=_HEALTH_CHECK_PERIOD_S,
                health_check_timeout_s=_HEALTH_CHECK_TIMEOUT_S,
                graceful_shutdown_timeout_s=_GRACEFUL_SHUTDOWN_S,
            )
            serve.run(
                deployment.bind(spec.worker, spec.hard_rss_mb, spec.hang_after_s, spec.soft_rss_mb),
                name=spec.app,
                route_prefix=None,
            )
            self._deployed.append(spec.app)
        # straight to the replica's inter-deployment gRPC server rather than as a Ray actor task whose
        # answer goes through the object store: ~7 ms less per call with a piper-sized answer
        self._handles[name] = serve.get_app_handle(spec.app).options(_by_reference=False)

    def _status_message(self, name: str) -> str:
        """What Serve says about the engine's deployment (e.g. replicas that cannot be scheduled)."""
        spec = self._specs[name]
        try:
            app = serve.status().applications.get(spec.app)
        except Exception as exc:
            return f"Serve status unavailable ({exc})"
        deployment = app.deployments.get(spec.deployment) if app is not None else None
        if deployment is None:
            return "application not found"
        return f"{deployment.status}: {deployment.message or 'no message'}"

    async def stop(self, grace_s: float) -> None:
        """Stop polling; with ``ray://local``, delete the applications this gateway deployed.

        Attached to a shared cluster (``ray://HOST:PORT``) the applications keep running: other
        gateways call the same replicas, and a restarting gateway attaches to them again instead of
        reloading every engine. A changed engine setting redeploys them on the next start.
        """
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._local:
            await asyncio.to_thread(self._teardown)
        self._handles.clear()
        for name in self._capacity:
            self._set_capacity(name, 0)

    def _teardown(self) -> None:
        for app in self._deployed:
            with contextlib.suppress(RayServeException):
                serve.delete(app)
        self._deployed.clear()
        if self._started_ray:
            shutdown: Callable[[], None] = serve.shutdown  # untyped in ray
            shutdown()
            ray.shutdown()
            self._started_ray = False

    # ---- catalogue -----------------------------------------------------------------------------
    def engines(self) -> Sequence[str]:
        """Engine names in preference order."""
        return list(self._catalog)

    def voices(self) -> Sequence[VoiceInfo]:
        """Every voice of every enabled local engine."""
        return [v for engine in self._catalog.values() for v in engine.voices()]

    def model_version(self, engine: str) -> str:
        """The catalog's model version (the replicas build the same engine)."""
        return self._catalog[engine].model_version

    @property
    def deployed(self) -> Sequence[str]:
        """The applications this gateway deployed (not those it attached to)."""
        return list(self._deployed)

    def deployment_name(self, engine: str) -> str:
        """The engine's Serve deployment name (``<engine>-<settings hash>``)."""
        return self._specs[engine].deployment

    # ---- capacity ------------------------------------------------------------------------------
    def is_ready(self, engine: str) -> bool:
        """At least one RUNNING (hence warm) replica."""
        return self._capacity.get(engine, 0) > 0

    def capacity(self, engine: str) -> int:
        """RUNNING replicas of the engine, as of the last status poll."""
        return self._capacity.get(engine, 0)

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(engine)`` when a poll finds a different number of RUNNING replicas."""
        self._listeners.append(listener)

    def workers(self) -> Mapping[str, Sequence[WorkerSnapshot]]:
        """Per-engine replica snapshots (pid, state) as of the last refresh."""
        return {name: list(snaps) for name, snaps in self._snapshots.items()}

    async def _poll_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), self._poll_s)
            self._poll_now.clear()
            try:
                await self._poll_once()
            except Exception:  # Ray unreachable for a moment: keep the last figures, try again
                log.warning("reading Ray Serve's status failed", exc_info=True)

    async def _poll_once(self) -> None:
        status = await asyncio.to_thread(serve.status)
        probes = await asyncio.to_thread(_probe_replicas, self._specs, self._actors)
        for name, spec in self._specs.items():
            app = status.applications.get(spec.app)
            deployment = app.deployments.get(spec.deployment) if app is not None else None
            states = deployment.replica_states if deployment is not None else {}
            running = sum(count for state, count in states.items() if state == _RUNNING)
            self._snapshots[name] = self._replicas.update(name, probes[name])
            self._set_capacity(name, running)

    def _set_capacity(self, engine: str, running: int) -> None:
        if running == self._capacity.get(engine):
            return
        self._capacity[engine] = running
        for listener in self._listeners:
            listener(engine)

    # ---- the one call --------------------------------------------------------------------------
    async def run(
        self,
        engine: str,
        text: str,
        voice: str,
        opts: SynthesisOptions,
        deadline: float,
        on_settled: Settled | None = None,
        on_chunk: ChunkSink | None = None,
    ) -> list[AudioChunk]:
        """Synthesise on one of the engine's replicas before the monotonic ``deadline``.

        Replicas answer a segment whole: ``on_chunk`` is never called, and ``opts.stream`` is
        not passed on (the engine would decode in pieces for nothing).

        At the deadline the Ray call is cancelled and the caller gets ``EngineTimeout``; the
        replica stays busy until its engine returns, and its health check has Serve replace it if
        the call is still running ``hang_after_s`` later. ``on_settled`` is called once, when the
        call is settled from the gateway's side (answered, failed, timed out or cancelled): the
        replica's own slot is held by Ray (``max_ongoing_requests=1``), not by the gateway.

        Raises:
            EngineUnavailable: no replica running, or Serve's queue for the engine is full.
            EngineTimeout: the deadline passed.
            EngineCrashed: the replica died during the call.
            InvalidInput / EngineError: raised by the engine in the replica (unwrapped).
        """
        error: EngineError | None = None
        try:
            handle = self._handles.get(engine)
            if handle is None or self._capacity.get(engine, 0) == 0:
                raise EngineUnavailable(engine, "no Ray replica running")
            for attempt in itertools.count():
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0:
                    raise EngineTimeout(engine, 0.0)
                response = cast(
                    DeploymentResponse[Any],
                    handle.synthesize.remote(text, voice, dataclasses.replace(opts, stream=False), remaining),
                )
                try:
                    return await self._await(engine, response, remaining)
                except ReplicaBusy:  # Serve routed us to a replica still on an abandoned call
                    await asyncio.sleep(min(_BUSY_RETRY_S * (attempt + 1), _BUSY_RETRY_MAX_S))
            raise AssertionError("unreachable")
        except EngineError as exc:
            error = exc
            raise
        finally:
            if on_settled is not None:
                try:
                    on_settled(error)
                except Exception:
                    log.exception("on_settled callback failed")

    async def _await(
        self, engine: str, response: DeploymentResponse[Any], remaining: float
    ) -> list[AudioChunk]:
        try:
            result: list[AudioChunk] = await asyncio.wait_for(_resolve(response), remaining)
        except TimeoutError:
            _cancel(response)
            raise EngineTimeout(engine, remaining) from None
        except asyncio.CancelledError:
            _cancel(response)
            raise
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, VoxgateError):
                raise cause from None
            raise EngineError(engine, f"replica failed: {cause!r}") from None
        except RayActorError as exc:
            self._poll_now.set()
            raise EngineCrashed(engine, f"the Ray replica died during the call: {exc}") from None
        except BackPressureError as exc:
            raise EngineUnavailable(engine, f"Ray Serve queue full: {exc}") from None
        except RequestCancelledError as exc:
            raise EngineCrashed(engine, f"Ray cancelled the call: {exc}", blames_input=False) from None
        except RayServeException as exc:
            self._poll_now.set()
            raise EngineUnavailable(engine, f"Ray Serve: {exc}") from None
        return result


async def _resolve(response: DeploymentResponse[Any]) -> Any:
    return await response


def _cancel(response: DeploymentResponse[Any]) -> None:
    """Cancel the Ray call (``wait_for`` alone leaves it running in the replica)."""
    cancel: Callable[[], None] = response.cancel  # untyped in ray
    cancel()


class _AppSpec:
    """What one engine's Serve application is made of, and the name that identifies its settings."""

    __slots__ = (
        "actor_options",
        "app",
        "deployment",
        "hang_after_s",
        "hard_rss_mb",
        "replicas",
        "soft_rss_mb",
        "worker",
    )

    def __init__(
        self,
        engine: str,
        worker: WorkerSpec,
        model_version: str,
        replicas: int,
        actor_options: dict[str, Any],
        hard_rss_mb: float,
        hang_after_s: float,
        soft_rss_mb: float,
    ) -> None:
        self.app = APP_PREFIX + engine
        self.worker = worker
        self.replicas = replicas
        self.actor_options = actor_options
        self.hard_rss_mb = hard_rss_mb
        self.hang_after_s = hang_after_s
        self.soft_rss_mb = soft_rss_mb
        fingerprint = json.dumps(
            {
                "voxgate": voxgate.__version__,
                "model": model_version,  # resolved from installed packages, never from a path
                "settings": worker.settings_json,
                "warmups": [dataclasses.astuple(w) for w in worker.warmups],
                "replicas": replicas,
                "actor_options": actor_options,
                "hard_rss_mb": hard_rss_mb,
                "hang_after_s": hang_after_s,
                "soft_rss_mb": soft_rss_mb,
            },
            sort_keys=True,
            default=repr,
        )
        self.deployment = f"{engine}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}"


def _app_spec(name: str, settings: Settings, engine: Engine) -> _AppSpec:
    from voxgate.workers.backend import engine_warmups

    cfg = getattr(settings.engines, name)
    # the replica needs its engine's block and the text limits; nothing else goes in, so a setting
    # of another engine or of the gateway does not redeploy this one. Not the data dir either: a
    # replica keeps its models under its own node's (ray_replica.node_settings_json), so gateways
    # with different data dirs share one deployment instead of redeploying each other's
    settings_json = settings.model_dump_json(include={"text": True, "engines": {name: True}})
    worker = WorkerSpec(name, settings_json, engine_warmups(engine))
    actor_options = {"num_cpus": cfg.threads, "memory": cfg.soft_rss_mb * 2**20}
    return _AppSpec(
        name,
        worker,
        engine.model_version,
        cfg.workers,
        actor_options,
        cfg.hard_rss_mb,
        cfg.hang_after_s,
        cfg.soft_rss_mb,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Probe:
    """What one replica's process says about itself."""

    pid: int
    rss_mb: float


_Probes = dict[str, _Probe | None]
"""Replica actor name → its probe, or None while it is still loading (or did not answer in time)."""


class _ReplicaTracker:
    """Turns successive probes of an engine's replicas into worker events, as a pool emits them.

    A replica is *started* when it first answers a probe (its constructor, which loads and warms
    the engine, has returned) and *exited* when its actor is gone. Why it went is inferred from its
    last memory sample: above the hard limit, ``memory_hard``; above the soft limit, ``recycled``
    (the replica recycles itself there, see :class:`EngineReplica`); else ``crashed`` (killed from
    outside, died, or replaced by Serve after a hung call: a hang is not told apart here).
    """

    def __init__(self, specs: Mapping[str, _AppSpec], on_event: EventSink) -> None:
        self._specs = specs
        self._emit = on_event
        self._known: dict[str, dict[str, tuple[int, _Probe]]] = {name: {} for name in specs}
        self._ids = itertools.count(1)

    def update(self, engine: str, probes: _Probes) -> list[WorkerSnapshot]:
        """Emit the events between the last probes and these; return the engine's snapshots."""
        known = self._known[engine]
        spec = self._specs[engine]
        for actor in sorted(set(known) - set(probes)):
            worker_id, last = known.pop(actor)
            if last.rss_mb > spec.hard_rss_mb:
                reason = ExitReason.MEMORY_HARD
            elif last.rss_mb > spec.soft_rss_mb:
                reason = ExitReason.RECYCLED
            else:
                reason = ExitReason.CRASHED
            self._emit(WorkerExited(engine, worker_id, last.pid, reason, None, last.rss_mb))
        snapshots = []
        for actor, probe in sorted(probes.items()):
            if probe is None:
                if actor in known:
                    worker_id, last = known[actor]
                    snapshots.append(WorkerSnapshot(worker_id, last.pid, "running", last.rss_mb, 0))
                continue
            if actor not in known:
                worker_id = next(self._ids)
                self._emit(WorkerStarted(engine, worker_id, probe.pid, 0.0, 0.0))
            else:
                worker_id = known[actor][0]
            known[actor] = (worker_id, probe)
            self._emit(WorkerRss(engine, worker_id, probe.pid, probe.rss_mb))
            snapshots.append(WorkerSnapshot(worker_id, probe.pid, "running", probe.rss_mb, 0))
        return snapshots


_PROBE_TIMEOUT_S = 1.0
"""A replica still loading (or too busy to answer) keeps its last state until a later poll."""


def _probe_replicas(specs: Mapping[str, _AppSpec], actors: dict[str, Any]) -> dict[str, _Probes]:
    """Each engine's live replica actors, each asked for its pid and resident memory.

    ``actors`` caches the actor handles by name across polls (entries of gone actors are dropped).
    """
    named = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
    for gone in set(actors) - set(named):
        del actors[gone]
    refs: dict[tuple[str, str], Any] = {}
    for name, spec in specs.items():
        prefix = f"SERVE_REPLICA::{spec.app}#{spec.deployment}#"
        for actor_name in named:
            if actor_name.startswith(prefix):
                with contextlib.suppress(Exception):  # gone between the listing and now
                    if actor_name not in actors:
                        actors[actor_name] = ray.get_actor(actor_name, namespace="serve")
                    refs[(name, actor_name)] = actors[actor_name].__ray_call__.remote(_self_probe)
    result: dict[str, _Probes] = {name: {} for name in specs}
    if not refs:
        return result
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=_PROBE_TIMEOUT_S)
    answered = set(ready)
    for (name, actor_name), ref in refs.items():
        probe: _Probe | None = None
        if ref in answered:
            try:
                pid, rss = ray.get(ref)
            except RayActorError:
                continue  # died: gone
            except Exception:  # a replica that cannot answer now is still listed
                pass
            else:
                probe = _Probe(pid, rss)
        result[name][actor_name] = probe
    return result


def _self_probe(_replica: object) -> tuple[int, float]:
    from voxgate.workers.ray_replica import rss_mb

    return os.getpid(), rss_mb()
