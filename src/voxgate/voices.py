"""The voice catalog: every voice of every enabled engine, and the default voice per language."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from voxgate.errors import UnknownVoice, UnsupportedLanguage
from voxgate.types import LanguageCode, VoiceInfo

# Preferred voice per language when the client does not name one: the most natural engine first.
# Chinese: jm_kumo is the kokoro voice whisper understands best (bench/quality.py: 8.1 % CER against
# 11.9-19.3 % for the four female voices, which are Japanese speakers with an accent in Mandarin).
DEFAULT_VOICES: Mapping[LanguageCode, str] = {"en": "joe", "zh": "jm_kumo", "ja": "jf_alpha"}
# The voice a fallback engine uses for a language (espeak has several English voices; US English fits best).
ENGINE_VOICES: Mapping[tuple[str, LanguageCode], str] = {
    ("espeak", "en"): "espeak-en-us",
    ("espeak", "zh"): "espeak-cmn",
    ("espeak", "ja"): "espeak-ja",
}


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
    by_id = {v.id: v for v in voices}
    for language, voice_id in configured.items():
        voice = by_id.get(voice_id)
        if voice is None:
            raise ValueError(
                f"{setting}.{language}: unknown voice {voice_id!r} (see `voxgate voices`: "
                "a remote's voices are the keys of its `voices` table)"
            )
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
        self._defaults = {lang: vid for lang, vid in defaults.items() if vid in self._by_id}

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
        """Return the voice with this id.

        Raises:
            UnknownVoice: no such voice.
        """
        try:
            return self._by_id[voice_id]
        except KeyError:
            raise UnknownVoice(voice_id) from None

    def for_engine(self, engine: str, language: LanguageCode) -> VoiceInfo | None:
        """The voice an engine would use for a language (its default for it, else its first reader)."""
        for preferred in (ENGINE_VOICES.get((engine, language)), self._defaults.get(language)):
            if preferred is not None and preferred in self._by_id and self._by_id[preferred].engine == engine:
                return self._by_id[preferred]
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
            return self._by_id[self._defaults[language]]
        for voice in self._by_id.values():
            if voice.languages[0] == language:
                return voice
        for voice in self._by_id.values():
            if language in voice.languages:
                return voice
        raise UnsupportedLanguage("(default)", language)
