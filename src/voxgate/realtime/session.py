"""One realtime connection: text fragments in, audio out in order, barge-in, QoS per piece.

The session knows nothing of sockets: its owner feeds it client frames (:meth:`receive`), wakes it
at :meth:`wake_at` (:meth:`tick`), and gives it a ``send`` coroutine for what goes out
(:class:`JsonOut`, :class:`AudioOut`, :class:`CloseOut`). Tests drive it with a ``FakeClock``.

Pieces (cut by :class:`~voxgate.realtime.chunker.TextChunker`) are synthesised by the Synthesizer,
each a request of its own with the connection's priority: admission (quota, shedding), the voice's
fallback chain per piece, the audio cache. Pieces are sent in order; while one piece's audio goes
out, the next ``lookahead`` pieces are already in synthesis. A piece's deadline follows playback:
the audio sent but not yet played (the listener's buffer, assuming playback starts on receipt),
and at least the first-audio target, so a slow engine is skipped before the listener hears a gap.
A piece no engine could answer in time (every engine down or restarting) is tried once more,
with its priority's default deadline, before an ``error`` frame says it was lost.

Barge-in (``clear``): buffered text is dropped, synthesis in flight is cancelled (the Synthesizer
then frees its worker slot and refunds the characters), ``cleared`` is sent, and no audio from
before it is sent after it: every send re-checks the generation it belongs to under the send
lock, and ``clear`` moves to a new generation before it waits for that lock.

With ``stream`` (and without ``timestamps``), a piece's audio is sent as the engine makes it (the
Synthesizer's byte stream; piper decodes a clause in windows): its first frame leaves after the
engine's first window, not its whole answer. A clear then also stops the piece being sent: its
stream is closed (the Synthesizer cancels and refunds what is left).

Each piece's ``segment`` frame says where its time went: ``first_audio_ms`` from its cut (its
boundary arrived, a flush, the timer) to its first audio frame, of which ``synthesis_ms`` was its
Synthesizer call until that audio was ready (text front end, admission, queue, engine, encoding);
the rest waited for an earlier piece (pieces go out in order, ``lookahead`` of them in synthesis at
once). ``last_audio_ms`` is from the cut to its last audio frame (streamed, the engine was still
speaking the piece in between).

With ``timestamps``, each piece's audio is preceded by a ``words`` frame: the piece's words with
their times from the start of the connection's audio (the audio sent before the piece, cleared
or not, counts: it is where the piece starts in what the client received).

``opus`` is one continuous Ogg Opus stream (48 kHz) across the whole connection: the binary
frames concatenated are one playable file. Pieces are synthesised as 48 kHz PCM and fed to one
streaming encoder; a ``clear`` keeps the stream going and only drops what had not been sent (each
piece is padded with silence to whole 20 ms Opus frames, so no audio from before a clear waits in
the encoder to come out after it). ``close`` ends the stream (its last page) before the socket.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

from voxgate.audio.pcm import from_s16le
from voxgate.audio.stream import StreamEncoder, open_stream_encoder
from voxgate.clock import Clock
from voxgate.errors import EmptyText, InvalidInput, NoEngineAvailable, Rejected, VoxgateError
from voxgate.realtime.chunker import TextChunker
from voxgate.realtime.events import PieceSpoken, SessionCleared
from voxgate.realtime.protocol import CommandType, FrameError, error_message, parse_command, warning_message
from voxgate.requests import SynthesisMeta, SynthesisRequest, SynthesisResult
from voxgate.text.pace import speech_s
from voxgate.types import AudioFormat, Priority

__all__ = [
    "AudioOut",
    "CloseOut",
    "JsonOut",
    "Outbound",
    "PieceSynthesizer",
    "RealtimeSession",
    "SessionConfig",
]

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
OPUS_RATE = 48000
"""The rate of the ``opus`` encoding (Opus's own; what Deepgram's and ElevenLabs' clients decode)."""
OPUS_FRAME_SAMPLES = 960
"""One 20 ms Opus frame at :data:`OPUS_RATE`: pieces are padded to whole frames."""


class PieceSynthesizer(Protocol):
    """What the session needs of the Synthesizer."""

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Answer one piece with raw audio in the session's encoding."""
        ...

    async def stream(
        self,
        request: SynthesisRequest,
        *,
        quick_start: bool = True,
        on_done: Callable[[SynthesisMeta], None] | None = None,
    ) -> tuple[SynthesisMeta, AsyncIterator[bytes]]:
        """Answer one piece as raw audio bytes as they are made (used with ``SessionConfig.stream``);
        ``on_done`` gets the whole piece's metadata when the bytes end."""
        ...


@dataclass(frozen=True, slots=True)
class JsonOut:
    """A JSON text frame to send."""

    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AudioOut:
    """A binary frame of audio (no container) to send."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CloseOut:
    """Close the connection with ``code``."""

    code: int = CLOSE_NORMAL
    reason: str = ""


Outbound = JsonOut | AudioOut | CloseOut


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """How one connection speaks and what it may do.

    Attributes:
        voice: voice id (``None``: each piece's language picks its default voice).
        encoding: ``pcm`` (linear16), ``mulaw``, ``alaw`` or ``opus`` (Ogg Opus, 48 kHz).
        sample_rate: rate of the audio sent.
        priority: scheduling class of every piece.
        client_id: API key name or remote address (quota, limits).
        first_audio_s: the first-audio target, the shortest deadline a piece gets.
        max_buffer_delay_s: text without a boundary is cut at a word boundary after this long
            without a new fragment (see :class:`~voxgate.realtime.chunker.TextChunker`).
        max_frame_bytes: the largest client frame accepted.
        max_buffered_chars: the most text not yet synthesised (buffered, or queued as pieces);
            more is refused (``buffer_full``): the client sends faster than the engines speak.
        idle_timeout_s: close after this long without a client frame or audio sent.
        frame_s: seconds of audio per binary frame.
        lookahead: pieces in synthesis beyond the one being sent.
        timestamps: send each piece's words with their times (a ``words`` frame before its audio).
        eager_cut: cut at a ``. , ; :`` ending the text so far after a plain word (see
            :class:`~voxgate.realtime.chunker.TextChunker`).
        stream: send a piece's audio as the engine makes it (see the module docstring); not with
            ``timestamps`` (a piece's ``words`` frame comes before its audio).
    """

    voice: str | None
    encoding: AudioFormat
    sample_rate: int
    priority: Priority
    client_id: str
    first_audio_s: float = 1.0
    max_buffer_delay_s: float = 0.3
    max_frame_bytes: int = 16384
    max_buffered_chars: int = 4096
    idle_timeout_s: float = 60.0
    frame_s: float = 0.1
    lookahead: int = 2
    timestamps: bool = False
    eager_cut: bool = True
    stream: bool = False


@dataclass(frozen=True, slots=True)
class _Streamed:
    """A piece's answer as a byte stream: its first bytes are ready, the rest comes from ``body``.

    ``meta`` is its first segment's; ``whole`` gets the whole piece's once ``body`` has ended (a
    piece of two languages, or a long clause, is several segments, and a later one may degrade).
    """

    meta: SynthesisMeta
    body: AsyncIterator[bytes]
    latency_s: float  # the Synthesizer call until the first bytes were ready
    whole: list[SynthesisMeta] = field(default_factory=list)

    @property
    def final(self) -> SynthesisMeta:
        """The whole piece's metadata once the body has ended, else the first segment's."""
        return self.whole[-1] if self.whole else self.meta


_Answer = SynthesisResult | _Streamed


@dataclass(slots=True)
class _Piece:
    text: str
    cut_at: float
    generation: int
    task: asyncio.Task[_Answer] | None = None
    retried: bool = False


@dataclass(frozen=True, slots=True)
class _Mark:
    kind: str  # "flushed" or "close"
    sequence_id: int = 0


@dataclass(slots=True)
class _Counters:
    flushes: int = 0
    clears: int = 0
    pieces: int = 0
    chars: int = 0


class RealtimeSession:
    """One connection's protocol state (see the module docstring).

    Args:
        synth: synthesises each piece.
        config: voice, encoding, priority, limits.
        clock: monotonic time.
        send: sends one outbound frame (called under the session's send lock).
        metadata: the ``metadata`` frame sent first.
        publish: receives the session's events (metrics subscribe).
        charge: charges characters against the client's per-minute budget; returns None when
            allowed, else the seconds until they would be.
    """

    def __init__(
        self,
        *,
        synth: PieceSynthesizer,
        config: SessionConfig,
        clock: Clock,
        send: Callable[[Outbound], Awaitable[None]],
        metadata: dict[str, Any],
        publish: Callable[[object], None] = lambda _event: None,
        charge: Callable[[int], float | None] = lambda _chars: None,
    ) -> None:
        self._synth = synth
        self.config = config
        self._clock = clock
        self._send = send
        self._metadata = metadata
        self._publish = publish
        self._charge = charge
        self._chunker = TextChunker(clock, config.max_buffer_delay_s, eager=config.eager_cut)
        self._pending: deque[_Piece | _Mark] = deque()
        self._generation = 0
        self._lock = asyncio.Lock()
        self._wakeup = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._step: asyncio.Future[bytes] | None = None  # the wait for a streamed piece's next bytes
        self._closers: set[asyncio.Task[None]] = set()  # streams of dropped pieces being closed
        self._closing = False
        self._gone = False  # a send failed: the client has left
        self._play_end = 0.0  # monotonic time the audio sent so far finishes playing
        self._last_activity = clock.monotonic()
        self._counters = _Counters()
        self._stream_s = 0.0  # seconds of audio sent on this connection (where the next piece starts)
        self._encoder: StreamEncoder | None = (
            open_stream_encoder(AudioFormat.OPUS, OPUS_RATE, OPUS_RATE)
            if config.encoding is AudioFormat.OPUS
            else None
        )
        self.done = asyncio.Event()
        """Set once the session has ended: closed after ``close``, idle, or its client gone."""

    # ---- driven by the owner ---------------------------------------------------------------------
    async def start(self) -> None:
        """Send the ``metadata`` frame and start sending pieces as they are ready."""
        await self._emit(JsonOut({"type": "metadata", **self._metadata}))
        self._sender = asyncio.ensure_future(self._run_sender())

    async def receive(self, data: str | bytes) -> None:
        """Obey one client frame; a bad one is answered with an ``error`` frame naming the field."""
        self._last_activity = self._clock.monotonic()
        try:
            command = parse_command(data, self.config.max_frame_bytes)
        except FrameError as exc:
            await self._emit(JsonOut(error_message(exc.code, exc.message, exc.field)))
            return
        if self._closing and command.type is not CommandType.CLEAR:
            await self._emit(JsonOut(error_message("closing", "the connection is closing", "type")))
            return
        if command.type is CommandType.SPEAK:
            await self._speak(command.text)
        elif command.type is CommandType.FLUSH:
            self._flush()
            self._enqueue(_Mark("flushed", self._counters.flushes))
            self._counters.flushes += 1
        elif command.type is CommandType.CLEAR:
            await self._clear()
        else:
            self._flush()
            self._closing = True
            self._enqueue(_Mark("close"))

    def counts(self) -> dict[str, int]:
        """What the connection did so far: characters accepted, pieces spoken, flushes, clears."""
        c = self._counters
        return {"chars": c.chars, "pieces": c.pieces, "flushes": c.flushes, "clears": c.clears}

    def wake_at(self) -> float | None:
        """Monotonic time at which :meth:`tick` has work (a timer cut, the idle timeout), if any."""
        times = [t for t in (self._chunker.due_at(), self._idle_at()) if t is not None]
        return min(times) if times else None

    async def tick(self) -> None:
        """Cut buffered text that has waited long enough; close an idle connection."""
        for piece in self._chunker.on_timer():
            self._enqueue_piece(piece)
        idle_at = self._idle_at()
        if idle_at is not None and self._clock.monotonic() >= idle_at:
            message = f"no frame for {self.config.idle_timeout_s:g} s"
            await self._emit(JsonOut(warning_message("idle_timeout", message)))
            await self._emit(CloseOut(CLOSE_NORMAL, "idle timeout"))
            await self.abort()

    async def abort(self) -> None:
        """End now (client gone, idle, server stopping): cancel synthesis in flight and stop sending."""
        self._generation += 1
        tasks: list[asyncio.Task[Any]] = [
            p.task for p in self._pending if isinstance(p, _Piece) and p.task is not None
        ]
        for item in self._pending:
            if isinstance(item, _Piece):
                self._drop(item)
        self._pending.clear()
        if self._step is not None:
            self._step.cancel()
        sender = self._sender
        if sender is not None and sender is not asyncio.current_task():
            sender.cancel()
            tasks.append(sender)
        for task in tasks:
            task.cancel()
        if tasks:  # let the Synthesizer record and refund them before the connection is gone
            await asyncio.wait(tasks)
        for item_task in tasks:  # a stream that came in as it was dropped is closed too
            self._close_stream(item_task)
        if self._closers:
            await asyncio.wait(self._closers)
        if self._encoder is not None:
            self._encoder.close()  # idempotent; frees the codec
        self.done.set()

    # ---- commands ----------------------------------------------------------------------------------
    async def _speak(self, text: str) -> None:
        queued = sum(len(p.text) for p in self._pending if isinstance(p, _Piece))
        if queued + len(self._chunker.buffered) + len(text) > self.config.max_buffered_chars:
            limit = self.config.max_buffered_chars
            message = f"more than {limit} characters waiting to be spoken; wait, or clear"
            await self._emit(JsonOut(error_message("buffer_full", message, "text")))
            return
        retry_after = self._charge(len(text)) if text.strip() else None
        if retry_after is not None:
            message = f"characters per minute exceeded; retry after {retry_after:.1f} s"
            error = error_message("rate_limit", message, "text", retry_after=round(retry_after, 3))
            await self._emit(JsonOut(error))
            return
        self._counters.chars += len(text)
        for piece in self._chunker.push(text):
            self._enqueue_piece(piece)

    def _flush(self) -> None:
        piece = self._chunker.flush()
        if piece is not None:
            self._enqueue_piece(piece)

    async def _clear(self) -> None:
        self._generation += 1  # before any await: nothing older is sent from here on
        self._chunker.clear()
        for item in self._pending:
            if isinstance(item, _Piece):
                self._drop(item)  # the Synthesizer frees the slot and refunds
        self._pending.clear()
        if self._step is not None:  # the piece being sent: stop waiting for its next bytes
            self._step.cancel()
        self._play_end = 0.0  # the client drops what it had not played
        sequence_id = self._counters.clears
        self._counters.clears += 1
        self._publish(SessionCleared(self.config.priority))
        await self._emit(JsonOut({"type": "cleared", "sequence_id": sequence_id}))
        if self._closing:  # a close before the clear still closes, without the dropped audio
            self._enqueue(_Mark("close"))

    # ---- pieces --------------------------------------------------------------------------------------
    def _enqueue_piece(self, text: str) -> None:
        self._enqueue(_Piece(text, self._clock.monotonic(), self._generation))
        self._launch()

    def _enqueue(self, item: _Piece | _Mark) -> None:
        self._pending.append(item)
        self._wakeup.set()

    def _launch(self) -> None:
        """Start synthesis of the first ``lookahead + 1`` pending pieces that have not started.

        A piece is due when the listener would run out: after the audio sent and not yet played
        (at least the first-audio target from now) and the speech of the pieces before it.
        """
        started = 0
        ahead_s = 0.0  # speech of the pending pieces before this one (estimated from their words)
        unplayed = max(0.0, self._play_end - self._clock.monotonic())
        for item in self._pending:
            if not isinstance(item, _Piece):
                continue
            if item.task is None:
                deadline_s = max(self.config.first_audio_s, unplayed) + ahead_s
                item.task = asyncio.ensure_future(self._answer(self._request(item.text, deadline_s)))
            ahead_s += speech_s(item.text)
            started += 1
            if started > self.config.lookahead:
                return

    async def _answer(self, request: SynthesisRequest) -> _Answer:
        """The Synthesizer's answer to one piece: streamed (see :attr:`SessionConfig.stream`) or whole."""
        if not self.config.stream or self.config.timestamps:
            return await self._synth.synthesize(request)
        started = self._clock.monotonic()
        whole: list[SynthesisMeta] = []
        meta, body = await self._synth.stream(request, quick_start=False, on_done=whole.append)
        return _Streamed(meta, body, self._clock.monotonic() - started, whole)

    def _drop(self, item: _Piece) -> None:
        """Stop a piece that will not be sent: cancel its synthesis, or close its stream."""
        if item.task is None:
            return
        if not item.task.done():
            item.task.cancel()
            return
        self._close_stream(item.task)

    def _close_stream(self, task: asyncio.Task[_Answer]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        answer = task.result()
        if isinstance(answer, _Streamed):
            self._background(_aclose(answer.body))

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        closer = asyncio.ensure_future(coro)
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    def _request(self, text: str, deadline_s: float | None) -> SynthesisRequest:
        return SynthesisRequest(
            text=text,
            voice=self.config.voice,
            format=self._piece_format(),
            sample_rate=self.config.sample_rate,
            priority=self.config.priority,
            deadline_s=deadline_s,
            client_id=self.config.client_id,
            rate_limited=False,  # a connection's pieces are paced by its text, not request counts
            timestamps=self.config.timestamps,  # timed pieces skip the cache read
        )

    def _piece_format(self) -> AudioFormat:
        """Pieces come as raw audio: PCM when the connection encodes them itself (Opus)."""
        return AudioFormat.PCM if self.config.encoding is AudioFormat.OPUS else self.config.encoding

    async def _run_sender(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                if not self._pending:
                    self._wakeup.clear()
                    continue
                item = self._pending[0]
                if isinstance(item, _Mark):
                    self._pending.popleft()
                    if item.kind == "close":
                        await self._end_stream()
                        await self._emit(CloseOut(CLOSE_NORMAL, ""))
                        self.done.set()
                        return
                    await self._emit(JsonOut({"type": "flushed", "sequence_id": item.sequence_id}))
                    continue
                if item.task is None:
                    self._launch()
                assert item.task is not None
                await asyncio.wait((item.task,))
                if item.generation != self._generation:
                    continue  # cleared while it was synthesised: the clear emptied the queue
                if self._retry(item, item.task):
                    continue
                self._pending.popleft()
                self._launch()
                await self._deliver(item, item.task)
        except Exception:  # a bug: end the connection rather than leave it silent
            log.exception("realtime sender stopped")
            self.done.set()

    def _retry(self, item: _Piece, task: asyncio.Task[_Answer]) -> bool:
        """Give a piece that no engine could answer one more try, as an ordinary request.

        A piece's deadline is short (the first-audio target when nothing is buffered), and an
        engine restarting (the last resort's workers killed: seconds on a loaded machine) can
        take all of it. The listener is waiting for this piece either way: late speech beats a
        hole in the answer and an ``error`` frame. The retry gets the default deadline of the
        connection's priority (``qos.deadlines``, 3 s for interactive). Once only.
        """
        if item.retried or task.cancelled() or not isinstance(task.exception(), NoEngineAvailable):
            return False
        item.retried = True
        item.task = asyncio.ensure_future(self._answer(self._request(item.text, None)))
        return True

    async def _deliver(self, item: _Piece, task: asyncio.Task[_Answer]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            await self._report(exc, item)
            return
        answer = task.result()
        if isinstance(answer, _Streamed):
            try:
                await self._deliver_stream(item, answer)
            finally:
                await _aclose(answer.body)  # at its end already, unless cleared or failed
            return
        result = answer
        sent_at = self._clock.monotonic()
        timed = self.config.timestamps and result.timestamps is not None
        if timed and not await self._emit(JsonOut(self._words(item, result)), item.generation):
            return
        audio = self._padded(result.audio)
        frame = self._frame_bytes()
        for start in range(0, len(audio), frame):
            if not await self._emit_audio(audio[start : start + frame], item.generation):
                return  # cleared mid-piece
        gap = item.cut_at < self._play_end < sent_at
        self._play_end = max(sent_at, self._play_end) + result.duration_s
        await self._spoken(item, result.meta, result.duration_s, result.latency_s, sent_at, gap)

    async def _deliver_stream(self, item: _Piece, streamed: _Streamed) -> None:
        """Send a piece's bytes as they come; stop at a clear (the caller closes the stream)."""
        sent_at: float | None = None
        gap = False
        raw_bytes = 0
        frame = self._frame_bytes()
        while True:
            step: asyncio.Future[bytes] = asyncio.ensure_future(anext(streamed.body))
            self._step = step
            try:
                await asyncio.wait((step,))
            except asyncio.CancelledError:  # the session ends: let the stream clean up first
                step.cancel()
                await asyncio.wait((step,))
                raise
            finally:
                self._step = None
            if step.cancelled() or item.generation != self._generation:
                return  # cleared
            exc = step.exception()
            if isinstance(exc, StopAsyncIteration):
                break
            if exc is not None:  # a later segment of the piece failed: what came is out
                await self._report(exc, item)
                return
            data = step.result()
            if not data:
                continue
            now = self._clock.monotonic()
            if sent_at is None:
                sent_at = now
                gap = item.cut_at < self._play_end < now
            elif now > self._play_end:  # the piece's audio sent so far ran out before this came
                gap = True
            for start in range(0, len(data), frame):
                if not await self._emit_audio(data[start : start + frame], item.generation):
                    return  # cleared mid-piece
            raw_bytes += len(data)
            self._play_end = max(now, self._play_end) + len(data) / self._width() / self.config.sample_rate
        padding = self._padded(bytes(raw_bytes))[raw_bytes:]
        if padding and not await self._emit_audio(padding, item.generation):
            return
        if sent_at is None:
            return  # nothing to say
        duration_s = raw_bytes / self._width() / self.config.sample_rate
        await self._spoken(item, streamed.final, duration_s, streamed.latency_s, sent_at, gap)

    async def _spoken(
        self,
        item: _Piece,
        meta: SynthesisMeta,
        duration_s: float,
        latency_s: float,
        sent_at: float,
        gap: bool,
    ) -> None:
        """A piece's audio is out: its ``segment`` frame, the counters, a ``PieceSpoken`` event."""
        now = self._clock.monotonic()
        segment = {
            "type": "segment",
            "engine": meta.engine,
            "degraded": meta.degraded,
            "reason": meta.fallback_reason,
            "text": item.text,
            "duration_ms": round(duration_s * 1000),
            "first_audio_ms": round((sent_at - item.cut_at) * 1000),
            "synthesis_ms": round(latency_s * 1000),
            "last_audio_ms": round((now - item.cut_at) * 1000),
        }
        if not await self._emit(JsonOut(segment), item.generation):
            return
        self._last_activity = now
        self._counters.pieces += 1
        self._publish(
            PieceSpoken(self.config.priority, meta.engine, meta.degraded, sent_at - item.cut_at, gap)
        )

    async def _report(self, exc: BaseException, item: _Piece) -> None:
        if isinstance(exc, EmptyText):
            return  # nothing speakable in the piece ("..."): nothing to say
        extra: dict[str, Any] = {"text": item.text}
        if isinstance(exc, Rejected):
            code, fld = exc.reason, None
            extra["retry_after"] = round(exc.retry_after, 3)
        elif isinstance(exc, InvalidInput):
            code, fld = "invalid_value", exc.field
        elif isinstance(exc, NoEngineAvailable):
            code, fld = "no_engine_available", None
        elif isinstance(exc, VoxgateError):
            code, fld = "engine_error", None
        else:
            log.error("realtime piece failed", exc_info=exc)
            code, fld = "internal_error", None
        message = exc.message if isinstance(exc, InvalidInput) else str(exc)
        await self._emit(JsonOut(error_message(code, message, fld, **extra)), item.generation)

    def _words(self, item: _Piece, result: SynthesisResult) -> dict[str, Any]:
        """The ``words`` frame of a piece: times shifted to where the piece starts in the stream."""
        timed = result.timestamps
        assert timed is not None
        offset = self._stream_s
        words = [
            {"text": w.text, "start": round(offset + w.start, 3), "end": round(offset + w.end, 3)}
            for w in timed.words
        ]
        return {
            "type": "words",
            "text": item.text,
            "words": words,
            "timing": "estimate" if timed.estimated else "engine",
        }

    def _padded(self, audio: bytes) -> bytes:
        """Opus: the piece's PCM padded with silence to whole Opus frames (see the module docstring)."""
        if self._encoder is None:
            return audio
        frame = OPUS_FRAME_SAMPLES * 2
        return audio + bytes(-len(audio) % frame)

    # ---- output ----------------------------------------------------------------------------------------
    async def _emit_audio(self, raw: bytes, generation: int) -> bool:
        """Send one frame of a piece's raw audio (encoded first for Opus) unless a clear ended it.

        The generation check, the encoding and the send happen under one lock hold: every byte the
        Opus encoder gives out is sent (a gap would break the Ogg stream), and nothing it was fed
        before a clear is sent after it.
        """
        async with self._lock:
            if self._gone or generation != self._generation:
                return False
            data = raw
            if self._encoder is not None:
                data = self._encoder.feed(from_s16le(raw), OPUS_RATE)
            self._stream_s += len(raw) / self._width() / self.config.sample_rate
            if not data:
                return True
            return await self._send_locked(AudioOut(data))

    async def _end_stream(self) -> None:
        """Opus: send the end of the Ogg stream (what the encoder still holds and the last page)."""
        if self._encoder is None:
            return
        async with self._lock:
            if self._gone:
                return
            tail = self._encoder.finish()
            if tail:
                await self._send_locked(AudioOut(tail))

    async def _emit(self, out: Outbound, generation: int | None = None) -> bool:
        """Send ``out`` unless it belongs to a generation a clear has ended; say whether it went."""
        async with self._lock:
            if self._gone or (generation is not None and generation != self._generation):
                return False
            return await self._send_locked(out)

    async def _send_locked(self, out: Outbound) -> bool:
        """Send ``out`` (the send lock held); a failure means the client has gone."""
        try:
            await self._send(out)
        except Exception:  # the client is gone: the owner sees the disconnect and aborts
            log.debug("realtime send failed", exc_info=True)
            self._gone = True
            self.done.set()
            return False
        return True

    def _width(self) -> int:
        """Bytes per sample of the pieces' raw audio."""
        return 2 if self._piece_format() is AudioFormat.PCM else 1

    def _frame_bytes(self) -> int:
        width = self._width()
        return max(width, int(self.config.sample_rate * self.config.frame_s) * width)

    def _idle_at(self) -> float | None:
        if self._pending or self.done.is_set():  # audio on its way is not idleness
            return None
        return max(self._last_activity, self._play_end) + self.config.idle_timeout_s


async def _aclose(body: AsyncIterator[bytes]) -> None:
    """Close a piece's byte stream (the Synthesizer's generator: cancels and refunds what is left)."""
    close = getattr(body, "aclose", None)
    if close is not None:
        await close()
