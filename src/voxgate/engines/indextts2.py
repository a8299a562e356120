"""IndexTTS-2 on the CPU: the ``indextts-onnx`` package (ONNX Runtime, INT8), an optional engine.

The package (MIT, ``pip install 'voxgate[indextts2]'``; it pulls librosa, sentencepiece and
huggingface-hub, no torch) runs IndexTTS-2 as 10 ONNX models: ``IndexTTSInfer(model_dir,
num_threads)`` opens them, ``infer(ref_audio, text, None)`` clones the voice of a reference
recording and returns 22.05 kHz float samples. Its weights are not on PyPI and voxgate never
downloads them (the package would, from Hugging Face, if asked): the user places the files in
``engines.indextts2.model_dir``. :func:`off_reason` checks, without importing anything heavy,
that the package and its runtime dependencies are installed and that every file is there at a
plausible size, and says what is wrong otherwise.

What the package's ``infer`` takes is a reference recording and the text, nothing else: no speed
and no emotion (it conditions the emotion on the speaker's own recording, IndexTTS-2's "same as
the speaker"), so voxgate's ``speed`` and ``emotion`` options are listed as ignored for these
voices (``X-Voxgate-Ignored``); the remote ``indextts2`` kind honours ``emotion``.

It is slow on a CPU: the router's prior for it (``voxgate.wiring.PRIORS``) assumes several
seconds of computing per second of speech, so interactive requests pass it by.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxgate.errors import EmptyText, EngineError, EngineUnavailable, UnknownVoice, UnsupportedLanguage
from voxgate.text.segment import segment
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo

NAME = "indextts2"
SAMPLE_RATE = 22050
LANGUAGES = ("zh", "en")
PACKAGE = "indextts_onnx"
RUNTIME_DEPENDENCIES = ("onnxruntime", "numpy", "librosa", "sentencepiece", "soundfile")
"""Modules ``indextts_onnx`` imports when its inference class is loaded."""
INSTALL_HINT = "pip install 'voxgate[indextts2]'"
_MB = 1_000_000


@dataclass(frozen=True, slots=True)
class ModelFile:
    """One file the package opens from the model directory.

    Attributes:
        name: the file name the package looks for first.
        min_bytes: smaller than this is a truncated or wrong file (about half its published size).
        alternative: another name the package accepts (the fp32 export of an INT8 model), or "".
    """

    name: str
    min_bytes: int
    alternative: str = ""


MODEL_FILES: tuple[ModelFile, ...] = (
    # published sizes (indextts-onnx 0.3.0): 396, 22, 8, 837, 476, 826, 4, 4, 363, 429 MB
    ModelFile("wav2vec2bert_int8.onnx", 198 * _MB, "wav2vec2bert.onnx"),
    ModelFile("semantic_codec_int8.onnx", 11 * _MB, "semantic_codec.onnx"),
    ModelFile("campplus_int8.onnx", 4 * _MB, "campplus.onnx"),
    ModelFile("gpt2_init_int8.onnx", 418 * _MB, "gpt2_init.onnx"),
    ModelFile("gpt2_step_int8.onnx", 238 * _MB, "gpt2_step.onnx"),
    ModelFile("gpt2_forward_int8.onnx", 413 * _MB, "gpt2_forward.onnx"),
    ModelFile("s2mel_ref_int8.onnx", 2 * _MB, "s2mel_ref.onnx"),
    ModelFile("s2mel_gen_int8.onnx", 2 * _MB, "s2mel_gen.onnx"),
    ModelFile("dit_step.onnx", 181 * _MB),  # the package keeps the DiT and BigVGAN in fp32
    ModelFile("bigvgan.onnx", 214 * _MB),
    ModelFile("bpe.model", 50_000),  # the sentencepiece text tokenizer
)
"""What ``IndexTTSInfer`` opens (``seamless_mel_filters.npy`` ships inside the package)."""

FindSpec = Callable[[str], object | None]
"""``importlib.util.find_spec``'s shape: ``None`` when a module is not installed."""


def model_dir_problems(model_dir: Path) -> list[str]:
    """What is wrong with ``model_dir`` for the package; empty when every file is there.

    A file counts when it (or its accepted alternative) exists and is at least
    :attr:`ModelFile.min_bytes` long. The problems name files, never the directory's path: they
    are shown to API clients (``GET /api/v1/voices``), who have no business knowing it.
    """
    if not model_dir.is_dir():
        return ["engines.indextts2.model_dir is not a directory"]
    missing: list[str] = []
    small: list[str] = []
    for wanted in MODEL_FILES:
        candidates = [model_dir / wanted.name]
        if wanted.alternative:
            candidates.append(model_dir / wanted.alternative)
        present = [p for p in candidates if p.is_file()]
        if not present:
            missing.append(wanted.name)
        elif all(p.stat().st_size < wanted.min_bytes for p in present):
            size = max(p.stat().st_size for p in present)
            small.append(f"{present[0].name} ({size:,} bytes, expected at least {wanted.min_bytes:,})")
    problems = []
    if missing:
        problems.append(f"missing in engines.indextts2.model_dir: {', '.join(missing)}")
    if small:
        problems.append(f"too small (truncated download?): {', '.join(small)}")
    return problems


def package_problem(find_spec: FindSpec = importlib.util.find_spec) -> str | None:
    """Why the package cannot run here (not installed, or a dependency missing), else ``None``.

    Looks the modules up without importing them (importing pulls ONNX Runtime and librosa into
    the gateway); a worker imports them for real when it loads the engine.
    """
    if find_spec(PACKAGE) is None:
        return f"package indextts-onnx is not installed ({INSTALL_HINT})"
    absent = [m for m in RUNTIME_DEPENDENCIES if find_spec(m) is None]
    if absent:
        return f"indextts-onnx needs {', '.join(absent)} ({INSTALL_HINT})"
    return None


def off_reason(
    model_dir: Path | None,
    speakers: Mapping[str, Path],
    *,
    find_spec: FindSpec = importlib.util.find_spec,
) -> str | None:
    """Why the engine cannot be used, every problem at once (``"; "``-joined); ``None`` if it can.

    The text names settings, files and voice ids, no paths (see :func:`model_dir_problems`).

    Args:
        model_dir: ``engines.indextts2.model_dir``.
        speakers: ``engines.indextts2.speakers`` (voice id → reference recording).
        find_spec: module lookup (tests pass a stand-in for a package that is not installed here).
    """
    problems: list[str] = []
    package = package_problem(find_spec)
    if package is not None:
        problems.append(package)
    if model_dir is None:
        problems.append("engines.indextts2.model_dir is not set")
    else:
        problems.extend(model_dir_problems(model_dir))
    if not speakers:
        problems.append("engines.indextts2.speakers is empty (voice id = reference recording)")
    absent = [voice for voice, path in speakers.items() if not path.is_file()]
    if absent:
        problems.append(f"speaker recording not found for voice {', '.join(absent)}")
    return "; ".join(problems) or None


class IndexTTS2Engine:
    """IndexTTS-2 voices cloned from reference recordings, run by ``indextts-onnx`` on the CPU.

    Args:
        model_dir: the model files (see :data:`MODEL_FILES`).
        speakers: voice id → reference recording.
        languages: languages the voices are offered for, primary first.
        threads: ONNX Runtime threads (intra- and inter-op, as the package sets both).
        max_segment_chars: longest text handed to the model in one call.
    """

    name = NAME

    def __init__(
        self,
        *,
        model_dir: Path,
        speakers: Mapping[str, Path],
        languages: Sequence[str] = LANGUAGES,
        threads: int = 2,
        max_segment_chars: int = 250,
    ) -> None:
        self._model_dir = model_dir
        self._speakers = dict(speakers)
        self._languages = tuple(languages)
        self._threads = threads
        self._max_segment_chars = max_segment_chars
        self._tts: Any = None
        self._lock = threading.Lock()  # the package caches one speaker's conditioning: one call at a time
        self.model_version = "indextts2-onnx/" + _files_digest(model_dir)

    def voices(self) -> Sequence[VoiceInfo]:
        """One voice per configured speaker; none honours ``speed`` or ``emotion``."""
        return [
            VoiceInfo(
                id=voice_id,
                engine=self.name,
                languages=self._languages,
                gender=Gender.UNKNOWN,
                sample_rate=SAMPLE_RATE,
                description=f"IndexTTS-2 on the CPU (ONNX INT8), cloned from {path.name}",
                honours=frozenset(),
            )
            for voice_id, path in self._speakers.items()
        ]

    def load(self) -> None:
        """Open the 10 ONNX models (idempotent; tens of seconds and several GB).

        Raises:
            EngineUnavailable: the package, a file or a recording is missing, or a model fails to open.
        """
        if self._tts is not None:
            return
        reason = off_reason(self._model_dir, self._speakers)
        if reason is not None:
            raise EngineUnavailable(self.name, reason)
        try:
            from indextts_onnx import IndexTTSInfer

            with _quiet():
                self._tts = IndexTTSInfer(str(self._model_dir), num_threads=self._threads)
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise EngineUnavailable(self.name, f"cannot load indextts-onnx: {exc}") from exc

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak ``text`` in the speaker's voice; one chunk per sentence (``speed``, ``emotion`` ignored).

        Raises:
            EmptyText, UnknownVoice, UnsupportedLanguage, EngineUnavailable, EngineError.
        """
        reference = self._speakers.get(voice)
        if reference is None:
            raise UnknownVoice(voice)
        if opts.language is not None and opts.language not in self._languages:
            raise UnsupportedLanguage(voice, opts.language)
        pieces = [s.text for s in segment(text, self._max_segment_chars) if s.text.strip()]
        if not pieces:
            raise EmptyText()
        self.load()
        for piece in pieces:
            with self._lock, _quiet():
                try:
                    audio = self._tts.infer(str(reference), piece, None)
                except (RuntimeError, ValueError, OSError) as exc:
                    raise EngineError(self.name, f"cannot speak {piece!r}: {exc}") from exc
            samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
            yield AudioChunk(audio=samples, sample_rate=SAMPLE_RATE, text=piece)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The package prints its progress on stdout; a worker's stdout is the server's log."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _files_digest(model_dir: Path) -> str:
    """Names and sizes of the model files, hashed: a new export changes the cache keys."""
    digest = hashlib.sha256()
    for wanted in MODEL_FILES:
        for name in (wanted.name, wanted.alternative):
            path = model_dir / name
            if name and path.is_file():
                digest.update(f"{name}:{path.stat().st_size};".encode())
    return digest.hexdigest()[:12]
