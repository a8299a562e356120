"""Pronunciation lexicons: ``GET``, ``PUT`` and ``DELETE /api/v1/lexicon`` (the caller's own)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from voxgate.api.deps import LexiconOwner, Lexicons
from voxgate.lexicons import LexiconStore
from voxgate.text.lexicon import MAX_SAY_CHARS, MAX_WORD_CHARS, LexiconEntry, check_entry

router = APIRouter(tags=["lexicon"])


class LexiconEntryIn(BaseModel):
    """One entry: a word and exactly one of say, ipa or pinyin."""

    model_config = ConfigDict(extra="forbid")

    word: str = Field(min_length=1, max_length=MAX_WORD_CHARS, description="Word, phrase or CJK word.")
    say: str | None = Field(default=None, max_length=MAX_SAY_CHARS, description="Replacement text.")
    ipa: str | None = Field(default=None, max_length=MAX_SAY_CHARS, description="IPA phonemes.")
    pinyin: str | None = Field(default=None, max_length=MAX_SAY_CHARS, description="Pinyin with tones.")
    case_sensitive: bool = Field(default=False, description="Match the word's case exactly.")


class LexiconIn(BaseModel):
    """``PUT /api/v1/lexicon``: the whole lexicon (it replaces the caller's entries)."""

    model_config = ConfigDict(extra="forbid")

    entries: list[LexiconEntryIn]


def _view(store: LexiconStore, owner: str) -> dict[str, Any]:
    lexicon = store.get(owner)
    own = store.own(owner)
    return {
        "version": lexicon.version,
        "entries": [e.to_dict() for e in own],
        "server_entries": len(lexicon) - len(own),
        "server": [e.to_dict() for e in store.server],
        "max_entries": store.max_entries,
    }


@router.get("/api/v1/lexicon")
async def get_lexicon(store: Lexicons, owner: LexiconOwner) -> dict[str, Any]:
    """The caller's entries (its API key's; everyone's when keys are off), the lexicon's version
    (part of the audio cache key), how many entries the server's lexicon file adds, and those
    entries (``server``, read-only)."""
    return await asyncio.to_thread(_view, store, owner)


@router.put("/api/v1/lexicon")
async def put_lexicon(body: LexiconIn, store: Lexicons, owner: LexiconOwner) -> dict[str, Any]:
    """Replace the caller's entries. 422 naming ``entries[i].word`` (or ``.say``...) for a bad entry,
    or ``entries`` for more than ``text.lexicon_max_entries``."""
    entries = []
    for i, item in enumerate(body.entries):
        entry = LexiconEntry(item.word.strip(), item.say, item.ipa, item.pinyin, item.case_sensitive)
        check_entry(entry, f"entries[{i}]")
        entries.append(entry)

    def put() -> dict[str, Any]:
        store.put(owner, entries)
        return _view(store, owner)

    return await asyncio.to_thread(put)


@router.delete("/api/v1/lexicon")
async def delete_lexicon(store: Lexicons, owner: LexiconOwner) -> dict[str, Any]:
    """Remove the caller's entries (the server's lexicon file stays)."""

    def delete() -> dict[str, Any]:
        store.delete(owner)
        return _view(store, owner)

    return await asyncio.to_thread(delete)
