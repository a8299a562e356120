"""The voice catalog: every voice of every enabled engine, and the default voice per language."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping

from voxgate.errors import InvalidOption, UnknownVoice, UnsupportedLanguage
from voxgate.types import LanguageCode, VoiceInfo

# Preferred voice per language when the client does not name one: the most natural engine first.
# Chinese: an equal blend of jf_gongitsune and jm_kumo, chosen on bench/data/zh_eval by
# bench/zh_voices.py (whisper-base CER on spoken forms, README "Engines and voices"): the lowest 95 %
# CI upper bound on dev among the five voices and the blend of the best two (14.3 %, CI 12.4-16.4;
# jf_gongitsune 14.7 %, 12.8-16.9), and below every single voice on test (13.0 %, 10.9-15.2;
# jf_gongitsune 13.7 %, jm_kumo and jf_nezumi 15.0 %, jf_tebukuro 17.3 %, jf_alpha 27.2 %). A blend
# costs nothing over a single voice; the gain over jf_gongitsune alone is within the noise (paired,
# test: -0.7 points, CI -2.2 to +0.6).
DEFAULT_VOICES: Mapping[LanguageCode, str] = {
    "en": "joe",
    "zh": "jf_gongitsune:0.5+jm_kumo:0.5",
    "ja": "jf_alpha",
}
# The voice an engine uses for a language when the request names none of its voices (a fallback,
# or OpenAI's neutral "alloy" with model=kokoro): espeak has several English voices, US English fits
# best; kokoro's English is the voice that read bench/data/en_eval best (bench/en_voices.py, README:
# the dev winner, a blend, did not beat jm_kumo on test; jf_alpha, the first English reader, was the
# worst). An entry may be a blend.
ENGINE_VOICES: Mapping[tuple[str, LanguageCode], str] = {
    ("kokoro", "en"): "jm_kumo",
    ("espeak", "en"): "espeak-en-us",
    ("espeak", "zh"): "espeak-cmn",
    ("espeak", "ja"): "espeak-ja",
}

BLEND_ENGINES = frozenset({"kokoro"})
"""Engines whose voices can be blended (``"jf_alpha:0.6+jm_kumo:0.4"``): kokoro's voices are style
vectors, and a weighted sum of them is a voice too."""
MAX_BLEND_VOICES = 4
_BLEND_PART = re.compile(
    r"\s*(?P<voice>[A-Za-z0-9_.-]+)\s*(?::\s*(?P<weight>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*)?"
)

Blend = tuple[tuple[str, float], ...]


def is_blend(voice_id: str) -> bool:
    """Whether a voice id uses the blend syntax (``a:0.6+b:0.4``; ``a+b`` weighs them equally)."""
    return "+" in voice_id or ":" in voice_id


def parse_blend(spec: str) -> Blend:
    """Parse a blend of voices.

    Args:
        spec: ``voice[:weight]`` parts joined by ``+``; a part without a weight weighs 1.

    Returns:
        (voice id, weight) per part, in order, weights normalised to sum to 1.

    Raises:
        InvalidOption: on the ``voice`` field: malformed, a weight not above 0, a voice named
            twice, or more than :data:`MAX_BLEND_VOICES` voices.
    """
    parts: list[tuple[str, float]] = []
    for raw in spec.split("+"):
        m = _BLEND_PART.fullmatch(raw)
        if m is None:
            raise InvalidOption("voice", f"bad voice blend {spec!r}: expected voice:weight+voice:weight")
        weight = float(m["weight"]) if m["weight"] is not None else 1.0
        if not (math.isfinite(weight) and weight > 0):
            raise InvalidOption("voice", f"bad voice blend {spec!r}: every weight must be above 0")
        parts.append((m["voice"], weight))
    names = [name for name, _ in parts]
    if len(set(names)) != len(names):
        raise InvalidOption("voice", f"bad voice blend {spec!r}: a voice is named twice")
    if len(parts) > MAX_BLEND_VOICES:
        raise InvalidOption("voice", f"bad voice blend {spec!r}: at most {MAX_BLEND_VOICES} voices")
    total = sum(weight for _, weight in parts)
    return tuple((name, weight / total) for name, weight in parts)


def blend_id(blend: Blend) -> str:
    """The canonical id of a parsed blend (weights to 3 decimals): the same voice, the same id."""
    return "+".join(f"{name}:{weight:.3f}".rstrip("0").rstrip(".") for name, weight in blend)


def default_voices(
    voices: Iterable[VoiceInfo],
    configured: Mapping[LanguageCode, str],
    *,
    setting: str = "qos.default_voices",
) -> dict[LanguageCode, str]:
    """:data:`DEFAULT_VOICES`, overridden per language by ``configured`` (checked).

    Args:
        voices: every voice on offer.
        configured: language → voice id, from the setting.
        setting: the setting's name, for the error message.

    Raises:
        ValueError: a configured voice does not exist or does not read its language (the
            message names ``<setting>.<language>``).
    """
    catalog = VoiceCatalog(voices, {})
    for language, voice_id in configured.items():
        try:
            voice = catalog.get(voice_id)  # a blend of kokoro voices is a voice too
        except (UnknownVoice, InvalidOption) as exc:
            raise ValueError(
                f"{setting}.{language}: unknown voice {voice_id!r} (see `voxgate voices`: "
                "a remote's voices are the keys of its `voices` table; a blend names kokoro voices)"
            ) from exc
        if language not in voice.languages:
            raise ValueError(
                f"{setting}.{language}: voice {voice_id!r} does not read {language!r} "
                f"(it reads {', '.join(voice.languages)})"
            )
    return {**DEFAULT_VOICES, **configured}


class VoiceCatalog:
    """Look up voices by id and pick defaults by language.

    Args:
        voices: every voice of every enabled engine; ids must be unique.
        defaults: preferred voice id per language.

    Raises:
        ValueError: two engines offer the same voice id.
    """

    def __init__(
        self, voices: Iterable[VoiceInfo], defaults: Mapping[LanguageCode, str] = DEFAULT_VOICES
    ) -> None:
        self._by_id: dict[str, VoiceInfo] = {}
        for voice in voices:
            if voice.id in self._by_id:
                raise ValueError(f"voice id {voice.id!r} offered twice")
            self._by_id[voice.id] = voice
        # a default whose engine is off (or a blend of voices that are not offered) is skipped
        found = {language: self._offered(voice_id) for language, voice_id in defaults.items()}
        self._defaults: dict[LanguageCode, VoiceInfo] = {k: v for k, v in found.items() if v is not None}

    def __iter__(self) -> Iterator[VoiceInfo]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def all(self) -> list[VoiceInfo]:
        """Every voice, in engine preference order."""
        return list(self._by_id.values())

    def has(self, voice_id: str) -> bool:
        """Whether a voice with this id exists."""
        return voice_id in self._by_id

    def get(self, voice_id: str) -> VoiceInfo:
        """Return the voice with this id, or the blend it spells (see :func:`parse_blend`).

        A blend speaks with the engine, languages and gender of its first voice; its id is the
        canonical spelling (:func:`blend_id`), so equal blends share cache entries.

        Raises:
            UnknownVoice: no such voice.
            InvalidOption: a blend that is malformed, names an unknown voice, or mixes voices
                of several engines or of an engine that cannot blend.
        """
        voice = self._by_id.get(voice_id)
        if voice is not None:
            return voice
        if not is_blend(voice_id):
            raise UnknownVoice(voice_id)
        blend = parse_blend(voice_id)
        voices = []
        for name, _ in blend:
            if name not in self._by_id:
                raise InvalidOption("voice", f"unknown voice {name!r} in blend {voice_id!r}")
            voices.append(self._by_id[name])
        first = voices[0]
        if first.engine not in BLEND_ENGINES or any(v.engine != first.engine for v in voices):
            engines = ", ".join(sorted(BLEND_ENGINES))
            raise InvalidOption(
                "voice", f"only voices of one engine ({engines}) can be blended: {voice_id!r}"
            )
        if len(blend) == 1:
            return first
        return VoiceInfo(
            id=blend_id(blend),
            engine=first.engine,
            languages=first.languages,
            gender=first.gender,
            sample_rate=first.sample_rate,
            description="blend of " + ", ".join(f"{100 * w:.0f} % {n}" for n, w in blend),
            honours=first.honours,
        )

    def _offered(self, voice_id: str | None) -> VoiceInfo | None:
        """:meth:`get`, or None when the voice (or a voice of the blend) is not offered."""
        if voice_id is None:
            return None
        try:
            return self.get(voice_id)
        except (UnknownVoice, InvalidOption):
            return None

    def for_engine(self, engine: str, language: LanguageCode) -> VoiceInfo | None:
        """The voice an engine would use for a language (its default for it, else its first reader)."""
        preferred = self._offered(ENGINE_VOICES.get((engine, language)))
        for voice in (preferred, self._defaults.get(language)):
            if voice is not None and voice.engine == engine:
                return voice
        readers = [v for v in self._by_id.values() if v.engine == engine and language in v.languages]
        primary = [v for v in readers if v.languages[0] == language]
        candidates = primary or readers
        return candidates[0] if candidates else None

    def default_for(self, language: LanguageCode) -> VoiceInfo:
        """The voice to use when the client names none.

        Raises:
            UnsupportedLanguage: no enabled engine reads the language.
        """
        if language in self._defaults:
            return self._defaults[language]
        for voice in self._by_id.values():
            if voice.languages[0] == language:
                return voice
        for voice in self._by_id.values():
            if language in voice.languages:
                return voice
        raise UnsupportedLanguage("(default)", language)
