"""Request-scoped dependencies: the components the lifespan built, and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from voxgate.api.auth import ApiKeyAuth, Caller
from voxgate.lexicons import EVERYONE, LexiconStore
from voxgate.service import Synthesizer
from voxgate.text.lexicon import Lexicon

__all__ = [
    "ApiKeyAuth",
    "CallerDep",
    "ClientId",
    "LexiconDep",
    "Lexicons",
    "Synth",
    "get_caller",
    "get_client_id",
    "get_lexicon",
    "get_synthesizer",
    "lexicon_owner",
]


async def get_synthesizer(request: Request) -> Synthesizer:
    """The Synthesizer the lifespan started."""
    synth: Synthesizer = request.state.synth
    return synth


async def get_caller(request: Request) -> Caller:
    """The caller: its client id (API key name or remote address) and entitlements.

    Raises:
        Unauthorized: keys are configured and the request has no valid one.
    """
    auth: ApiKeyAuth = request.state.auth
    return auth.identify(request.headers, request.client.host if request.client else None)


async def get_client_id(request: Request) -> str:
    """The caller's client id (API key name or remote address)."""
    return (await get_caller(request)).client_id


Synth = Annotated[Synthesizer, Depends(get_synthesizer)]
CallerDep = Annotated[Caller, Depends(get_caller)]
ClientId = Annotated[str, Depends(get_client_id)]


async def get_lexicons(request: Request) -> LexiconStore:
    """The pronunciation lexicons the lifespan opened."""
    lexicons: LexiconStore = request.state.lexicons
    return lexicons


async def lexicon_owner(request: Request) -> str:
    """Whose lexicon the caller uses: its API key's, or everyone's when keys are off."""
    auth: ApiKeyAuth = request.state.auth
    return (await get_caller(request)).client_id if auth.enabled else EVERYONE


async def get_lexicon(request: Request) -> Lexicon:
    """The caller's lexicon (the server's entries with its own over them)."""
    return (await get_lexicons(request)).get(await lexicon_owner(request))


Lexicons = Annotated[LexiconStore, Depends(get_lexicons)]
LexiconOwner = Annotated[str, Depends(lexicon_owner)]
LexiconDep = Annotated[Lexicon, Depends(get_lexicon)]
