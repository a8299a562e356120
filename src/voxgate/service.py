"""The Synthesizer: the one entry point every client (HTTP, CLI, jobs) uses.

One request: prepare the text → audio cache → admission → per segment, router (scheduler,
breakers, fallback chain, deadlines) → assemble and encode → cache → SLA record.

What a request that ends without audio costs its client: nothing. A request that fails (no engine
could answer) or is cancelled (the client went away: its task is cancelled, or its stream is
closed) gets its characters back from the daily quota and is recorded ``failed`` or ``cancelled``
(cancelled does not count against availability). A stream that ends early gets back the
characters it had not yet sent; its segments in synthesis are cancelled and its encoder closed.
Rate-limit hits are not given back: a rate limit counts attempts, whatever their outcome.

The cache keeps whole answers and completed streams alike, under one key per request: a stream
collects the bytes it sends (up to the cache's largest entry, then it stops collecting) and, once
every piece is out and nothing degraded, stores them as the request's answer. A later stream of the
same request is served from the cache in pieces, and so is a later whole request. An answer with
word timestamps keeps them in its entry: a later request for timestamps is a hit only on an entry
that has them (for its own text), a plain request on any.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

import numpy as np

from voxgate.audio.assemble import PARAGRAPH_PAUSE_S, SENTENCE_PAUSE_S, assemble
from voxgate.audio.cache import CachedAudio, CacheStore
from voxgate.audio.encode import encode
from voxgate.audio.formats import format_spec
from voxgate.audio.gain import apply_gain
from voxgate.audio.pcm import wav_header
from voxgate.audio.stream import open_stream_encoder
from voxgate.chains import ChainBuilder
from voxgate.clock import Clock
from voxgate.errors import Rejected
from voxgate.planning import MAX_SPEED, MIN_SPEED, Plan, Planner
from voxgate.qos.admission import Admission, Admitted
from voxgate.qos.breaker import BreakerRegistry
from voxgate.qos.events import EventBus
from voxgate.qos.router import Routed, Router
from voxgate.qos.scheduler import PriorityScheduler
from voxgate.qos.sla import OutcomeStatus, RequestOutcome, SlaTracker
from voxgate.requests import SynthesisMeta, SynthesisRequest, SynthesisResult
from voxgate.text.pace import speech_s
from voxgate.text.streaming import quick_start as cut_first
from voxgate.timestamps import Timestamps, WordTimer, merge, pack_timestamps, unpack_timestamps
from voxgate.types import AudioChunk, AudioFormat, Priority, SynthesisOptions, VoiceInfo
from voxgate.voices import VoiceCatalog
from voxgate.workers.backend import ExecutionBackend

__all__ = ["STREAM_LOOKAHEAD", "SynthesisMeta", "SynthesisRequest", "SynthesisResult", "Synthesizer"]

STREAM_LOOKAHEAD = 2
"""Segments a stream keeps in synthesis beyond what it has sent (enough to keep two workers busy)."""

CACHED_PIECE_BYTES = 64 * 1024
"""A stream answered from the cache is sent in pieces of this size."""


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
        planner: text, voice, cache key and deadline of each request.
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
        planner: Planner,
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
        self.planner = planner
        self._refunds: set[asyncio.Task[None]] = set()  # strong references until each is done
        self._honours = {v.engine: v.honours for v in catalog.all()}  # every voice of an engine alike

    # ---- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the execution backend (workers load and warm up)."""
        self.backend.on_capacity(self.scheduler.notify_capacity)
        await self.backend.start()

    async def stop(self, grace_s: float = 10.0) -> None:
        """Finish in-flight work (bounded by ``grace_s``), stop the workers, close the shared stores."""
        await self.backend.stop(grace_s)
        close = getattr(self.cache, "close", None)  # the Redis store holds connections
        if close is not None:
            await close()
        await self.admission.close()

    def voices(self) -> Sequence[VoiceInfo]:
        """Every voice on offer."""
        return self.catalog.all()

    # ---- engines, as routes, metrics and the job runner see them --------------------------------
    def engines(self) -> Sequence[str]:
        """Every engine name (local and remote), in preference order."""
        return self.backend.engines()

    def is_ready(self, engine: str) -> bool:
        """The engine can take a call now (a warm worker; a remote whose last probe or call reached it)."""
        return self.backend.is_ready(engine)

    def capacity(self, engine: str) -> int:
        """Calls the engine can run at once right now (0 for an unknown engine)."""
        return self.backend.capacity(engine)

    def in_flight(self, engine: str) -> int:
        """Calls holding one of the engine's slots now, whatever their priority."""
        return self.scheduler.in_flight(engine)

    def queued(self, engine: str, priority: Priority | None = None) -> int:
        """Calls waiting for one of the engine's slots (of ``priority``, or of every priority)."""
        return self.scheduler.queued(engine, priority)

    def engines_for(self, request: SynthesisRequest) -> list[str]:
        """The engines ``request``'s chains may call, in chain order (plans it; nothing runs).

        A one-shot client (``voxgate say``) starts only these.

        Raises:
            InvalidInput: bad text, voice, format, speed or sample rate.
        """
        plan = self.planner.plan(request)
        engines: dict[str, None] = {}
        for segment in plan.prepared.segments:
            engines.update((step.engine, None) for step in self.chains.chain(plan.voice, segment.language))
        return list(engines)

    def on_capacity(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(engine)`` whenever an engine's capacity changes (a worker ready or gone,
        a remote reachable or not)."""
        self.backend.on_capacity(listener)

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

        A request that fails after admission, or is cancelled (``CancelledError``: the client
        left), is recorded ``failed`` or ``cancelled`` and its characters are refunded.

        Raises:
            InvalidInput: bad text, voice, format, speed or sample rate.
            Rejected: admission refused (rate limit, quota, overload).
            NoEngineAvailable: no engine could answer a segment in time.
        """
        plan = await self.planner.plan_async(request)  # the text front end runs in a thread
        cached = await self._lookup(request, plan)
        if cached is not None:
            return cached
        admitted = await self._admit(request, plan)
        try:
            routed = await self._route_all(request, plan)
        except BaseException as exc:
            self._record(request, plan, _ended_by(exc), None, None)
            self._refund(admitted)
            raise
        starts: list[float] | None = [] if request.timestamps else None
        audio = await asyncio.to_thread(  # minutes of audio from hundreds of segments: not on the loop
            assemble,
            [r.chunks for r in routed],
            plan.out_rate,
            paragraph_ends=[s.paragraph_end for s in plan.prepared.segments],
            pauses_before=[s.pause_before_s for s in plan.prepared.segments],
            trailing_s=plan.prepared.trailing_s,
            starts=starts,
        )
        data = await asyncio.to_thread(encode, audio, plan.out_rate, request.format, out_rate=plan.out_rate)
        timed = None
        if starts is not None:
            end = len(audio) / plan.out_rate
            timed = await asyncio.to_thread(_whole_timestamps, request, plan, routed, starts, end)
        meta = self._meta(request, plan, routed, cache_hit=False)
        duration = len(audio) / plan.out_rate
        if not meta.degraded and request.use_cache:
            await self.cache.put(
                plan.key,
                CachedAudio(
                    data,
                    meta.media_type,
                    meta.engine,
                    plan.out_rate,
                    duration,
                    self._clock.wall(),
                    meta.spoken_by,
                    None if timed is None else pack_timestamps(timed, _text_id(request)),
                ),
            )
        status = OutcomeStatus.DEGRADED if meta.degraded else OutcomeStatus.OK
        latency = self._record(request, plan, status, meta.engine, meta.fallback_reason)
        return SynthesisResult(data, meta, duration, latency, timed)

    async def stream(
        self,
        request: SynthesisRequest,
        on_timing: Callable[[Timestamps], None] | None = None,
        *,
        quick_start: bool = True,
        on_done: Callable[[SynthesisMeta], None] | None = None,
    ) -> tuple[SynthesisMeta, AsyncIterator[bytes]]:
        """Answer a request as a byte stream, one encoded piece per segment as soon as it is ready.

        The first segment (cut short for a slow primary, see
        :func:`~voxgate.text.streaming.quick_start`) is synthesised alone, so it has the engine and
        the CPU to itself, before this returns; its metadata (engine, degraded) is known for the
        response headers. The first segment is asked for with ``SynthesisOptions.stream`` and
        passed on in pieces as they arrive (each sentence from a local worker, piper's sentences in
        decoder windows, a remote kind's pieces if it streams): this returns at the first piece,
        and the engine cannot be replaced by a fallback after that (a failure then ends the stream
        as a later segment's failure does). Then the stream stays
        ``STREAM_LOOKAHEAD`` segments ahead of what it has sent, rather than flooding the queue
        with a long text's every sentence. A later segment is due when the listener would run out
        of audio: the audio already sent, played from the first piece on, then the speech of the
        segments before it that are still being made (a low estimate from their words,
        :func:`~voxgate.text.pace.speech_s`); or at the request's deadline, if that is later.

        The metadata returned is the first segment's (the response headers leave with the first
        piece); a later segment may still degrade. ``on_done`` is called with the whole answer's
        metadata (every segment's engines, degraded, fallback reason) once the last piece is
        encoded, before the body ends: an SSE ``done`` event and the access log line report it.
        The SLA record and the metrics always count the whole answer.

        A stream that sends every piece without degrading is stored in the cache (after its last
        piece, before the body ends) unless it outgrew the cache's largest entry; a stream that
        ends early, fails or degrades is not.

        The body must be iterated to its end or closed (``aclose``). A client that goes away
        mid-stream, whether its task is cancelled while the body awaits a segment
        (``CancelledError``) or the body is closed between pieces (``GeneratorExit``), ends it
        as ``cancelled``: the segments in synthesis are cancelled, the encoder is closed and the
        characters not yet sent are refunded. A later segment that fails ends it as ``failed``,
        with the same refund.

        ``quick_start=False`` keeps the first segment whole (the realtime socket: its pieces are
        clauses already, and a cut would put a pause inside one).

        ``on_timing`` (with ``request.timestamps``) is called with each piece's timestamps (times
        from the start of the stream) just before the piece is yielded, and once more with the
        marks after the last segment. Such a stream is stored with its timestamps, and answered
        from the cache only by an entry that has them (then ``on_timing`` is called once, with
        all of them, before the first piece).

        Raises:
            InvalidInput, Rejected, NoEngineAvailable: as :meth:`synthesize`, for the first segment.
        """
        plan = await self.planner.plan_async(request)  # the text front end runs in a thread
        cached = await self._lookup(request, plan)
        if cached is not None:  # a finished answer is already here: send it in pieces
            if on_timing is not None and cached.timestamps is not None:
                on_timing(cached.timestamps)  # all its words, before the first piece
            if on_done is not None:
                on_done(cached.meta)  # a stored answer is whole: its metadata is final
            return cached.meta, _pieces(cached.audio, CACHED_PIECE_BYTES)
        if quick_start:
            plan = replace(plan, prepared=cut_first(plan.prepared, self.planner.first_segment_chars(plan)))
        admitted = await self._admit(request, plan)
        pieces = _Pieces()
        first = asyncio.ensure_future(self._route_segment(request, plan, 0, plan.deadline, pieces.put))
        try:
            await pieces.wait(first)
            speaker = pieces.items[0][0] if pieces.items else first.result()
        except BaseException as exc:
            first.cancel()
            self._record(request, plan, _ended_by(exc), None, None)
            self._refund(admitted)
            raise
        meta = self._meta(request, plan, [speaker], cache_hit=False)
        timer = None
        if on_timing is not None and request.timestamps:
            timer = _Timing(await asyncio.to_thread(_word_timer, request, plan), on_timing)
        body = self._stream_body(request, plan, first, pieces, speaker, admitted, timer, on_done)
        # Start the body (encode the first piece) here: a started generator is closed (and its
        # request recorded and refunded) even if the client leaves before reading a byte.
        return meta, _prepend(await anext(body), body)

    async def _stream_body(
        self,
        request: SynthesisRequest,
        plan: Plan,
        first_task: asyncio.Future[Routed],
        pieces: _Pieces,
        speaker: Routed,
        admitted: Admitted,
        timer: _Timing | None,
        on_done: Callable[[SynthesisMeta], None] | None,
    ) -> AsyncGenerator[bytes]:
        segments = plan.prepared.segments
        routed: list[Routed] = []
        pending: deque[asyncio.Future[Routed]] = deque()
        status: OutcomeStatus | None = None  # known once the last piece is encoded, or it ends early
        first_audio_at = self._clock.monotonic()
        sent_s = 0.0  # seconds of audio handed to the client so far
        keep = _Collector(self.cache.max_entry_bytes if request.use_cache else -1)

        def launch() -> None:
            # A segment is due when the listener would run out: the audio sent so far, then the
            # (low) estimated speech of the segments before it still being made; or at the
            # request's deadline, if that is later.
            speed = plan.opts.speed
            ahead_s = sum(speech_s(segments[len(routed) + j].text, speed) for j in range(len(pending)))
            while len(routed) + len(pending) < len(segments) and len(pending) < STREAM_LOOKAHEAD:
                index = len(routed) + len(pending)
                due = max(plan.deadline, first_audio_at + sent_s + ahead_s)
                pending.append(asyncio.ensure_future(self._route_segment(request, plan, index, due)))
                ahead_s += speech_s(segments[index].text, speed)

        encoder = None
        try:
            encoder = open_stream_encoder(request.format, plan.out_rate, out_rate=plan.out_rate)
            given = 0  # pieces of the first segment passed on while it was synthesised
            starts: list[float] = []  # where each (merged) chunk of the first segment starts
            opening = True  # the next piece starts a chunk (a sentence streamed in pieces is one)
            lead = segments[0].pause_before_s or 0.0  # an SSML break before the first words
            while True:
                await pieces.wait(first_task)
                if not pieces.items:
                    break
                _, chunk = pieces.items.popleft()
                out = b""
                if given == 0 and lead > 0:
                    silence = np.zeros(round(lead * plan.out_rate), np.float32)
                    sent_s += len(silence) / plan.out_rate
                    out = await asyncio.to_thread(encoder.feed, silence, plan.out_rate)
                if opening:
                    starts.append(sent_s)
                opening = chunk.final
                given += 1
                sent_s += chunk.duration
                out += await asyncio.to_thread(encoder.feed, chunk.audio, chunk.sample_rate)
                yield keep.add(out)
            first = first_task.result()  # a failure after its first pieces ends the stream here
            routed.append(first)
            launch()
            rest = first.chunks[len(starts) :]  # chunks not passed on as pieces (none when all were)
            piece = None
            if rest:
                pauses = [segments[0].pause_before_s] if given == 0 else None
                rest_starts: list[float] = []
                piece = assemble([rest], plan.out_rate, pauses_before=pauses, starts=rest_starts)
                starts.extend(sent_s + s for s in rest_starts)
            if timer is not None:  # the first segment's words, before the piece that ends it
                timer.segment(0, first.chunks, starts, 0.0)
            if piece is not None:
                sent_s += len(piece) / plan.out_rate
                yield keep.add(await asyncio.to_thread(encoder.feed, piece, plan.out_rate))
            while pending:
                result = await pending.popleft()
                pause = PARAGRAPH_PAUSE_S if segments[len(routed) - 1].paragraph_end else SENTENCE_PAUSE_S
                exact = segments[len(routed)].pause_before_s
                routed.append(result)
                gap = np.zeros(
                    int(pause * plan.out_rate) if exact is None else round(exact * plan.out_rate), np.float32
                )
                starts = []
                piece = np.concatenate([gap, assemble([result.chunks], plan.out_rate, starts=starts)])
                if timer is not None:
                    timer.segment(len(routed) - 1, result.chunks, starts, sent_s + len(gap) / plan.out_rate)
                sent_s += len(piece) / plan.out_rate
                launch()
                yield keep.add(await asyncio.to_thread(encoder.feed, piece, plan.out_rate))
            if plan.prepared.trailing_s > 0:
                silence = np.zeros(round(plan.prepared.trailing_s * plan.out_rate), np.float32)
                sent_s += len(silence) / plan.out_rate
                yield keep.add(await asyncio.to_thread(encoder.feed, silence, plan.out_rate))
            if timer is not None:
                timer.end(sent_s)
            tail = await asyncio.to_thread(encoder.finish)
            meta = self._meta(request, plan, routed, cache_hit=False)
            status = OutcomeStatus.DEGRADED if meta.degraded else OutcomeStatus.OK
            if on_done is not None:
                on_done(meta)
            yield keep.add(tail)  # every piece is out: closing the stream after this loses nothing
            data = keep.file(request.format, plan.out_rate)
            if data is not None and not meta.degraded:  # as a whole answer: degraded audio is not kept
                wall = self._clock.wall()
                timed = None if timer is None else pack_timestamps(merge(timer.parts), _text_id(request))
                entry = CachedAudio(
                    data, meta.media_type, meta.engine, plan.out_rate, sent_s, wall, meta.spoken_by, timed
                )
                await self.cache.put(plan.key, entry)
        except BaseException as exc:
            status = status or _ended_by(exc)
            raise
        finally:
            # No await in here: a cancelled task (anyio cancel scopes cancel again at every
            # await) or a closing generator must still clean up entirely.
            for task in pending:
                task.cancel()
            first_task.cancel()
            if first_task.done() and not first_task.cancelled():
                first_task.exception()  # retrieved: a failure was the stream's outcome, recorded here
            if encoder is not None:
                encoder.close()
            reason = next((r.fallback_reason for r in [speaker, *routed] if r.fallback_reason), None)
            status = status or OutcomeStatus.FAILED
            self._record(request, plan, status, speaker.step.engine, reason)
            if status not in (OutcomeStatus.OK, OutcomeStatus.DEGRADED):
                unsent = sum(len(s.text) for s in segments[len(routed) :])
                self._refund(replace(admitted, charged=min(admitted.charged, unsent)))

    # ---- steps ---------------------------------------------------------------------------------
    async def _admit(self, request: SynthesisRequest, plan: Plan) -> Admitted:
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
            return await self.admission.admit(
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

    async def _route_all(self, request: SynthesisRequest, plan: Plan) -> list[Routed]:
        count = len(plan.prepared.segments)
        due = plan.deadline
        tasks = [asyncio.ensure_future(self._route_segment(request, plan, i, due)) for i in range(count)]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def _route_segment(
        self,
        request: SynthesisRequest,
        plan: Plan,
        index: int,
        deadline: float,
        on_chunk: Callable[[Routed, AudioChunk], None] | None = None,
    ) -> Routed:
        segment = plan.prepared.segments[index]
        voice = self.catalog.get(segment.voice) if segment.voice else plan.voice
        chain = self.chains.chain(voice, segment.language)
        prosody = segment.prosody
        opts = SynthesisOptions(
            speed=min(MAX_SPEED, max(MIN_SPEED, plan.opts.speed * prosody.rate)),
            language=segment.language,
            emotion=plan.opts.emotion,
            pitch_st=prosody.pitch_st,
            phonemes=segment.phonemes,
            alphabet=segment.alphabet,
            stream=on_chunk is not None,  # who takes pieces plays them as they come
        )
        gain_db = prosody.volume_db
        sink = on_chunk

        def louder(routed: Routed, chunk: AudioChunk) -> None:  # pieces passed on get the gain too
            assert on_chunk is not None
            on_chunk(routed, replace(chunk, audio=apply_gain(chunk.audio, gain_db)))

        if on_chunk is not None and gain_db != 0:
            sink = louder
        routed = await self.router.run(
            chain, segment.text, opts, priority=request.priority, deadline=deadline, on_chunk=sink
        )
        if gain_db == 0:
            return routed
        chunks = [replace(c, audio=apply_gain(c.audio, gain_db)) for c in routed.chunks]
        return replace(routed, chunks=chunks)

    def _refund(self, admitted: Admitted) -> None:
        """Give ``admitted``'s characters back, in a task of its own.

        A task, not an await: the caller may be a cancelled task or a closing generator, where an
        await would be cancelled again (or is not allowed), and the refund must still happen.
        """
        if not admitted.charged:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a stream collected after its loop ended: nothing left to refund to
            return
        task = loop.create_task(self.admission.refund(admitted))
        self._refunds.add(task)
        task.add_done_callback(self._refunds.discard)

    def _meta(
        self, request: SynthesisRequest, plan: Plan, routed: Sequence[Routed], *, cache_hit: bool
    ) -> SynthesisMeta:
        engines = [r.step.engine for r in routed]
        engine = max(set(engines), key=engines.count)
        degraded = any(r.degraded for r in routed)
        reason = next((r.fallback_reason for r in routed if r.fallback_reason), None)
        spec = format_spec(request.format)
        return SynthesisMeta(
            plan.voice.id,
            engine,
            degraded,
            reason,
            cache_hit,
            spec.mime_type,
            plan.out_rate,
            self._ignored(request, plan, engines),
            tuple(dict.fromkeys(f"{r.step.voice}@{r.step.engine}" for r in routed)),
            _degraded_turns(plan, routed),
        )

    def _ignored(self, request: SynthesisRequest, plan: Plan, engines: Sequence[str]) -> tuple[str, ...]:
        """The options ``request`` asked for that an engine which spoke part of it did not act on,
        then the SSML elements and attributes that were dropped (``ssml:foo``, ``ssml:pitch``)."""
        segments = plan.prepared.segments
        asked = [
            name
            for name, on in (
                ("emotion", request.emotion is not None),
                ("speed", request.speed != 1.0 or any(s.prosody.rate != 1.0 for s in segments)),
                ("pitch", any(s.prosody.pitch_st != 0 for s in segments)),
                ("phoneme", any(s.phonemes is not None for s in segments)),
            )
            if on
        ]
        missed = [
            name for name in asked if any(name not in self._honours.get(e, frozenset()) for e in set(engines))
        ]
        named = [f"ssml:{name}" if name in ("pitch", "phoneme") else name for name in missed]
        return (*named, *plan.prepared.ignored)

    async def _lookup(self, request: SynthesisRequest, plan: Plan) -> SynthesisResult | None:
        """The answer from the cache, or ``None``. A request for timestamps needs an entry that
        has them, timed for its own text (the key is the audio's: two texts that read alike share it)."""
        if not request.use_cache:
            return None
        hit = await self.cache.get(plan.key, timestamps=request.timestamps)
        if hit is None:
            return None
        timed = None
        if request.timestamps:
            timed = unpack_timestamps(hit.timestamps or b"", _text_id(request))
            if timed is None:
                return None
        return self._from_cache(request, plan, hit, timed)

    def _from_cache(
        self, request: SynthesisRequest, plan: Plan, hit: CachedAudio, timed: Timestamps | None = None
    ) -> SynthesisResult:
        ignored = self._ignored(request, plan, [hit.engine])
        meta = SynthesisMeta(
            plan.voice.id,
            hit.engine,
            False,
            None,
            True,
            hit.media_type,
            hit.sample_rate,
            ignored,
            spoken_by=hit.spoken_by,
        )
        latency = self._record(request, plan, OutcomeStatus.OK, hit.engine, None, cache_hit=True)
        return SynthesisResult(hit.data, meta, hit.duration_s, latency, timed)

    def _record(
        self,
        request: SynthesisRequest,
        plan: Plan,
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


def _degraded_turns(plan: Plan, routed: Sequence[Routed]) -> tuple[int, ...]:
    """The dialogue turns a fallback engine spoke part of (``routed[i]`` is segment ``i``)."""
    segments = plan.prepared.segments
    turns = {segments[i].turn for i, r in enumerate(routed) if r.degraded}
    return tuple(sorted(t for t in turns if t is not None))


def _text_id(request: SynthesisRequest) -> str:
    """Names the text a request's words come from (a cached entry's timestamps must match it)."""
    turns = [t.text for t in request.dialogue] if request.dialogue else None
    source = json.dumps([request.text, request.ssml, turns], ensure_ascii=False)
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:32]


def _word_timer(request: SynthesisRequest, plan: Plan) -> WordTimer:
    return WordTimer(request.text, plan.prepared, ssml=request.ssml, dialogue=request.dialogue)


def _whole_timestamps(
    request: SynthesisRequest, plan: Plan, routed: Sequence[Routed], starts: Sequence[float], end: float
) -> Timestamps:
    """A whole answer's timestamps (``starts``: each chunk's start, all segments in order)."""
    timer = _word_timer(request, plan)
    parts = []
    at = 0
    for index, result in enumerate(routed):
        count = len(result.chunks)
        parts.append(timer.segment(index, result.chunks, starts[at : at + count]))
        at += count
    parts.append(Timestamps(marks=timer.end_marks(end)))
    return merge(parts)


class _Timing:
    """A stream's word timer and where its pieces' timestamps go."""

    def __init__(self, timer: WordTimer, deliver: Callable[[Timestamps], None]) -> None:
        self._timer = timer
        self._deliver = deliver
        self.parts: list[Timestamps] = []  # everything delivered, for the cache

    def segment(
        self, index: int, chunks: Sequence[AudioChunk], starts: Sequence[float], offset: float
    ) -> None:
        """Deliver segment ``index``'s timestamps; ``starts`` are its chunks' starts in its piece."""
        part = self._timer.segment(index, chunks, [offset + s for s in starts], streamed=True)
        self.parts.append(part)
        self._deliver(part)

    def end(self, at: float) -> None:
        """Deliver the marks after the last segment (if any)."""
        marks = self._timer.end_marks(at)
        if marks:
            self.parts.append(Timestamps(marks=marks))
            self._deliver(self.parts[-1])


def _ended_by(exc: BaseException) -> OutcomeStatus:
    """How a request that raised ``exc`` ended: the client left (cancelled, closed) or it failed."""
    if isinstance(exc, asyncio.CancelledError | GeneratorExit):
        return OutcomeStatus.CANCELLED
    return OutcomeStatus.FAILED


async def _prepend(first: bytes, rest: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    """``first``, then ``rest``; closing this closes ``rest``."""
    try:
        yield first
        async for piece in rest:
            yield piece
    finally:
        await rest.aclose()  # its cleanup never awaits: this does not suspend


async def _pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    """``data`` in pieces of ``size`` bytes (one empty piece for empty data)."""
    for start in range(0, max(len(data), 1), size):
        yield data[start : start + size]


class _Collector:
    """The bytes a stream sent, kept for the cache while they fit in ``limit`` (< 0: keep nothing)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._pieces: list[bytes] | None = [] if limit >= 0 else None
        self._size = 0

    def add(self, piece: bytes) -> bytes:
        """Keep ``piece`` if everything still fits, else drop all kept so far; return ``piece``."""
        if self._pieces is not None:
            self._size += len(piece)
            if self._size > self._limit:
                self._pieces = None  # too big for the cache: stop holding memory for it
            else:
                self._pieces.append(piece)
        return piece

    def file(self, fmt: AudioFormat, rate: int) -> bytes | None:
        """The whole stream as one file, or ``None`` if it was not kept.

        A streamed WAV says "unknown length" in its header; the stored one states its size.
        """
        if self._pieces is None:
            return None
        data = b"".join(self._pieces)
        streamed = wav_header(rate, None)
        if fmt is AudioFormat.WAV and data.startswith(streamed):
            data = wav_header(rate, (len(data) - len(streamed)) // 2) + data[len(streamed) :]
        return data


class _Pieces:
    """Pieces of a stream's first segment, as the router passes them on while an engine that
    streams (a remote) synthesises it; each with the ``Routed`` saying which engine speaks."""

    def __init__(self) -> None:
        self.items: deque[tuple[Routed, AudioChunk]] = deque()
        self._arrived = asyncio.Event()

    def put(self, routed: Routed, chunk: AudioChunk) -> None:
        self.items.append((routed, chunk))
        self._arrived.set()

    async def wait(self, task: asyncio.Future[Routed]) -> None:
        """Until a piece is here or ``task`` (the segment) is done."""
        if self.items or task.done():
            return
        self._arrived.clear()
        arrived = asyncio.ensure_future(self._arrived.wait())
        either: set[asyncio.Future[Any]] = {task, arrived}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            arrived.cancel()
