"""ONNX Runtime session construction with an explicit thread count."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def cpu_session(model_path: Path, threads: int) -> Any:
    """Open an ONNX model on the CPU with ``threads`` intra-op threads and one inter-op thread.

    Args:
        model_path: the ``.onnx`` file.
        threads: intra-op thread count (keep threads × busy workers ≤ cores).

    Returns:
        An ``onnxruntime.InferenceSession`` (typed ``Any``: onnxruntime types stay inside engines/).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
