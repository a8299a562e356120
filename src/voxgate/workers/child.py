"""The worker process: load one engine, warm it up, then serve jobs until told to stop.

Runs in a spawned process. Everything here is synchronous; the engine is the only thing
running, so a hang or crash here never touches the gateway.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from voxgate.engines.base import Engine
from voxgate.engines.chaos import misbehave_at_load
from voxgate.engines.registry import build_engine, with_faults
from voxgate.errors import EngineError, EngineUnavailable, VoxgateError
from voxgate.settings import Settings
from voxgate.types import AudioChunk, SynthesisOptions
from voxgate.workers.messages import ChunkReady, Job, JobDone, JobFailed, LoadFailed, Ready, WorkerSpec


@dataclass(frozen=True, slots=True)
class LoadedEngine:
    """An engine loaded and warmed up, ready for traffic.

    Attributes:
        engine: what serves calls (wrapped in fault injection when its chaos settings say so).
        plain: the same engine without fault injection (for health probes).
        load_s: seconds spent loading.
        warmup_s: seconds spent speaking the warm-up sentences.
    """

    engine: Engine
    plain: Engine
    load_s: float
    warmup_s: float


def load_engine(spec: WorkerSpec) -> LoadedEngine:
    """Build, load and warm up ``spec``'s engine (worker processes and Ray replicas both do this).

    Raises:
        VoxgateError: the engine refused to load (an unexpected failure is an ``EngineUnavailable``).
    """
    settings = Settings.model_validate_json(spec.settings_json)
    try:
        started = time.perf_counter()
        chaos = getattr(settings.engines, spec.engine).chaos
        spare_warmup = chaos.spare_warmup
        engine = build_engine(spec.engine, settings, with_chaos=not spare_warmup)
        misbehave_at_load(chaos)
        engine.load()
        loaded = time.perf_counter()
        for warmup in spec.warmups:
            for _ in engine.synthesize(warmup.text, warmup.voice, SynthesisOptions(language=warmup.language)):
                pass
        warm = time.perf_counter()
    except VoxgateError:
        raise
    except Exception as exc:
        raise EngineUnavailable(spec.engine, f"load failed: {exc!r}") from exc
    serving = with_faults(engine, settings) if spare_warmup else engine  # faults start with real jobs
    return LoadedEngine(serving, engine, loaded - started, warm - loaded)


def speak(
    engine: Engine, engine_name: str, text: str, voice: str, opts: SynthesisOptions
) -> Iterator[AudioChunk]:
    """``engine.synthesize``, with any untyped failure turned into an ``EngineError``.

    Raises:
        VoxgateError: the engine's own typed errors (``InvalidInput`` ...), or ``EngineError``.
    """
    try:
        yield from engine.synthesize(text, voice, opts)
    except VoxgateError:
        raise
    except Exception as exc:
        raise EngineError(engine_name, f"{type(exc).__name__}: {exc}") from exc


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a worker process.

    Args:
        conn: this worker's end of the pipe to the gateway.
        spec: which engine to build and how to warm it up.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the gateway, which stops us in order
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if spec.nice:
        os.nice(spec.nice)  # under CPU contention the gateway's loop goes first (engines.<name>.nice)
    try:
        loaded = load_engine(spec)
    except VoxgateError as exc:
        conn.send(LoadFailed(exc))
        return
    engine = loaded.engine
    conn.send(Ready(os.getpid(), engine.model_version, loaded.load_s, loaded.warmup_s))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the gateway went away
        if message is None:
            return
        _run_job(conn, engine, spec.engine, message)


def _run_job(conn: Connection, engine: Engine, engine_name: str, job: Job) -> None:
    started = time.perf_counter()
    try:
        opts = SynthesisOptions(
            speed=job.speed,
            language=job.language,
            pitch_st=job.pitch_st,
            phonemes=job.phonemes,
            alphabet=job.alphabet,
            stream=job.stream,
        )
        for chunk in speak(engine, engine_name, job.text, job.voice, opts):
            samples = np.ascontiguousarray(chunk.audio, dtype="<f4").tobytes()
            conn.send(
                ChunkReady(job.job_id, samples, chunk.sample_rate, chunk.text, chunk.words, chunk.final)
            )
    except VoxgateError as exc:
        conn.send(JobFailed(job.job_id, exc))
        return
    conn.send(JobDone(job.job_id, time.perf_counter() - started))
