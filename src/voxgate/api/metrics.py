"""Prometheus metrics of one app, fed by events and read from live state at scrape time.

Each app owns a :class:`Metrics` with its own ``CollectorRegistry`` (never the process-wide
default). Counters and histograms are fed by subscriptions to the Synthesizer's event bus
(STYLE.md rule 7) and by the access middleware; gauges of current state (queues, in-flight,
breakers, readiness, cache) are computed when ``GET /metrics`` is scraped.

Series (all prefixed ``voxgate_``), with their labels:

- ``http_request_duration_seconds`` histogram: method, route (template), status, engine
  (``X-Voxgate-Engine`` or ``none``). Fed by the access middleware.
- ``websocket_connections_total`` counter: route, status (101 accepted, else the refusal's),
  close_code (the standard codes, ``other`` or ``none``); ``websocket_duration_seconds``
  histogram: route. Fed by the access middleware when a WebSocket connection ends.
- ``synthesis_duration_seconds`` histogram: engine, priority, outcome (ok, degraded, rejected,
  failed, cancelled), cache (hit, miss). Fed by ``RequestOutcome`` events.
- ``shed_total`` counter: reason, priority (``Shed`` events).
- ``engine_skips_total`` counter: engine, outcome (``EngineSkipped`` events).
- ``breaker_transitions_total`` counter: engine, from_state, to_state (``BreakerTransition``).
- ``worker_restarts_total`` counter: engine, reason (``WorkerExited``, except at shutdown).
- ``worker_rss_bytes`` gauge: engine, worker (``WorkerRss``; dropped when the worker exits).
- ``cache_errors_total`` counter: op (get, put, stats) (``CacheError``: the cache failed open).
- ``limits_store_errors_total`` counter: store (rate_limit, quota), op (check, hit, charge,
  refund) (``StoreFailed``: admission went on without the shared store).
- ``poisoned_inputs_total`` counter: engine, priorities (``InputPoisoned``: an input that killed the
  engine's workers no longer goes to it for these request classes).
- ``realtime_sockets`` gauge; ``realtime_clears_total`` counter: priority;
  ``realtime_first_audio_seconds`` histogram: engine, priority, degraded (a piece's cut to its
  first audio frame); ``realtime_gaps_total`` counter: priority (``voxgate.realtime.events``).
- At scrape time: ``engine_ready``, ``engine_capacity``, ``in_flight``, ``breaker_state``
  (0 closed, 1 half-open, 2 open) per engine; ``queue_depth`` per engine and priority;
  ``cache_hits_total``, ``cache_misses_total``, ``cache_evictions_total``, ``cache_bytes``,
  ``cache_items``, ``cache_max_bytes`` from the cache store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from voxgate.api.middleware import WEBSOCKET, AccessRecord
from voxgate.audio.cache import CacheError, CacheStats
from voxgate.qos.admission import Shed, StoreFailed
from voxgate.qos.breaker import BreakerState, BreakerTransition
from voxgate.qos.poison import InputPoisoned
from voxgate.qos.router import EngineSkipped
from voxgate.qos.sla import RequestOutcome
from voxgate.realtime.events import PieceSpoken, SessionCleared, SocketClosed, SocketOpened
from voxgate.types import Priority
from voxgate.workers.events import ExitReason, WorkerExited, WorkerRss

if TYPE_CHECKING:
    from voxgate.service import Synthesizer

LATENCY_BUCKETS = (
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    30.0,
)
"""Seconds. Cache hits answer in milliseconds; a long synthesis can take tens of seconds."""

BREAKER_STATE_VALUE = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
"""``voxgate_breaker_state`` sample per state."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013})
"""Close codes kept as label values (clients may send any of 3000-4999: those are ``other``)."""
CONNECTION_BUCKETS = (0.1, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Seconds a WebSocket connection lasted: a refused handshake to an hour-long call."""
_NONE = "none"


class Metrics:
    """The metrics of one app: create it in ``create_app``, attach it in the lifespan.

    Attributes:
        registry: the per-app registry that ``GET /metrics`` renders.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_latency = Histogram(
            "voxgate_http_request_duration_seconds",
            "HTTP requests from arrival to last body byte, by route template and answering engine.",
            ["method", "route", "status", "engine"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.synthesis_latency = Histogram(
            "voxgate_synthesis_duration_seconds",
            "Synthesis requests from arrival to answer (or refusal), by engine, priority and outcome.",
            ["engine", "priority", "outcome", "cache"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.shed = Counter(
            "voxgate_shed", "Requests refused by admission.", ["reason", "priority"], registry=r
        )
        self.skips = Counter(
            "voxgate_engine_skips",
            "Engines the router passed over or that failed.",
            ["engine", "outcome"],
            registry=r,
        )
        self.breaker_transitions = Counter(
            "voxgate_breaker_transitions",
            "Circuit breaker state changes.",
            ["engine", "from_state", "to_state"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "voxgate_worker_restarts",
            "Worker processes that went away while serving (each is replaced), by reason.",
            ["engine", "reason"],
            registry=r,
        )
        self.worker_rss = Gauge(
            "voxgate_worker_rss_bytes",
            "Resident memory of each worker process.",
            ["engine", "worker"],
            registry=r,
        )
        self.cache_errors = Counter(
            "voxgate_cache_errors",
            "Audio cache operations that failed and were skipped (the request went on uncached).",
            ["op"],
            registry=r,
        )
        self.limits_store_errors = Counter(
            "voxgate_limits_store_errors",
            "Rate-limit or quota store calls that failed; the request was admitted unchecked.",
            ["store", "op"],
            registry=r,
        )
        self.poisoned = Counter(
            "voxgate_poisoned_inputs",
            "Inputs whose worker deaths reached a threshold: they skip the engine for these classes.",
            ["engine", "priorities"],
            registry=r,
        )
        self.realtime_sockets = Gauge(
            "voxgate_realtime_sockets", "Realtime WebSocket connections open now.", registry=r
        )
        self.realtime_clears = Counter(
            "voxgate_realtime_clears", "Barge-ins (clear) on realtime sockets.", ["priority"], registry=r
        )
        self.realtime_first_audio = Histogram(
            "voxgate_realtime_first_audio_seconds",
            "Realtime pieces from their cut (boundary, flush or timer) to their first audio frame sent.",
            ["engine", "priority", "degraded"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.realtime_gaps = Counter(
            "voxgate_realtime_gaps",
            "Realtime pieces whose audio came after the earlier audio ran out, though their text was there.",
            ["priority"],
            registry=r,
        )
        self.websocket_connections = Counter(
            "voxgate_websocket_connections",
            "WebSocket connections that ended, by route, handshake status and close code.",
            ["route", "status", "close_code"],
            registry=r,
        )
        self.websocket_duration = Histogram(
            "voxgate_websocket_duration_seconds",
            "WebSocket connections from handshake to close.",
            ["route"],
            buckets=CONNECTION_BUCKETS,
            registry=r,
        )
        self._state = _StateCollector()
        r.register(self._state)
        self._unsubscribe: list[Callable[[], None]] = []

    # ---- feeding -------------------------------------------------------------------------------
    def attach(self, synth: Synthesizer) -> None:
        """Subscribe to ``synth.bus`` and read ``synth``'s live state at scrape time."""
        self.detach()
        bus = synth.bus
        self._unsubscribe = [
            bus.subscribe(RequestOutcome, self._on_outcome),
            bus.subscribe(Shed, self._on_shed),
            bus.subscribe(EngineSkipped, self._on_skip),
            bus.subscribe(BreakerTransition, self._on_transition),
            bus.subscribe(WorkerExited, self._on_exit),
            bus.subscribe(WorkerRss, self._on_rss),
            bus.subscribe(CacheError, self._on_cache_error),
            bus.subscribe(StoreFailed, self._on_store_failed),
            bus.subscribe(InputPoisoned, self._on_poisoned),
            bus.subscribe(SocketOpened, lambda _e: self.realtime_sockets.inc()),
            bus.subscribe(SocketClosed, lambda _e: self.realtime_sockets.dec()),
            bus.subscribe(SessionCleared, lambda e: self.realtime_clears.labels(e.priority.value).inc()),
            bus.subscribe(PieceSpoken, self._on_piece),
        ]
        self._state.synth = synth

    def detach(self) -> None:
        """Undo :meth:`attach` (counters keep their values)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self._state.synth = None

    def observe_http(self, record: AccessRecord) -> None:
        """Access-middleware observer: one finished HTTP request or WebSocket connection."""
        if record.method == WEBSOCKET:
            code = record.close_code
            label = _NONE if code is None else str(code) if code in _CLOSE_CODES else "other"
            self.websocket_connections.labels(record.route, str(record.status), label).inc()
            self.websocket_duration.labels(record.route).observe(record.duration_s)
            return
        method = record.method if record.method in _METHODS else "other"
        self.http_latency.labels(method, record.route, str(record.status), record.engine or _NONE).observe(
            record.duration_s
        )

    def _on_outcome(self, event: RequestOutcome) -> None:
        self.synthesis_latency.labels(
            event.engine or _NONE,
            event.priority.value,
            event.status.value,
            "hit" if event.cache_hit else "miss",
        ).observe(event.latency_s)

    def _on_shed(self, event: Shed) -> None:
        self.shed.labels(event.reason.value, event.priority.value).inc()

    def _on_skip(self, event: EngineSkipped) -> None:
        self.skips.labels(event.engine, event.outcome.value).inc()

    def _on_transition(self, event: BreakerTransition) -> None:
        self.breaker_transitions.labels(event.name, event.from_state.value, event.to_state.value).inc()

    def _on_exit(self, event: WorkerExited) -> None:
        with contextlib.suppress(KeyError):  # KeyError: it died before its first sample
            self.worker_rss.remove(event.engine, str(event.worker_id))
        if event.reason is not ExitReason.SHUTDOWN:
            self.worker_restarts.labels(event.engine, event.reason.value).inc()

    def _on_cache_error(self, event: CacheError) -> None:
        self.cache_errors.labels(event.op).inc()

    def _on_store_failed(self, event: StoreFailed) -> None:
        self.limits_store_errors.labels(event.store, event.op).inc()

    def _on_poisoned(self, event: InputPoisoned) -> None:
        self.poisoned.labels(event.engine, ",".join(p.value for p in event.priorities)).inc()

    def _on_piece(self, event: PieceSpoken) -> None:
        degraded = "true" if event.degraded else "false"
        self.realtime_first_audio.labels(event.engine, event.priority.value, degraded).observe(
            event.first_audio_s
        )
        if event.gap:
            self.realtime_gaps.labels(event.priority.value).inc()

    def _on_rss(self, event: WorkerRss) -> None:
        self.worker_rss.labels(event.engine, str(event.worker_id)).set(event.rss_mb * 2**20)

    # ---- scraping ------------------------------------------------------------------------------
    async def render(self, accept: str = "") -> tuple[bytes, str]:
        """The exposition of every metric, in the format ``accept`` asks for.

        Args:
            accept: the scraper's ``Accept`` header (OpenMetrics or the text format; default text 0.0.4).

        Returns:
            The body and its content type.
        """
        synth = self._state.synth
        self._state.cache = await synth.cache.stats() if synth is not None else None
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type


class _StateCollector:
    """Gauges of the attached Synthesizer's current state, computed at collection time."""

    def __init__(self) -> None:
        self.synth: Synthesizer | None = None
        self.cache: CacheStats | None = None

    def collect(self) -> Iterator[Metric]:
        """Yield the state gauges (nothing before ``attach``)."""
        synth = self.synth
        if synth is not None:
            yield from _engine_state(synth)
        if self.cache is not None:
            yield from _cache_state(self.cache)


def _engine_state(synth: Synthesizer) -> Iterator[Metric]:
    ready = GaugeMetricFamily(
        "voxgate_engine_ready", "1 when the engine has a warm worker.", labels=["engine"]
    )
    capacity = GaugeMetricFamily(
        "voxgate_engine_capacity", "Calls the engine can run at once (warm workers).", labels=["engine"]
    )
    in_flight = GaugeMetricFamily("voxgate_in_flight", "Engine calls running now.", labels=["engine"])
    queued = GaugeMetricFamily(
        "voxgate_queue_depth", "Requests waiting for an engine slot.", labels=["engine", "priority"]
    )
    breaker = GaugeMetricFamily(
        "voxgate_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open.", labels=["engine"]
    )
    for engine in synth.engines():
        ready.add_metric([engine], float(synth.is_ready(engine)))
        capacity.add_metric([engine], synth.capacity(engine))
        in_flight.add_metric([engine], synth.in_flight(engine))
        for priority in Priority:
            queued.add_metric([engine, priority.value], synth.queued(engine, priority))
        breaker.add_metric([engine], BREAKER_STATE_VALUE[synth.breakers.get(engine).snapshot().state])
    yield from (ready, capacity, in_flight, queued, breaker)


def _cache_state(stats: CacheStats) -> Iterator[Metric]:
    yield CounterMetricFamily("voxgate_cache_hits", "Audio cache lookups answered.", value=stats.hits)
    yield CounterMetricFamily("voxgate_cache_misses", "Audio cache lookups not answered.", value=stats.misses)
    yield CounterMetricFamily(
        "voxgate_cache_evictions", "Audio cache entries removed to make room.", value=stats.evictions
    )
    yield GaugeMetricFamily("voxgate_cache_bytes", "Bytes of audio held in the cache.", value=stats.bytes)
    yield GaugeMetricFamily("voxgate_cache_items", "Entries held in the cache.", value=stats.items)
    yield GaugeMetricFamily("voxgate_cache_max_bytes", "The cache's byte budget.", value=stats.max_bytes)
