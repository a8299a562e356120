"""Build a :class:`Synthesizer` and everything under it from settings (composition root)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from voxgate.audio.cache import FailOpenCache, cache_from_url
from voxgate.chains import ChainBuilder
from voxgate.clock import Clock, SystemClock
from voxgate.placement import build_backend
from voxgate.planning import Planner
from voxgate.qos.admission import Admission, AdmissionConfig
from voxgate.qos.breaker import BreakerConfig, BreakerRegistry, BreakerTransition
from voxgate.qos.estimator import LatencyEstimator, LatencyPrior
from voxgate.qos.events import EventBus
from voxgate.qos.quota import quota_url_for_limits
from voxgate.qos.router import Router
from voxgate.qos.scheduler import PriorityScheduler
from voxgate.qos.sla import SlaTracker
from voxgate.redis_store import Cooldown
from voxgate.remotes.backend import RemoteHealthChanged
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.voices import VoiceCatalog, default_voices
from voxgate.workers.backend import ExecutionBackend
from voxgate.workers.events import ExitReason, WorkerExited, WorkerStarted

# Service time before an engine/language has been measured (1 ONNX thread per worker, this
# 2-core machine): seconds per normalised character and fixed seconds per call.
PRIORS: dict[str, LatencyPrior] = {
    "kokoro/zh": LatencyPrior(per_char_s=0.15, overhead_s=0.3),
    "kokoro/ja": LatencyPrior(per_char_s=0.12, overhead_s=0.3),
    "kokoro/en": LatencyPrior(per_char_s=0.04, overhead_s=0.3),
    "piper/en": LatencyPrior(per_char_s=0.006, overhead_s=0.05),
    # IndexTTS-2 ONNX INT8 on a CPU (not measured here: its weights are not on PyPI). Assumed RTF 4,
    # the slow end of the original design's RTF 2-4, times ~0.25 s of speech per Chinese character
    # and ~0.07 s per English one, plus ~3 s a call for the autoregressive GPT-2 start, the DiT's
    # 10 flow steps and a change of speaker: no interactive request (3 s) fits; batch work does.
    "indextts2/zh": LatencyPrior(per_char_s=1.0, overhead_s=3.0),
    "indextts2": LatencyPrior(per_char_s=1.0, overhead_s=3.0),  # language not known: as Chinese
    "indextts2/en": LatencyPrior(per_char_s=0.28, overhead_s=3.0),
}
DEFAULT_PRIOR = LatencyPrior(per_char_s=0.002, overhead_s=0.03)  # espeak, any language


def log_events(bus: EventBus) -> None:
    """Subscribe a logger to the events an operator must see: breaker transitions, worker exits."""
    log = logging.getLogger("voxgate.events")

    def on_transition(event: BreakerTransition) -> None:
        log.warning(
            "breaker %s: %s -> %s (failure rate %.2f, slow rate %.2f)",
            event.name,
            event.from_state.value,
            event.to_state.value,
            event.failure_rate,
            event.slow_rate,
        )

    def on_exit(event: WorkerExited) -> None:
        level = (
            logging.INFO if event.reason in (ExitReason.SHUTDOWN, ExitReason.RECYCLED) else logging.WARNING
        )
        log.log(
            level,
            "%s worker %s (pid %s) exited: %s",
            event.engine,
            event.worker_id,
            event.pid,
            event.reason.value,
        )

    def on_start(event: WorkerStarted) -> None:
        log.info(
            "%s worker %s (pid %s) ready: load %.2f s, warm-up %.2f s",
            event.engine,
            event.worker_id,
            event.pid,
            event.load_s,
            event.warmup_s,
        )

    def on_remote(event: RemoteHealthChanged) -> None:
        if event.healthy:
            log.info("remote engine %s is reachable", event.engine)
        else:
            log.warning("remote engine %s is unreachable", event.engine)

    bus.subscribe(BreakerTransition, on_transition)
    bus.subscribe(WorkerExited, on_exit)
    bus.subscribe(WorkerStarted, on_start)
    bus.subscribe(RemoteHealthChanged, on_remote)


def priors(settings: Settings) -> dict[str, LatencyPrior]:
    """:data:`PRIORS`, plus each remote's own (per language and language-free)."""
    result = dict(PRIORS)
    for name, remote in settings.remotes.items():
        prior = LatencyPrior(per_char_s=remote.prior_per_char_s, overhead_s=remote.prior_overhead_s)
        result[name] = prior
        result.update({f"{name}/{language}": prior for language in remote.languages})
    return result


def _redis_server(url: str) -> str | None:
    """``host:port`` of a Redis URL (``redis://``, ``async+redis://``, TLS too), else ``None``."""
    parts = urlsplit(url)
    if parts.scheme.removeprefix("async+") not in ("redis", "rediss"):
        return None
    return f"{parts.hostname}:{parts.port or 6379}"


def _redis_cooldowns(clock: Clock, *urls: str) -> dict[str | None, Cooldown]:
    """One cool-down per Redis server, so the stores on one server share it: one outage, one timeout."""
    return {server: Cooldown(clock) for server in map(_redis_server, urls) if server is not None}


def build_synthesizer(
    settings: Settings,
    *,
    clock: Clock | None = None,
    bus: EventBus | None = None,
    backend: ExecutionBackend | None = None,
) -> Synthesizer:
    """Wire every component from settings; nothing starts until ``Synthesizer.start``.

    Args:
        settings: the configuration.
        clock: time source (a ``FakeClock`` in tests).
        bus: event bus that metrics and logs subscribe to.
        backend: execution backend; built from ``settings.qos.backend`` when omitted.

    Raises:
        ValueError: a configuration error found while wiring (unknown backend URL, a remote's
            key, a ``qos.default_voices`` entry); the message names the setting.
    """
    clock = clock or SystemClock()
    if bus is None:
        bus = EventBus()
        log_events(bus)
    backend = backend or build_backend(settings, clock, bus.publish, bus.publish)
    voices = backend.voices()
    catalog = VoiceCatalog(voices, default_voices(voices, settings.qos.default_voices))
    chains = ChainBuilder(catalog, settings.qos.fallbacks, backend.engines())
    scheduler = PriorityScheduler(clock, backend.capacity)
    b = settings.qos.breaker
    breakers = BreakerRegistry(
        BreakerConfig(
            window_size=b.window_size,
            minimum_calls=b.minimum_calls,
            failure_rate_threshold=b.failure_rate_threshold,
            slow_call_duration=b.slow_call_duration_s,
            slow_call_rate_threshold=b.slow_call_rate_threshold,
            wait_duration_open=b.wait_duration_open_s,
            permitted_calls_half_open=b.permitted_calls_half_open,
        ),
        clock=clock,
        bus=bus,
    )
    estimator = LatencyEstimator(priors(settings), default_prior=DEFAULT_PRIOR)
    router = Router(
        backend,
        scheduler,
        breakers,
        estimator,
        clock,
        bus,
        quantile=settings.qos.estimate_quantile,
        hedge_after=settings.qos.hedge_after,
        streaming=frozenset(v.engine for v in voices if "stream" in v.honours),
    )
    lim = settings.qos.limits
    cooldowns = _redis_cooldowns(clock, settings.cache.url, lim.storage_uri)
    rate_overrides = dict(lim.per_client)
    quota_overrides: dict[str, int | None] = {k: v or None for k, v in lim.daily_chars_per_client.items()}
    for client, api_key in settings.server.api_keys.items():  # the client id of a keyed request is its name
        if api_key.rate_limit is not None:
            rate_overrides[client] = api_key.rate_limit
        if api_key.daily_chars is not None:
            quota_overrides[client] = api_key.daily_chars or None
    admission = Admission(
        AdmissionConfig(
            rate_limit=lim.default,
            rate_limit_overrides=rate_overrides,
            storage_uri=lim.storage_uri,
            quota_store_uri=quota_url_for_limits(lim.storage_uri),
            store_timeout_s=lim.store_timeout_s,
            daily_chars=lim.daily_chars or None,
            daily_chars_overrides=quota_overrides,
        ),
        clock,
        events=bus,
        cooldown=cooldowns.get(_redis_server(lim.storage_uri)),
    )
    cache = cache_from_url(
        settings.cache.url, clock=clock, cooldown=cooldowns.get(_redis_server(settings.cache.url))
    )
    return Synthesizer(
        backend=backend,
        catalog=catalog,
        chains=chains,
        router=router,
        scheduler=scheduler,
        admission=admission,
        cache=FailOpenCache(cache, bus.publish, clock=clock),
        sla=SlaTracker(clock),
        breakers=breakers,
        bus=bus,
        clock=clock,
        planner=Planner(
            backend=backend,
            catalog=catalog,
            chains=chains,
            router=router,
            clock=clock,
            deadlines=settings.qos.deadlines,
            max_chars=settings.text.max_chars,
            max_segment_chars=settings.text.max_segment_chars,
            first_audio_s=settings.qos.first_audio_s,
        ),
    )
