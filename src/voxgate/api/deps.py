"""Request-scoped dependencies: the components the lifespan built, and the caller's identity."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Annotated

from fastapi import Depends, Request

from voxgate.errors import Unauthorized
from voxgate.service import Synthesizer


class ApiKeyAuth:
    """Identifies the client: the name of its API key, or its address when no keys are configured.

    Args:
        keys: client name → bearer token. Empty: the server is open.
    """

    def __init__(self, keys: Mapping[str, str]) -> None:
        self._keys = [(name, token.encode()) for name, token in keys.items()]

    @property
    def enabled(self) -> bool:
        """Whether requests must carry a key."""
        return bool(self._keys)

    def identify(self, request: Request) -> str:
        """Return the client id of a request.

        Raises:
            Unauthorized: keys are configured and the request has no valid one.
        """
        if not self._keys:
            return request.client.host if request.client else "local"
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        presented = token.strip().encode()
        match = None
        for name, secret in self._keys:  # compare against every key: no timing hint of which exists
            if hmac.compare_digest(presented, secret):
                match = name
        if match is None:
            raise Unauthorized("invalid API key")
        return match


async def get_synthesizer(request: Request) -> Synthesizer:
    """The Synthesizer the lifespan started."""
    synth: Synthesizer = request.state.synth
    return synth


async def get_client_id(request: Request) -> str:
    """The caller's client id (API key name or remote address)."""
    auth: ApiKeyAuth = request.state.auth
    return auth.identify(request)


Synth = Annotated[Synthesizer, Depends(get_synthesizer)]
ClientId = Annotated[str, Depends(get_client_id)]
