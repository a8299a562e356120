"""ONNX Runtime session construction with an explicit thread count."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(model_path: Path | bytes, threads: int) -> Any:
    """Open an ONNX model on the CPU with ``threads`` intra-op threads and one inter-op thread.

    Idle intra-op threads sleep instead of spinning: workers share the cores, and a thread that
    spins while its worker waits steals them from the busy one (2 kokoro workers × 2 threads on
    2 cores: 18.8 s spinning, 15.5 s sleeping, for the same work in both).

    Memory patterns are off: ORT plans a pattern per input shape, and every sentence has its own
    length, so the patterns only add memory (kokoro 541 → 443 MB RSS, piper 268 → 213 MB over
    1200 texts of ``bench/piper_rss.py``) without a measurable speed difference.

    Args:
        model_path: the ``.onnx`` file, or a model's bytes.
        threads: intra-op thread count (keep threads × busy workers ≤ cores).

    Returns:
        An ``onnxruntime.InferenceSession`` (typed ``Any``: onnxruntime types stay inside engines/).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.enable_mem_pattern = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model_path if isinstance(model_path, bytes) else str(model_path)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
