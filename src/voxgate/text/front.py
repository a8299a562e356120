"""One request's text through the front end: plain text or an SSML document, with a lexicon.

The native route (through :class:`voxgate.planning.Planner`) and jobs (each chapter, at
submission) prepare their text here, so SSML, lexicon entries (``say``, ``ipa``, ``pinyin``)
and the cache key's lexicon version follow one rule wherever text is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from voxgate.errors import TextTooLong
from voxgate.text import PreparedText, prepare
from voxgate.text.lexicon import Lexicon
from voxgate.text.ssml import SsmlText, parse_ssml
from voxgate.text.ssml_prepare import prepare_ssml
from voxgate.types import LanguageCode

__all__ = ["SSML_MARKUP_FACTOR", "prepare_text"]

SSML_MARKUP_FACTOR = 4
"""An SSML document may be this many times the spoken-text limit long (markup included)."""


def prepare_text(
    text: str,
    *,
    ssml: bool,
    lexicon: Lexicon | None,
    max_chars: int,
    max_segment_chars: int,
    known_voice: Callable[[str], bool],
    voice_languages: Callable[[str], tuple[LanguageCode, ...]] | None = None,
    field: str = "text",
) -> PreparedText:
    """Clean, normalise and segment ``text`` (an SSML document when ``ssml``), applying ``lexicon``.

    A lexicon's ``say`` entries replace words before the front end; its ``ipa`` and ``pinyin``
    entries become phoneme pieces (as SSML's ``<phoneme>``). The result records the lexicon's
    version when the lexicon changed something (see :meth:`PreparedText.key_text`).

    Args:
        text: the text as the client sent it.
        ssml: ``text`` is an SSML document (parsed with the hardened parser).
        lexicon: a pronunciation lexicon (``None`` or empty: none).
        max_chars: the limit on spoken characters (an SSML document may be
            :data:`SSML_MARKUP_FACTOR` times longer with its markup).
        max_segment_chars: the longest segment to hand to an engine.
        known_voice: whether an SSML ``<voice name>`` is a voice id.
        voice_languages: the languages a voice reads (see :func:`prepare_ssml`).
        field: the request field to name in errors.

    Raises:
        InvalidInput: bad text or malformed SSML (naming ``field``, and the line and column).
        TextTooLong: too long.
        EmptyText: nothing speakable.
    """
    lexicon = lexicon if lexicon is not None and len(lexicon) else None
    if not ssml:
        if lexicon is None or not lexicon.matches(text):
            return prepare(text, max_chars=max_chars, max_segment_chars=max_segment_chars)
        if not lexicon.has_phonemes(text):  # replacements only: the plain front end
            prepared = prepare(
                lexicon.substitute(text), max_chars=max_chars, max_segment_chars=max_segment_chars
            )
            return replace(prepared, lexicon=lexicon.version)
        document = lexicon.document(text)
    else:
        limit = max_chars * SSML_MARKUP_FACTOR
        if len(text) > limit:
            raise TextTooLong(len(text), limit, field=field)
        document = parse_ssml(text, known_voice=known_voice, field=field)
        if lexicon is not None and any(
            isinstance(i, SsmlText) and i.phonemes is None and i.say_as is None and lexicon.matches(i.text)
            for i in document.items
        ):
            document = replace(document, items=tuple(lexicon.rewrite(document.items)))
        else:
            lexicon = None
    prepared = prepare_ssml(
        document,
        max_chars=max_chars,
        max_segment_chars=max_segment_chars,
        field=field,
        voice_languages=voice_languages,
    )
    return replace(prepared, lexicon=lexicon.version) if lexicon is not None else prepared
