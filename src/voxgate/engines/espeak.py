"""espeak-ng through ctypes: ~100 languages, formant synthesis, the engine of last resort.

libespeak-ng is global C state, so one synthesis runs at a time per process (a lock guards
it); worker processes give parallelism. The library comes from ``espeakng-loader``.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator, Sequence
from importlib.metadata import version as package_version
from typing import Any

import numpy as np

from voxgate.engines.languages import espeak_voice_for, voxgate_language
from voxgate.errors import EmptyText, EngineError, EngineUnavailable, UnknownVoice, UnsupportedLanguage
from voxgate.text.segment import segment
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo, WordTimes

_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_ESPEAK_RATE = 1
_ESPEAK_PITCH = 3
_DEFAULT_PITCH = 50
_ST_PER_STEP_UP, _ST_PER_STEP_DOWN = 0.178, 0.137
"""Semitones per step of espeak's pitch parameter (0-100, 50 = the voice's own), measured on
``en-us`` with an autocorrelation F0 estimate: 0 → -6.9 st, 100 → +8.9 st."""
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0
_DEFAULT_WPM = 175
_MIN_WPM, _MAX_WPM = 80, 450
SAMPLE_RATE = 22050
VOICE_PREFIX = "espeak-"

_EVENT_END_OF_LIST, _EVENT_WORD, _EVENT_SENTENCE, _EVENT_END = 0, 1, 2, 5
"""``espeak_EVENT_TYPE`` values: the list terminator, a word, a sentence and a clause's end."""


class _EspeakEvent(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h): ``text_position`` counts characters from 1, ``sample``
    counts samples from the start of the ``espeak_Synth`` call."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_EspeakEvent)
)


class _EspeakVoiceStruct(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _list_voice_languages(lib: ctypes.CDLL) -> list[tuple[str, Gender, str]]:
    """Read espeak's voice table: one (espeak language code, gender, voice file) per language.

    The voice file (``gmw/en``) is what selects the voice: some language codes (``en-gb``,
    ``fr-fr``) are not names ``espeak_SetVoiceByName`` accepts.
    """
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_EspeakVoiceStruct))
    table = lib.espeak_ListVoices(None)
    found: dict[str, tuple[Gender, str]] = {}
    i = 0
    while table[i]:
        entry = table[i].contents
        # languages: (priority byte, NUL-terminated name)...; c_char_p stops at the first NUL,
        # which gives the first (primary) language with its priority byte in front.
        raw: bytes | None = entry.languages
        if raw:
            code = raw[1:].decode("ascii", "replace")
            gender = {1: Gender.MALE, 2: Gender.FEMALE}.get(entry.gender, Gender.UNKNOWN)
            identifier = (entry.identifier or b"").decode("ascii", "replace") or code
            if code and "/" not in code:
                found.setdefault(code, (gender, identifier))
        i += 1
    return [(code, gender, identifier) for code, (gender, identifier) in sorted(found.items())]


class EspeakEngine:
    """espeak-ng voices, one per language espeak knows (``espeak-en-us``, ``espeak-cmn``, ...).

    Args:
        max_segment_chars: longest text handed to one ``espeak_Synth`` call.
    """

    name = "espeak"

    def __init__(self, *, max_segment_chars: int = 250) -> None:
        self._max_segment_chars = max_segment_chars
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None
        self._sample_rate = SAMPLE_RATE
        self._voices: list[VoiceInfo] | None = None
        self._files: dict[str, str] = {}  # language code -> espeak voice file (gmw/en)
        self._buffer: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int]] = []  # (type, text position, length, sample)
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: C holds the pointer
        self._current_voice: str | None = None
        self.model_version = f"espeak-ng/{package_version('espeakng-loader')}"

    def _library(self) -> ctypes.CDLL:
        if self._lib is not None:
            return self._lib
        try:
            import espeakng_loader

            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data_path = espeakng_loader.get_data_path().encode()
        except (ImportError, OSError, RuntimeError) as exc:
            raise EngineUnavailable(self.name, f"libespeak-ng not loadable: {exc}") from exc
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise EngineUnavailable(self.name, f"espeak_Initialize failed ({rate})")
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_Info.restype = ctypes.c_char_p
        info = lib.espeak_Info(None)
        self.model_version = f"espeak-ng/{info.decode()}"
        self._sample_rate = int(rate)
        self._lib = lib
        return lib

    def voices(self) -> Sequence[VoiceInfo]:
        """One voice per espeak language (loads the small library on first call)."""
        if self._voices is None:
            with self._lock:
                lib = self._library()
                table = _list_voice_languages(lib)
                self._files = {code: identifier for code, _, identifier in table}
                self._voices = [
                    VoiceInfo(
                        id=f"{VOICE_PREFIX}{code}",
                        engine=self.name,
                        languages=(voxgate_language(code),),
                        gender=gender,
                        sample_rate=self._sample_rate,
                        description=f"espeak-ng formant voice for {code}",
                        honours=frozenset({"speed", "pitch"}),
                    )
                    for code, gender, _ in table
                ]
        return self._voices

    def load(self) -> None:
        """Initialise libespeak-ng and read its voice table."""
        self.voices()

    def _on_audio(self, wav: ctypes.Array[ctypes.c_short] | None, numsamples: int, events: Any) -> int:
        if wav and numsamples > 0:
            self._buffer.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).astype(np.float32) / 32768.0)
        if events:
            i = 0
            while events[i].type != _EVENT_END_OF_LIST:
                event = events[i]
                if event.type in (_EVENT_WORD, _EVENT_SENTENCE, _EVENT_END):
                    self._events.append((event.type, event.text_position, event.length, event.sample))
                i += 1
        return 0

    def _espeak_code(self, voice: str, language: str | None) -> str:
        known = {v.id: v for v in self.voices()}
        info = known.get(voice)
        if info is None:
            raise UnknownVoice(voice)
        code = voice.removeprefix(VOICE_PREFIX)
        if language is not None and language not in info.languages:
            raise UnsupportedLanguage(voice, language)
        return self._files.get(code, code)  # the voice file selects it; some codes are not names

    def synthesize(self, text: str, voice: str, opts: SynthesisOptions) -> Iterator[AudioChunk]:
        """Speak ``text`` with an espeak voice, one chunk per sentence.

        Raises:
            EmptyText, UnknownVoice, UnsupportedLanguage, EngineError.
        """
        code = self._espeak_code(voice, opts.language)
        pieces = [s.text for s in segment(text, self._max_segment_chars) if s.text.strip()]
        if not pieces:
            raise EmptyText()
        wpm = int(min(_MAX_WPM, max(_MIN_WPM, round(_DEFAULT_WPM * opts.speed))))
        pitch = espeak_pitch(opts.pitch_st)
        for piece in pieces:
            audio, words = self._synth_one(piece, code, wpm, pitch)
            yield AudioChunk(audio=audio, sample_rate=self._sample_rate, text=piece, words=words)

    def _synth_one(
        self, text: str, code: str, wpm: int, pitch: int = _DEFAULT_PITCH
    ) -> tuple[np.ndarray, WordTimes]:
        with self._lock:
            lib = self._library()
            if self._current_voice != code:
                if lib.espeak_SetVoiceByName(code.encode()) != _EE_OK:
                    raise EngineError(self.name, f"espeak has no voice {code!r}")
                self._current_voice = code
            lib.espeak_SetParameter(_ESPEAK_RATE, wpm, 0)
            lib.espeak_SetParameter(_ESPEAK_PITCH, pitch, 0)
            self._buffer, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            if status != _EE_OK:
                raise EngineError(self.name, f"espeak_Synth returned {status}")
            chunks, self._buffer = self._buffer, []
            events, self._events = self._events, []
        audio = np.concatenate(chunks).astype(np.float32, copy=False) if chunks else np.zeros(0, np.float32)
        return audio, word_times(events, len(text), len(audio), self._sample_rate)


def word_times(events: list[tuple[int, int, int, int]], chars: int, samples: int, rate: int) -> WordTimes:
    """Words timed from espeak's events: each word runs from its event to the next event
    (the next word, or the end of its clause or sentence), within the audio.

    Args:
        events: ``(type, text position from 1, length in characters, sample)`` in order.
        chars: length of the spoken text.
        samples: length of the audio.
        rate: its sample rate.
    """
    words: list[tuple[int, int, float, float]] = []
    for n, (kind, position, length, sample) in enumerate(events):
        if kind != _EVENT_WORD or position < 1:
            continue
        end = next((e[3] for e in events[n + 1 :] if e[3] > sample), samples)
        first = min(position - 1, chars)
        words.append(
            (first, min(chars, first + max(length, 1)), min(sample, samples) / rate, min(end, samples) / rate)
        )
    return tuple(words)


def espeak_pitch(semitones: float) -> int:
    """espeak's pitch parameter for a change of ``semitones`` (clamped to what espeak can do)."""
    per_step = _ST_PER_STEP_UP if semitones > 0 else _ST_PER_STEP_DOWN
    return int(min(100, max(0, round(_DEFAULT_PITCH + semitones / per_step))))


def espeak_voice_id(language: str) -> str:
    """The espeak voice id that reads a voxgate language (``en`` → ``espeak-en-us``)."""
    return f"{VOICE_PREFIX}{espeak_voice_for(language)}"
