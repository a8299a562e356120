"""The worker process: load one engine, warm it up, then serve jobs until told to stop.

Runs in a spawned process. Everything here is synchronous; the engine is the only thing
running, so a hang or crash here never touches the gateway.
"""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.connection import Connection

import numpy as np

from voxgate.engines.registry import build_engine, with_faults
from voxgate.errors import EngineError, EngineUnavailable, VoxgateError
from voxgate.settings import Settings
from voxgate.types import SynthesisOptions
from voxgate.workers.messages import ChunkReady, Job, JobDone, JobFailed, LoadFailed, Ready, WorkerSpec


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a worker process.

    Args:
        conn: this worker's end of the pipe to the gateway.
        spec: which engine to build and how to warm it up.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the gateway, which stops us in order
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    settings = Settings.model_validate_json(spec.settings_json)
    try:
        started = time.perf_counter()
        spare_warmup = getattr(settings.engines, spec.engine).chaos.spare_warmup
        engine = build_engine(spec.engine, settings, with_chaos=not spare_warmup)
        engine.load()
        loaded = time.perf_counter()
        for warmup in spec.warmups:
            for _ in engine.synthesize(warmup.text, warmup.voice, SynthesisOptions(language=warmup.language)):
                pass
        warm = time.perf_counter()
        if spare_warmup:  # injected faults start with the first real job
            engine = with_faults(engine, settings)
    except VoxgateError as exc:
        conn.send(LoadFailed(exc))
        return
    except Exception as exc:
        conn.send(LoadFailed(EngineUnavailable(spec.engine, f"load failed: {exc!r}")))
        return
    conn.send(Ready(os.getpid(), engine.model_version, loaded - started, warm - loaded))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the gateway went away
        if message is None:
            return
        _run_job(conn, engine, spec.engine, message)


def _run_job(conn: Connection, engine: object, engine_name: str, job: Job) -> None:
    from voxgate.engines.base import Engine

    assert isinstance(engine, Engine)
    started = time.perf_counter()
    try:
        opts = SynthesisOptions(
            speed=job.speed,
            language=job.language,
            pitch_st=job.pitch_st,
            phonemes=job.phonemes,
            alphabet=job.alphabet,
        )
        for chunk in engine.synthesize(job.text, job.voice, opts):
            samples = np.ascontiguousarray(chunk.audio, dtype="<f4").tobytes()
            conn.send(ChunkReady(job.job_id, samples, chunk.sample_rate, chunk.text, chunk.words))
    except VoxgateError as exc:
        conn.send(JobFailed(job.job_id, exc))
        return
    except Exception as exc:
        conn.send(JobFailed(job.job_id, EngineError(engine_name, f"{type(exc).__name__}: {exc}")))
        return
    conn.send(JobDone(job.job_id, time.perf_counter() - started))
