"""Messages between the gateway and a worker process (pickled over a multiprocessing Pipe)."""

from __future__ import annotations

from dataclasses import dataclass

from voxgate.errors import VoxgateError
from voxgate.types import WordTimes


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process needs to build its engine.

    Attributes:
        engine: engine name (``kokoro``, ``piper``, ``espeak``).
        settings_json: the gateway's settings, serialised (rebuilt without reading the environment).
        warmups: spoken once each after loading, before the worker takes traffic; one per
            language front end the engine has, so no first real request pays for loading one.
        nice: niceness the worker process adds to itself before loading (``engines.<name>.nice``).
    """

    engine: str
    settings_json: str
    warmups: tuple[Warmup, ...]
    nice: int = 0


@dataclass(frozen=True, slots=True)
class Warmup:
    """A sentence a worker speaks before taking traffic."""

    text: str
    voice: str
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """Synthesise ``text``; the worker answers with ``ChunkReady``s then ``JobDone`` or ``JobFailed``.

    ``pitch_st``, ``phonemes`` and ``alphabet`` are SSML's; ``stream`` lets the engine send a
    sentence in pieces (see ``SynthesisOptions``).
    """

    job_id: int
    text: str
    voice: str
    speed: float
    language: str | None
    pitch_st: float = 0.0
    phonemes: str | None = None
    alphabet: str = "ipa"
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Ready:
    """The worker loaded its engine and finished the warm-up."""

    pid: int
    model_version: str
    load_s: float
    warmup_s: float


@dataclass(frozen=True, slots=True)
class LoadFailed:
    """The engine could not be loaded; the worker exits."""

    error: VoxgateError


@dataclass(frozen=True, slots=True)
class ChunkReady:
    """One chunk (normally one sentence) of a job's audio, float32 little-endian samples, and the
    engine's word alignment of it if it has one (see ``AudioChunk.words``); ``final=False`` for a
    piece of a streamed sentence (see ``AudioChunk.final``)."""

    job_id: int
    samples: bytes
    sample_rate: int
    text: str
    words: WordTimes | None = None
    final: bool = True


@dataclass(frozen=True, slots=True)
class JobDone:
    """The job finished; ``seconds`` of engine time inside the worker."""

    job_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class JobFailed:
    """The job raised a typed error inside the worker (the worker stays usable)."""

    job_id: int
    error: VoxgateError


ToWorker = Job | None  # None asks the worker to exit after its current job
FromWorker = Ready | LoadFailed | ChunkReady | JobDone | JobFailed
