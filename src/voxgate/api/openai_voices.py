"""OpenAI's model and voice names, resolved to voxgate voices for the text being read.

Models. ``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts`` (and its dated snapshots such as
``gpt-4o-mini-tts-2025-12-15``) and ``voxgate`` all mean "voxgate's usual choice": the same
voices, the same fallback chains. An enabled engine's name (``kokoro``, ``piper``, ``espeak``)
means "prefer this engine's voice for the input's language"; when that engine cannot read the
language, the usual choice applies. A disabled engine's name is an unknown model.

Voices. voxgate has one English male voice (piper ``joe``), five Kokoro voices (four female, one
male; Japanese speakers who also read Chinese and English) and one espeak voice per language.
An OpenAI voice name picks, by its character, the first voxgate voice of its row that is enabled
and reads the input's dominant language; when none does, the language's default voice speaks
(``joe`` for English, ``jf_gongitsune:0.5+jm_kumo:0.5`` for Chinese, ``jf_alpha`` for Japanese, espeak
for the rest):

============================================  =================  ==============================
OpenAI voice                                  character          voxgate voices, in preference
============================================  =================  ==============================
alloy                                         neutral            the language's default voice
ash, ballad, cedar, echo, fable, onyx, verse  male               joe (en), jm_kumo (zh, ja, en)
coral                                         warm female        jf_tebukuro
marin, nova                                   bright female      jf_alpha
sage                                          calm female        jf_gongitsune
shimmer                                       soft female        jf_nezumi
============================================  =================  ==============================

So ``onyx`` reads English with ``joe`` and Chinese with ``jm_kumo``; ``nova`` reads English,
Chinese and Japanese with Kokoro's ``jf_alpha`` (and English with ``joe`` when Kokoro is
disabled). A voxgate voice id (``jm_kumo``, ``espeak-de``) is used as given, whatever the model.
Sentences in another language than the dominant one follow the chosen voice's fallback chain,
as on the native API.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from voxgate.text import detect_language
from voxgate.voices import VoiceCatalog

VOXGATE_MODEL = "voxgate"
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
LEGACY_MODELS = frozenset({"tts-1", "tts-1-hd"})
"""OpenAI models that do not support ``stream_format: sse``."""
_SNAPSHOT = re.compile(r"gpt-4o-mini-tts-\d{4}-\d{2}-\d{2}")

_MALE = ("joe", "jm_kumo")
OPENAI_VOICES: Mapping[str, tuple[str, ...]] = {
    "alloy": (),
    "ash": _MALE,
    "ballad": _MALE,
    "cedar": _MALE,
    "echo": _MALE,
    "fable": _MALE,
    "onyx": _MALE,
    "verse": _MALE,
    "coral": ("jf_tebukuro",),
    "marin": ("jf_alpha",),
    "nova": ("jf_alpha",),
    "sage": ("jf_gongitsune",),
    "shimmer": ("jf_nezumi",),
}
"""OpenAI voice name → voxgate voice ids in preference order (empty: the language's default)."""


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What a ``model`` name asks for.

    Attributes:
        name: the model name as sent.
        engine: the engine whose voices to prefer; ``None`` = voxgate's usual choice.
    """

    name: str
    engine: str | None


def model_names(engines: Collection[str]) -> list[str]:
    """Every model name ``GET /v1/models`` lists: OpenAI's, ``voxgate``, then each enabled engine."""
    return [*OPENAI_MODELS, VOXGATE_MODEL, *engines]


def parse_model(model: str, engines: Collection[str]) -> ModelChoice | None:
    """Read a ``model`` field.

    Args:
        model: the name the client sent.
        engines: the enabled engines.

    Returns:
        The choice, or ``None`` when voxgate offers no model of that name.
    """
    if model in OPENAI_MODELS or model == VOXGATE_MODEL or _SNAPSHOT.fullmatch(model):
        return ModelChoice(model, None)
    if model in engines:
        return ModelChoice(model, model)
    return None


def resolve_voice(voice: str, text: str, catalog: VoiceCatalog, engine: str | None = None) -> str | None:
    """The voxgate voice that should read ``text`` for an OpenAI or voxgate voice name.

    Args:
        voice: an OpenAI voice name (see the module table) or a voxgate voice id.
        text: the input, whose dominant language decides among the candidates.
        catalog: the enabled voices.
        engine: prefer this engine's voices (from the model name), if it reads the language.

    Returns:
        A voice id, or ``None`` to let the Synthesizer take the language's default voice.

    Raises:
        UnknownVoice: ``voice`` is neither an OpenAI voice name nor a voxgate voice id.
    """
    if voice not in OPENAI_VOICES:
        return catalog.get(voice).id
    language = detect_language(text)
    enabled = {v.id: v for v in catalog}
    readers = [
        enabled[vid] for vid in OPENAI_VOICES[voice] if vid in enabled and language in enabled[vid].languages
    ]
    if engine is not None:
        own = next((v for v in readers if v.engine == engine), None) or catalog.for_engine(engine, language)
        if own is not None:
            return own.id
    return readers[0].id if readers else None
