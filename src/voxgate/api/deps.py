"""Request-scoped dependencies: the components the lifespan built, and the caller's identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from voxgate.api.auth import ApiKeyAuth, Caller
from voxgate.service import Synthesizer

__all__ = ["ApiKeyAuth", "CallerDep", "ClientId", "Synth", "get_caller", "get_client_id", "get_synthesizer"]


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
