"""The session without a network: what it sends for frames and clock ticks (synthesis is not reached here)."""

from __future__ import annotations

import asyncio
from typing import Any

from voxgate.errors import NoEngineAvailable
from voxgate.realtime.session import CloseOut, JsonOut, Outbound, RealtimeSession, SessionConfig
from voxgate.requests import SynthesisMeta, SynthesisRequest, SynthesisResult
from voxgate.testing import FakeClock
from voxgate.types import AudioFormat, Priority


class UnreachedSynthStandIn:
    """Stand-in for the Synthesizer in tests whose frames never complete a piece: it fails if called."""

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Fail the test: nothing here should have been synthesised."""
        raise AssertionError(f"unexpected synthesis of {request.text!r}")


class ChaosSynthStandIn:
    """Fault injection for the Synthesizer: the first ``failures`` calls for each text find no
    engine (every engine down or restarting); later ones answer 0.1 s of mu-law silence."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: dict[str, int] = {}
        self.deadlines: list[float | None] = []

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        """Fail the text's first ``failures`` calls with NoEngineAvailable, then answer."""
        self.calls[request.text] = self.calls.get(request.text, 0) + 1
        self.deadlines.append(request.deadline_s)
        if self.calls[request.text] <= self.failures:
            raise NoEngineAvailable([("piper", "not_ready"), ("espeak", "queue_timeout")])
        meta = SynthesisMeta("joe", "espeak", True, "piper:not_ready", False, "audio/basic", 8000)
        return SynthesisResult(b"\xff" * 800, meta, 0.1, 0.01)


def _session(clock: FakeClock, sent: list[Outbound], synth: Any = None, **config: Any) -> RealtimeSession:
    async def send(out: Outbound) -> None:
        sent.append(out)

    settings = SessionConfig(
        voice="joe",
        encoding=AudioFormat.MULAW,
        sample_rate=8000,
        priority=Priority.INTERACTIVE,
        client_id="t",
        **config,
    )
    return RealtimeSession(
        synth=synth or UnreachedSynthStandIn(),
        config=settings,
        clock=clock,
        send=send,
        metadata={"voice": "joe"},
    )


def test_metadata_first_then_errors_for_bad_frames_and_a_full_buffer() -> None:
    """metadata leads; bad frames and text past the buffer limit get error frames naming the field."""

    async def run() -> list[Outbound]:
        sent: list[Outbound] = []
        session = _session(FakeClock(), sent, max_frame_bytes=300, max_buffered_chars=50)
        await session.start()
        await session.receive("{oops")
        await session.receive('{"type": "speak", "text": "' + "a" * 400 + '"}')
        await session.receive('{"type": "speak", "text": "' + "word " * 11 + '"}')
        await session.abort()
        return sent

    sent = asyncio.run(run())
    assert isinstance(sent[0], JsonOut)
    assert sent[0].payload == {"type": "metadata", "voice": "joe"}
    errors = [(o.payload["code"], o.payload["field"]) for o in sent[1:] if isinstance(o, JsonOut)]
    assert errors == [("invalid_json", "frame"), ("frame_too_large", "frame"), ("buffer_full", "text")]


def test_an_idle_connection_is_warned_and_closed_on_the_clock() -> None:
    """No frame for idle_timeout_s: a warning, then close 1000; wake_at says when, ticks before do nothing."""

    async def run() -> tuple[list[Outbound], bool]:
        clock = FakeClock()
        sent: list[Outbound] = []
        session = _session(clock, sent, idle_timeout_s=5.0)
        await session.start()
        assert session.wake_at() == clock.monotonic() + 5.0
        clock.advance(4.9)
        await session.tick()
        assert len(sent) == 1
        clock.advance(0.2)
        await session.tick()
        return sent, session.done.is_set()

    sent, done = asyncio.run(run())
    assert done
    assert isinstance(sent[1], JsonOut)
    assert sent[1].payload["code"] == "idle_timeout"
    assert sent[2] == CloseOut(1000, "idle timeout")


def test_a_fragment_left_in_the_buffer_does_not_keep_a_connection_open() -> None:
    """One buffered word (no timer cut: too short) still leaves the idle timeout running from the frame."""

    async def run() -> tuple[float | None, float]:
        clock = FakeClock()
        session = _session(clock, [], idle_timeout_s=1.0)
        await session.start()
        clock.advance(0.5)
        await session.receive('{"type": "speak", "text": "only"}')
        wake = session.wake_at()
        await session.abort()
        return wake, clock.monotonic()

    wake, now = asyncio.run(run())
    assert wake == now + 1.0


def test_text_over_the_characters_per_minute_is_refused_with_the_wait() -> None:
    """When the per-minute budget says no, the fragment is dropped with a rate_limit error and its wait."""

    async def run() -> list[Outbound]:
        sent: list[Outbound] = []

        async def send(out: Outbound) -> None:
            sent.append(out)

        config = SessionConfig("joe", AudioFormat.MULAW, 8000, Priority.API, "t")
        session = RealtimeSession(
            synth=UnreachedSynthStandIn(),
            config=config,
            clock=FakeClock(),
            send=send,
            metadata={},
            charge=lambda chars: 12.5 if chars > 3 else None,
        )
        await session.start()
        await session.receive('{"type": "speak", "text": "one two three four five six"}')
        await session.abort()
        return sent

    error = asyncio.run(run())[1]
    assert isinstance(error, JsonOut)
    assert (error.payload["code"], error.payload["field"], error.payload["retry_after"]) == (
        "rate_limit",
        "text",
        12.5,
    )


def test_flushes_with_nothing_to_say_are_answered_in_order_then_close_closes() -> None:
    """flush, flush, close with no text: flushed 0, flushed 1, then close 1000; later frames are refused."""

    async def run() -> list[Outbound]:
        sent: list[Outbound] = []
        session = _session(FakeClock(), sent)
        await session.start()
        for frame in ('{"type": "flush"}', '{"type": "flush"}', '{"type": "close"}'):
            await session.receive(frame)
        await session.receive('{"type": "speak", "text": "too late"}')
        await asyncio.wait_for(session.done.wait(), 30)
        await session.abort()
        return sent

    sent = asyncio.run(run())
    payloads = [o.payload for o in sent if isinstance(o, JsonOut)]
    assert [p["type"] for p in payloads[1:]] == ["error", "flushed", "flushed"]
    assert payloads[1]["code"] == "closing"
    assert [p["sequence_id"] for p in payloads[2:]] == [0, 1]
    assert sent[-1] == CloseOut(1000, "")


def _spoken_with(failures: int) -> tuple[list[dict[str, Any]], ChaosSynthStandIn]:
    """Two sentences and close through a session whose synthesis fails ``failures`` times per piece."""
    synth = ChaosSynthStandIn(failures)

    async def run() -> list[Outbound]:
        sent: list[Outbound] = []
        session = _session(FakeClock(), sent, synth)
        await session.start()
        await session.receive('{"type": "speak", "text": "First sentence here. Second one here."}')
        await session.receive('{"type": "close"}')
        await asyncio.wait_for(session.done.wait(), 30)
        await session.abort()
        return sent

    sent = asyncio.run(run())
    return [o.payload for o in sent if isinstance(o, JsonOut)][1:], synth


def test_a_piece_no_engine_could_answer_is_tried_once_more_before_it_is_lost() -> None:
    """No engine for a piece (the last resort restarting): a second try, with the priority's default
    deadline instead of the piece's short one, speaks it; no error frame."""
    payloads, synth = _spoken_with(failures=1)
    assert [p["type"] for p in payloads] == ["segment", "segment"]
    assert [p["text"] for p in payloads] == ["First sentence here.", "Second one here."]
    assert set(synth.calls.values()) == {2}
    assert synth.deadlines.count(None) == 2  # the retries; first tries carry the piece's deadline
    assert None not in synth.deadlines[:2]


def test_a_piece_that_fails_its_second_try_too_is_an_error_frame_and_the_socket_goes_on() -> None:
    """Two failures: an error frame naming the piece (no third try), then the next pieces, then close."""
    payloads, synth = _spoken_with(failures=2)
    assert [p["type"] for p in payloads] == ["error", "error"]
    assert payloads[0]["code"] == "no_engine_available"
    assert payloads[0]["text"] == "First sentence here."
    assert set(synth.calls.values()) == {2}
