"""Fallback chains: which engines, with which voices, may speak a request of a given voice and language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from voxgate.qos.router import ChainStep
from voxgate.types import LanguageCode, VoiceInfo
from voxgate.voices import VoiceCatalog

LAST_RESORT = "espeak"


class ChainBuilder:
    """Builds ``[voice's engine] + fallbacks[language]`` with a voice per engine.

    Defaults (settings ``qos.fallbacks``): English ``piper → espeak``; Chinese and Japanese
    ``kokoro → espeak``; an English request for a kokoro voice ``kokoro → piper → espeak``.

    Args:
        catalog: every voice.
        fallbacks: engines tried after the voice's own, per language (``*`` for any other).
        enabled: engine names that are enabled, in preference order.
    """

    def __init__(
        self, catalog: VoiceCatalog, fallbacks: Mapping[str, Sequence[str]], enabled: Sequence[str]
    ) -> None:
        self._catalog = catalog
        self._fallbacks = {lang: [e for e in engines if e in enabled] for lang, engines in fallbacks.items()}
        self._enabled = list(enabled)

    def chain(self, voice: VoiceInfo, language: LanguageCode) -> list[ChainStep]:
        """The chain for ``voice`` reading ``language``.

        If the voice cannot read the language (a Chinese sentence in a request for an English
        voice), the chain starts with the default voice of that language instead.
        """
        first = voice if language in voice.languages else self._catalog.default_for(language)
        steps = [ChainStep(first.engine, first.id)]
        fallbacks = self._fallbacks.get(language, self._fallbacks.get("*", []))
        for engine in fallbacks:
            if engine in (s.engine for s in steps):
                continue
            candidate = self._catalog.for_engine(engine, language)
            if candidate is not None:
                steps.append(ChainStep(engine, candidate.id))
        if steps[-1].engine != LAST_RESORT and LAST_RESORT in self._enabled:
            candidate = self._catalog.for_engine(LAST_RESORT, language)
            if candidate is not None:
                steps.append(ChainStep(LAST_RESORT, candidate.id))
        return steps

    def describe(self, voice: VoiceInfo) -> dict[LanguageCode, list[str]]:
        """Per language the voice reads, the engine names of its chain (for ``/api/v1/voices``)."""
        return {lang: [s.engine for s in self.chain(voice, lang)] for lang in voice.languages}
