"""What a long-form job is: states with their legal transitions, records, and events.

Job state machine (``JOB_TRANSITIONS``; anything else raises ``IllegalJobTransition``)::

    QUEUED ──runner picks it up──▶ RUNNING ──every segment and chapter done──▶ DONE
      │                              ├──a segment failed on every engine, retries spent──▶ FAILED
      │                              └──DELETE──▶ CANCELLED
      ├──DELETE──▶ CANCELLED
      └──cannot start (its voice is gone)──▶ FAILED

A RUNNING job stays RUNNING across a restart: the runner resumes it from its first unfinished
segment. Segments go PENDING ──▶ DONE, or PENDING ──▶ FAILED when their retries are spent.
Every transition publishes a ``JobStateChanged`` event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from voxgate.types import AudioFormat, Prosody

__all__ = [
    "JOB_TRANSITIONS",
    "SEGMENT_TRANSITIONS",
    "ChapterRecord",
    "IllegalJobTransition",
    "JobRecord",
    "JobState",
    "JobStateChanged",
    "NewChapter",
    "NewJob",
    "NewSegment",
    "SegmentDone",
    "SegmentRecord",
    "SegmentState",
    "SegmentTiming",
    "check_transition",
]


class JobState(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """Whether the job will never run again."""
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class SegmentState(StrEnum):
    """Where one segment is: its audio file exists and is fsynced exactly when DONE."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


JOB_TRANSITIONS: Final[frozenset[tuple[JobState, JobState]]] = frozenset(
    {
        (JobState.QUEUED, JobState.RUNNING),
        (JobState.QUEUED, JobState.CANCELLED),
        (JobState.QUEUED, JobState.FAILED),
        (JobState.RUNNING, JobState.DONE),
        (JobState.RUNNING, JobState.FAILED),
        (JobState.RUNNING, JobState.CANCELLED),
    }
)

SEGMENT_TRANSITIONS: Final[frozenset[tuple[SegmentState, SegmentState]]] = frozenset(
    {
        (SegmentState.PENDING, SegmentState.DONE),
        (SegmentState.PENDING, SegmentState.FAILED),
        (SegmentState.DONE, SegmentState.PENDING),  # its file was found missing or truncated on resume
    }
)


class IllegalJobTransition(RuntimeError):  # noqa: N818 (mirrors the breaker's IllegalTransition)
    """A job or segment was asked to move along an edge its state machine does not have."""

    def __init__(self, what: str, from_state: StrEnum, to_state: StrEnum) -> None:
        super().__init__(f"{what}: illegal transition {from_state.value} -> {to_state.value}")
        self.from_state = from_state
        self.to_state = to_state


def check_transition(
    what: str, from_state: JobState | SegmentState, to_state: JobState | SegmentState
) -> None:
    """Raise unless ``from_state → to_state`` is an edge of its state machine.

    Args:
        what: names the job or segment, for the message.
        from_state: the current state.
        to_state: the wanted state.

    Raises:
        IllegalJobTransition: the edge does not exist.
    """
    table: frozenset[tuple[StrEnum, StrEnum]] = (
        JOB_TRANSITIONS if isinstance(from_state, JobState) else SEGMENT_TRANSITIONS
    )
    if (from_state, to_state) not in table:
        raise IllegalJobTransition(what, from_state, to_state)


@dataclass(frozen=True, slots=True)
class NewSegment:
    """A segment of a job being created (text already normalised by ``voxgate.text``).

    Attributes:
        voice: a script's speaker voice or an SSML ``<voice>``; ``None`` = the job's voice.
        pause_before_s: exact silence before it (a script's pause between turns, an SSML
            ``<break>``); ``None`` = the usual sentence or paragraph pause.
        source: the user's words it speaks (what its captions show); ``None`` = ``text``.
        prosody: SSML rate, pitch and volume.
        phonemes: what engines with phoneme input say instead (SSML ``<phoneme>``, a lexicon's
            ``ipa`` or ``pinyin`` entry), in ``alphabet``.
    """

    text: str
    language: str
    paragraph_end: bool
    voice: str | None = None
    pause_before_s: float | None = None
    source: str | None = None
    prosody: Prosody = field(default_factory=Prosody)
    phonemes: str | None = None
    alphabet: str = "ipa"


@dataclass(frozen=True, slots=True)
class NewChapter:
    """A chapter of a job being created."""

    title: str
    segments: tuple[NewSegment, ...]


@dataclass(frozen=True, slots=True)
class NewJob:
    """Everything needed to insert a job: its options and its chapters, already segmented.

    Attributes:
        title: a name for the book (the uploaded file name, or the client's title).
        voice: the resolved voice id (never ``None``: every segment speaks with the same voice).
        speed: speaking rate.
        format: output format of chapters and book.
        sample_rate: rate of the segment audio (the voice's native rate).
        engine: the voice's own engine (whose capacity the job shares).
        chapters: the chapters in order.
        request_hash: digest of the request, to tell a retried submission from a different one.
        ignored: SSML elements and attributes its chapters' documents had that were dropped.
    """

    title: str
    voice: str
    speed: float
    format: AudioFormat
    sample_rate: int
    engine: str
    chapters: tuple[NewChapter, ...]
    request_hash: str
    ignored: tuple[str, ...] = ()

    @property
    def chars(self) -> int:
        """Characters of every segment (what the owner's quota is charged)."""
        return sum(len(s.text) for chapter in self.chapters for s in chapter.segments)


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A stored job."""

    id: str
    owner: str
    title: str
    state: JobState
    voice: str
    speed: float
    format: AudioFormat
    sample_rate: int
    engine: str
    error: str | None
    created_at: float
    finished_at: float | None
    chapters: int
    segments: int
    chars: int
    book_ready: bool


@dataclass(frozen=True, slots=True)
class ChapterRecord:
    """A stored chapter, with its progress."""

    n: int
    title: str
    segments: int
    segments_done: int
    chars: int
    chars_done: int
    ready: bool


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    """A stored segment.

    Attributes:
        seq: position in the whole job, from 0.
        chapter: chapter number, from 1.
        samples: audio length when DONE, at the job's ``sample_rate``.
        engine: who spoke it, when DONE.
        degraded: a fallback engine spoke it.
        attempts: failed attempts so far.
        done_at: wall time it was committed.
        voice: who speaks it in a script; ``None`` = the job's voice.
        source, prosody, phonemes, alphabet: as :class:`NewSegment`.
    """

    seq: int
    chapter: int
    text: str
    language: str
    paragraph_end: bool
    state: SegmentState
    samples: int
    engine: str | None
    degraded: bool
    attempts: int
    error: str | None
    done_at: float | None
    voice: str | None = None
    source: str | None = None
    prosody: Prosody = field(default_factory=Prosody)
    phonemes: str | None = None
    alphabet: str = "ipa"


@dataclass(frozen=True, slots=True)
class SegmentTiming:
    """The part of a segment that placement in time needs (``pause_before_s``: exact, or ``None``;
    ``words``: its words' start and end in seconds from the segment's start, for word captions;
    empty for segments made before; ``source``: the user's words it speaks, for sentence
    captions, ``None`` = ``text``)."""

    chapter: int
    text: str
    samples: int
    paragraph_end: bool
    pause_before_s: float | None = None
    words: tuple[tuple[str, float, float], ...] = ()
    source: str | None = None


@dataclass(frozen=True, slots=True)
class JobStateChanged:
    """Published on every job transition."""

    job_id: str
    from_state: JobState | None
    to_state: JobState
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SegmentDone:
    """Published when a segment's audio is committed."""

    job_id: str
    seq: int
    engine: str
    degraded: bool
    duration_s: float
