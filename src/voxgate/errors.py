"""The voxgate error tree. Domain errors carry data, never HTTP status codes.

```
VoxgateError
├── InvalidInput(field, message)             bad request data; nothing ran
│   ├── EmptyText
│   ├── TextTooLong(length, limit)
│   ├── UnknownVoice(voice)
│   ├── UnsupportedLanguage(voice, language)
│   ├── UnsupportedFormat(format)
│   ├── InvalidOption                         speed, sample rate, ... out of range
│   └── NotEntitled                           a priority or deadline the client may not ask for
├── EngineError(engine)                       an engine could not produce audio
│   ├── EngineUnavailable                     not installed / failed to load
│   ├── EngineTimeout(deadline_s)             overran its deadline
│   └── EngineCrashed                         worker process died
├── Unauthorized                              missing or wrong API key
├── QueueTimeout(engine, waited_s)           gave up waiting for a worker slot
├── Rejected(retry_after)                     admission refused: rate, quota, load
└── NoEngineAvailable(attempts)               every engine of the chain failed
```

Backends re-raise driver failures ``from exc`` as one of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class VoxgateError(Exception):
    """Root of every error voxgate raises on purpose.

    Every subclass pickles with its attributes intact, so an error raised inside a worker
    process arrives in the gateway as the same type with the same data.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))


def _rebuild(cls: type[VoxgateError], args: tuple[Any, ...], state: dict[str, Any]) -> VoxgateError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidInput(VoxgateError):  # noqa: N818 (domain name, not "...Error")
    """The request is malformed; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class EmptyText(InvalidInput):
    """The text has nothing speakable after cleaning."""

    def __init__(self, field: str = "text") -> None:
        super().__init__(field, "text is empty after removing control characters and whitespace")


class TextTooLong(InvalidInput):
    """The text exceeds the per-request character limit."""

    def __init__(self, length: int, limit: int, field: str = "text") -> None:
        super().__init__(field, f"text has {length} characters; the limit is {limit}")
        self.length = length
        self.limit = limit


class UnknownVoice(InvalidInput):
    """No engine offers this voice id."""

    def __init__(self, voice: str, field: str = "voice") -> None:
        super().__init__(field, f"unknown voice {voice!r}")
        self.voice = voice


class UnsupportedLanguage(InvalidInput):
    """The voice cannot read this language."""

    def __init__(self, voice: str, language: str, field: str = "text") -> None:
        super().__init__(field, f"voice {voice!r} cannot read language {language!r}")
        self.voice = voice
        self.language = language


class UnsupportedFormat(InvalidInput):
    """The requested audio format is not one voxgate encodes."""

    def __init__(self, fmt: str, field: str = "format") -> None:
        super().__init__(field, f"unsupported audio format {fmt!r}")
        self.format = fmt


class InvalidOption(InvalidInput):
    """An option (speed, sample rate, ...) is outside its allowed range."""


class EngineError(VoxgateError):
    """An engine failed to produce audio for a request."""

    def __init__(self, engine: str, message: str) -> None:
        super().__init__(f"{engine}: {message}")
        self.engine = engine
        self.message = message


class EngineUnavailable(EngineError):  # noqa: N818
    """The engine is not installed, failed to load, or is not ready."""


class EngineTimeout(EngineError):  # noqa: N818
    """The engine overran the deadline it was given."""

    def __init__(self, engine: str, deadline_s: float) -> None:
        super().__init__(engine, f"no answer within {deadline_s:.3f} s")
        self.deadline_s = deadline_s


class EngineCrashed(EngineError):  # noqa: N818
    """The worker process running the engine died during the call.

    ``blames_input`` is true when the death may have been caused by the call's input (the worker
    crashed, hung past its deadline or blew its memory limit while running it), false when it was
    not (frozen from outside, shut down): the router remembers inputs that kill an engine.
    """

    def __init__(self, engine: str, message: str, *, blames_input: bool = True) -> None:
        super().__init__(engine, message)
        self.blames_input = blames_input


class NotEntitled(InvalidInput):
    """The client may not ask for this value of ``field`` (a priority or a deadline its key lacks)."""


class Unauthorized(VoxgateError):  # noqa: N818
    """API keys are configured and the request carries none, or a wrong one."""


class QueueTimeout(VoxgateError):  # noqa: N818
    """A request waited past its give-up time for a slot of ``engine`` (the router moves on)."""

    def __init__(self, engine: str, waited_s: float) -> None:
        super().__init__(f"{engine}: gave up after {waited_s:.3f} s in the queue")
        self.engine = engine
        self.waited_s = waited_s


class Rejected(VoxgateError):  # noqa: N818
    """Admission refused the request; try again after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(f"rejected ({reason}); retry after {retry_after:.1f} s")
        self.reason = reason
        self.retry_after = retry_after


class NoEngineAvailable(VoxgateError):  # noqa: N818
    """Every engine in the chain failed or was skipped; ``attempts`` says why, in order, one
    ``(engine, reason)`` per try (an engine twice in a chain, espeak → piper → espeak, twice)."""

    def __init__(self, attempts: Sequence[tuple[str, str]]) -> None:
        detail = "; ".join(f"{e}: {r}" for e, r in attempts) or "empty chain"
        super().__init__(f"no engine could answer ({detail})")
        self.attempts = tuple(attempts)
