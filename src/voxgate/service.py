"""The Synthesizer: the one entry point every client (HTTP, CLI, jobs) uses.

One request: prepare the text → audio cache → admission → per segment, router (scheduler,
breakers, fallback chain, deadlines) → assemble and encode → cache → SLA record.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S, assemble
from voxgate.audio.cache import CachedAudio, CacheStore, cache_key
from voxgate.audio.encode import encode
from voxgate.audio.formats import format_spec
from voxgate.audio.stream import open_stream_encoder
from voxgate.chains import ChainBuilder
from voxgate.clock import Clock
from voxgate.errors import InvalidOption, NoEngineAvailable, Rejected
from voxgate.qos.admission import Admission
from voxgate.qos.breaker import BreakerRegistry
from voxgate.qos.events import EventBus
from voxgate.qos.router import Routed, Router
from voxgate.qos.scheduler import PriorityScheduler
from voxgate.qos.sla import OutcomeStatus, RequestOutcome, SlaTracker
from voxgate.settings import DeadlineSettings
from voxgate.text import PreparedText, prepare
from voxgate.text.streaming import default_limit, min_limit, quick_start
from voxgate.types import AudioFormat, Priority, SynthesisOptions, VoiceInfo
from voxgate.voices import VoiceCatalog
from voxgate.workers.backend import ExecutionBackend

MIN_SPEED, MAX_SPEED = 0.25, 4.0
DEFAULT_PLAN_CACHE_SIZE = 1024
"""Requests whose prepared text and cache key are remembered (see ``Synthesizer.plans_reused``)."""
DEFAULT_FIRST_AUDIO_S = 1.0
"""Streaming: the first segment is cut so the primary's P95 estimate for it fits in this."""


@dataclass(frozen=True, slots=True)
class SynthesisRequest:
    """What a client asks for.

    Attributes:
        text: raw text (cleaned and normalised here).
        voice: voice id; ``None`` picks the default voice of the text's language.
        speed: speaking rate, 1.0 = natural.
        format: output format.
        sample_rate: output rate; ``None`` = the format's default for the voice.
        priority: scheduling class.
        deadline_s: seconds from arrival; ``None`` = the default for the priority and length.
        client_id: API key or remote address, for rate limits and quotas.
        rate_limited: count against the client's request-rate limits (the job runner's segments
            do not: a job is paced by engine capacity and the character quota).
        use_cache: look up and store the answer in the audio cache (a book's segments would
            only push interactive answers out of it).
    """

    text: str
    voice: str | None = None
    speed: float = 1.0
    format: AudioFormat = AudioFormat.WAV
    sample_rate: int | None = None
    priority: Priority = Priority.API
    deadline_s: float | None = None
    client_id: str = "local"
    rate_limited: bool = True
    use_cache: bool = True


@dataclass(frozen=True, slots=True)
class SynthesisMeta:
    """How a request was answered (for response headers, logs and the web UI)."""

    voice: str
    engine: str
    degraded: bool
    fallback_reason: str | None
    cache_hit: bool
    media_type: str
    sample_rate: int


@dataclass(frozen=True, slots=True)
class SynthesisResult:
    """A finished answer."""

    audio: bytes
    meta: SynthesisMeta
    duration_s: float
    latency_s: float


@dataclass(frozen=True, slots=True)
class _Resolved:
    """What a request's text, voice, speed, format and rate resolve to: the same for every repeat."""

    prepared: PreparedText
    voice: VoiceInfo
    out_rate: int
    key: str
    primary: str  # first engine of the chain; its model version is part of ``key``
    model_version: str


_RequestFields = tuple[str, str | None, float, AudioFormat, int | None]


@dataclass(frozen=True, slots=True)
class _Plan:
    prepared: PreparedText
    voice: VoiceInfo
    opts: SynthesisOptions
    out_rate: int
    key: str
    deadline: float
    arrived: float


class Synthesizer:
    """Turns requests into audio under the QoS rules. Build it with :func:`voxgate.wiring.build_synthesizer`.

    Args:
        backend: where engines run.
        catalog: every voice.
        chains: fallback chains per voice and language.
        router: runs one segment along its chain.
        scheduler: per-engine priority queues (for wait estimates).
        admission: rate limits, quotas, shedding.
        cache: finished audio.
        sla: outcome windows.
        breakers: one circuit breaker per engine.
        bus: typed events (metrics and logs subscribe).
        clock: monotonic time.
        deadlines: default deadlines.
        max_chars: per-request text limit.
        max_segment_chars: longest segment sent to an engine.
        plan_cache_size: how many distinct requests keep their prepared text and cache key, so a
            repeat (the usual cache hit) skips the text front end. The audio cache still decides
            hit or miss.

    Attributes:
        texts_prepared: requests whose text went through the front end (``prepare``).
        plans_reused: requests answered with a remembered preparation instead.
    """

    def __init__(
        self,
        *,
        backend: ExecutionBackend,
        catalog: VoiceCatalog,
        chains: ChainBuilder,
        router: Router,
        scheduler: PriorityScheduler,
        admission: Admission,
        cache: CacheStore,
        sla: SlaTracker,
        breakers: BreakerRegistry,
        bus: EventBus,
        clock: Clock,
        deadlines: DeadlineSettings,
        max_chars: int,
        max_segment_chars: int,
        plan_cache_size: int = DEFAULT_PLAN_CACHE_SIZE,
        first_audio_s: float = DEFAULT_FIRST_AUDIO_S,
    ) -> None:
        self.backend = backend
        self.catalog = catalog
        self.chains = chains
        self.router = router
        self.scheduler = scheduler
        self.admission = admission
        self.cache = cache
        self.sla = sla
        self.breakers = breakers
        self.bus = bus
        self._clock = clock
        self._deadlines = deadlines
        self._max_chars = max_chars
        self._max_segment_chars = max_segment_chars
        self._resolved: OrderedDict[_RequestFields, _Resolved] = OrderedDict()
        self._resolved_max = plan_cache_size
        self._first_audio_s = first_audio_s
        self.texts_prepared = 0
        self.plans_reused = 0

    # ---- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the execution backend (workers load and warm up)."""
        self.backend.on_capacity(self.scheduler.notify_capacity)
        await self.backend.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Finish in-flight work (bounded by ``grace_s``) and stop the workers."""
        await self.backend.stop(grace_s)

    def voices(self) -> Sequence[VoiceInfo]:
        """Every voice on offer."""
        return self.catalog.all()

    async def status(self) -> dict[str, Any]:
        """The live SLA view as JSON-ready data: windows, breakers, queues, workers, cache."""
        cache = await self.cache.stats()
        return {
            "windows": {str(int(w)): snap.to_dict() for w, snap in self.sla.snapshots().items()},
            "breakers": {
                name: {"state": b.state.value, "failure_rate": b.failure_rate, "slow_rate": b.slow_rate}
                for name, b in ((n, self.breakers.get(n).snapshot()) for n in self.backend.engines())
            },
            "engines": {
                name: {
                    "ready": self.backend.is_ready(name),
                    "capacity": self.backend.capacity(name),
                    "in_flight": self.scheduler.in_flight(name),
                    "queued": {p.value: self.scheduler.queued(name, p) for p in Priority},
                    "workers": [asdict(w) for w in self.backend.workers().get(name, [])],
                }
                for name in self.backend.engines()
            },
            "cache": asdict(cache),
        }

    # ---- one request ---------------------------------------------------------------------------
    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Answer a request with one encoded audio file.

        Raises:
            InvalidInput: bad text, voice, format, speed or sample rate.
            Rejected: admission refused (rate limit, quota, overload).
            NoEngineAvailable: no engine could answer a segment in time.
        """
        plan = self._plan(request)
        hit = await self.cache.get(plan.key) if request.use_cache else None
        if hit is not None:
            return self._from_cache(request, plan, hit)
        await self._admit(request, plan)
        try:
            routed = await self._route_all(request, plan)
        except NoEngineAvailable:
            self._record(request, plan, OutcomeStatus.FAILED, None, None)
            raise
        except asyncio.CancelledError:
            self._record(request, plan, OutcomeStatus.CANCELLED, None, None)
            raise
        audio = assemble(
            [r.chunks for r in routed],
            plan.out_rate,
            paragraph_ends=[s.paragraph_end for s in plan.prepared.segments],
        )
        data = await asyncio.to_thread(encode, audio, plan.out_rate, request.format, out_rate=plan.out_rate)
        meta = self._meta(request, plan, routed, cache_hit=False)
        duration = len(audio) / plan.out_rate
        if not meta.degraded and request.use_cache:
            await self.cache.put(
                plan.key,
                CachedAudio(data, meta.media_type, meta.engine, plan.out_rate, duration, self._clock.wall()),
            )
        status = OutcomeStatus.DEGRADED if meta.degraded else OutcomeStatus.OK
        latency = self._record(request, plan, status, meta.engine, meta.fallback_reason)
        return SynthesisResult(data, meta, duration, latency)

    async def stream(self, request: SynthesisRequest) -> tuple[SynthesisMeta, AsyncIterator[bytes]]:
        """Answer a request as a byte stream, one encoded piece per segment as soon as it is ready.

        The first segment is synthesised before this returns, so its metadata (engine, degraded)
        is known for the response headers; later segments that degrade are marked in the log and
        the SLA record.

        Raises:
            InvalidInput, Rejected, NoEngineAvailable: as :meth:`synthesize`, for the first segment.
        """
        plan = self._plan(request)
        hit = await self.cache.get(plan.key) if request.use_cache else None
        if hit is not None:  # a finished answer is already here: send it as one piece
            cached = self._from_cache(request, plan, hit)
            return cached.meta, _once(cached.audio)
        plan = replace(plan, prepared=quick_start(plan.prepared, self._first_segment_chars(plan)))
        await self._admit(request, plan)
        segments = plan.prepared.segments
        tasks = [asyncio.ensure_future(self._route_segment(request, plan, i)) for i in range(len(segments))]
        try:
            first = await tasks[0]
        except BaseException:
            for task in tasks:
                task.cancel()
            self._record(request, plan, OutcomeStatus.FAILED, None, None)
            raise
        meta = self._meta(request, plan, [first], cache_hit=False)
        return meta, self._stream_body(request, plan, first, tasks)

    async def _stream_body(
        self, request: SynthesisRequest, plan: _Plan, first: Routed, tasks: Sequence[asyncio.Future[Routed]]
    ) -> AsyncIterator[bytes]:
        encoder = open_stream_encoder(request.format, plan.out_rate, out_rate=plan.out_rate)
        routed = [first]
        status = OutcomeStatus.FAILED
        try:
            piece = assemble([first.chunks], plan.out_rate)
            yield await asyncio.to_thread(encoder.feed, piece, plan.out_rate)
            for index, task in enumerate(tasks[1:], start=1):
                result = await task
                routed.append(result)
                pause = (
                    PARAGRAPH_PAUSE_S if plan.prepared.segments[index - 1].paragraph_end else SENTENCE_PAUSE_S
                )
                gap = np.zeros(int(pause * plan.out_rate), dtype=np.float32)
                piece = np.concatenate([gap, assemble([result.chunks], plan.out_rate)])
                yield await asyncio.to_thread(encoder.feed, piece, plan.out_rate)
            yield await asyncio.to_thread(encoder.finish)
            meta = self._meta(request, plan, routed, cache_hit=False)
            status = OutcomeStatus.DEGRADED if meta.degraded else OutcomeStatus.OK
        except GeneratorExit:
            status = OutcomeStatus.CANCELLED
            raise
        finally:
            for task in tasks:
                task.cancel()
            engine = routed[0].step.engine if routed else None
            reason = next((r.fallback_reason for r in routed if r.fallback_reason), None)
            self._record(request, plan, status, engine, reason)

    # ---- steps ---------------------------------------------------------------------------------
    def _first_segment_chars(self, plan: _Plan) -> int:
        """The longest first segment the primary engine speaks within the first-audio budget (P95).

        Searches lengths from the language's default limit down to its minimum; the estimate is
        the router's (learned per engine and language, a prior until then).
        """
        language = plan.prepared.segments[0].language
        engine = self.chains.chain(plan.voice, language)[0].engine
        low, high = min_limit(language), default_limit(language)
        if self.router.estimate(engine, high, language) <= self._first_audio_s:
            return high
        while low < high:  # the largest n in [low, high) whose estimate fits (low if none does)
            mid = (low + high + 1) // 2
            if self.router.estimate(engine, mid, language) <= self._first_audio_s:
                low = mid
            else:
                high = mid - 1
        return low

    def _plan(self, request: SynthesisRequest) -> _Plan:
        arrived = self._clock.monotonic()
        if not MIN_SPEED <= request.speed <= MAX_SPEED:
            raise InvalidOption("speed", f"speed must be between {MIN_SPEED} and {MAX_SPEED}")
        resolved = self._resolve(request)
        deadline_s = (
            request.deadline_s
            if request.deadline_s is not None
            else self._default_deadline(request, resolved.prepared)
        )
        if deadline_s <= 0:
            raise InvalidOption("deadline_ms", "deadline must be positive")
        opts = SynthesisOptions(speed=request.speed)
        r = resolved
        return _Plan(r.prepared, r.voice, opts, r.out_rate, r.key, arrived + deadline_s, arrived)

    def _resolve(self, request: SynthesisRequest) -> _Resolved:
        """Prepare the text, pick the voice and rate, compute the cache key; remembered for repeats.

        The preparation is a pure function of the request fields and the configuration; only the
        primary engine's model version (reported by its workers) can change, so it is checked on
        reuse. Requests that bypass the cache (job segments) are not remembered.
        """
        fields: _RequestFields = (
            request.text,
            request.voice,
            request.speed,
            request.format,
            request.sample_rate,
        )
        if request.use_cache:
            known = self._resolved.get(fields)
            if known is not None and self.backend.model_version(known.primary) == known.model_version:
                self._resolved.move_to_end(fields)
                self.plans_reused += 1
                return known
        prepared = prepare(request.text, max_chars=self._max_chars, max_segment_chars=self._max_segment_chars)
        self.texts_prepared += 1
        voice = (
            self.catalog.get(request.voice) if request.voice else self.catalog.default_for(prepared.language)
        )
        spec = format_spec(request.format)
        out_rate = spec.choose_rate(voice.sample_rate, request.sample_rate)
        chain = self.chains.chain(voice, prepared.language)
        model_version = self.backend.model_version(chain[0].engine)
        key = cache_key(
            normalized_text=prepared.text,
            voice=voice.id,
            speed=request.speed,
            fmt=request.format.value,
            sample_rate=out_rate,
            engine=">".join(s.engine for s in chain),
            model_version=model_version,
        )
        resolved = _Resolved(prepared, voice, out_rate, key, chain[0].engine, model_version)
        if request.use_cache and self._resolved_max > 0:
            self._resolved[fields] = resolved
            self._resolved.move_to_end(fields)
            while len(self._resolved) > self._resolved_max:
                self._resolved.popitem(last=False)
        return resolved

    def _default_deadline(self, request: SynthesisRequest, prepared: PreparedText) -> float:
        base = {
            Priority.INTERACTIVE: self._deadlines.interactive_s,
            Priority.API: self._deadlines.api_s,
            Priority.BATCH: self._deadlines.batch_s,
        }[request.priority]
        extra = max(0, len(prepared.text) - self._deadlines.per_char_after) * self._deadlines.per_char_s
        return base + extra

    async def _admit(self, request: SynthesisRequest, plan: _Plan) -> None:
        chars = len(plan.prepared.text)
        language = plan.prepared.language
        chain = self.chains.chain(plan.voice, language)
        # Interactive and API requests may degrade to a fallback engine rather than be shed, so
        # their wait is the shortest along the chain; batch (audiobooks) waits for its primary.
        candidates = [chain[0].engine] if request.priority is Priority.BATCH else [s.engine for s in chain]
        engine = chain[0].engine

        def estimate_wait(priority: Priority, _chars: int) -> float:
            return min(self.router.queue_wait(e, priority, language) for e in candidates)

        try:
            await self.admission.admit(
                request.client_id,
                request.priority,
                chars,
                plan.deadline - self._clock.monotonic(),
                estimate_wait,
                queued=self.scheduler.queued(engine, request.priority),
                rate_limited=request.rate_limited,
            )
        except Rejected:
            self._record(request, plan, OutcomeStatus.REJECTED, None, None)
            raise

    async def _route_all(self, request: SynthesisRequest, plan: _Plan) -> list[Routed]:
        count = len(plan.prepared.segments)
        tasks = [asyncio.ensure_future(self._route_segment(request, plan, i)) for i in range(count)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def _route_segment(self, request: SynthesisRequest, plan: _Plan, index: int) -> Routed:
        segment = plan.prepared.segments[index]
        chain = self.chains.chain(plan.voice, segment.language)
        opts = SynthesisOptions(speed=plan.opts.speed, language=segment.language)
        return await self.router.run(
            chain, segment.text, opts, priority=request.priority, deadline=plan.deadline
        )

    def _meta(
        self, request: SynthesisRequest, plan: _Plan, routed: Sequence[Routed], *, cache_hit: bool
    ) -> SynthesisMeta:
        engines = [r.step.engine for r in routed]
        engine = max(set(engines), key=engines.count)
        degraded = any(r.degraded for r in routed)
        reason = next((r.fallback_reason for r in routed if r.fallback_reason), None)
        spec = format_spec(request.format)
        return SynthesisMeta(
            plan.voice.id, engine, degraded, reason, cache_hit, spec.mime_type, plan.out_rate
        )

    def _from_cache(self, request: SynthesisRequest, plan: _Plan, hit: CachedAudio) -> SynthesisResult:
        meta = SynthesisMeta(plan.voice.id, hit.engine, False, None, True, hit.media_type, hit.sample_rate)
        latency = self._record(request, plan, OutcomeStatus.OK, hit.engine, None, cache_hit=True)
        return SynthesisResult(hit.data, meta, hit.duration_s, latency)

    def _record(
        self,
        request: SynthesisRequest,
        plan: _Plan,
        status: OutcomeStatus,
        engine: str | None,
        reason: str | None,
        *,
        cache_hit: bool = False,
    ) -> float:
        now = self._clock.monotonic()
        latency = max(0.0, now - plan.arrived)
        outcome = RequestOutcome(
            now, request.priority, len(plan.prepared.text), latency, status, engine, reason, cache_hit
        )
        self.sla.record(outcome)
        self.bus.publish(outcome)  # metrics subscribe
        return latency


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
