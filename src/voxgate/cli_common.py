"""What the ``voxgate`` client commands share: a Synthesizer's settings for a one-shot client in this
process, and a running server reached over HTTP.

In process, a command builds the same Synthesizer as the server (:func:`voxgate.wiring.build_synthesizer`),
so it gets the same chains, segmentation, cache and remote engines; its own client id has no rate
limit or daily quota (one person at a terminal, speaking their own text). A one-shot command starts
only the engines its request's chains name (:func:`only_engines`): a Chinese sentence does not wait
for piper's workers, an English one not for kokoro's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from voxgate.settings import Settings
from voxgate.types import VoiceInfo

if TYPE_CHECKING:
    import httpx

__all__ = ["LOCAL_CLIENT", "ClientFailed", "local_settings", "only_engines", "refusal", "server_client"]

LOCAL_CLIENT = "cli"
"""The client id of requests the commands make in this process."""


class ClientFailed(Exception):  # noqa: N818 (an outcome the user reads)
    """A command could not do what it was asked; the message says why.

    Attributes:
        exit_code: 2 when the input or configuration is wrong (trying again will not help),
            1 when the service could not answer (it may, later).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def local_settings(settings: Settings) -> Settings:
    """``settings`` with no rate limit and no daily quota for :data:`LOCAL_CLIENT`."""
    limits = settings.qos.limits.model_copy(
        update={
            "per_client": {**settings.qos.limits.per_client, LOCAL_CLIENT: ""},
            "daily_chars_per_client": {**settings.qos.limits.daily_chars_per_client, LOCAL_CLIENT: 0},
        }
    )
    return settings.model_copy(update={"qos": settings.qos.model_copy(update={"limits": limits})})


def only_engines(settings: Settings, engines: Collection[str], voices: Iterable[VoiceInfo]) -> Settings:
    """``settings`` with every engine but ``engines`` left out (nothing else changes).

    Local engines not named are disabled, remotes not named are dropped, and the
    ``qos.default_voices`` entries naming their voices go with them. The chains of a request whose
    engines are all in ``engines`` (:meth:`Synthesizer.engines_for`) are the same either way, so
    are its cache keys.

    Args:
        settings: the configuration.
        engines: the engine names to keep.
        voices: every voice of the full configuration (to find the engine of a default voice).
    """
    engine_of = {v.id: v.engine for v in voices}
    local = settings.engines
    update = {
        name: getattr(local, name).model_copy(update={"enabled": False})
        for name in type(local).model_fields
        if name not in engines and hasattr(getattr(local, name), "enabled")
    }
    defaults = {
        language: voice
        for language, voice in settings.qos.default_voices.items()
        if engine_of.get(voice) in engines
    }
    return settings.model_copy(
        update={
            "engines": local.model_copy(update=update),
            "remotes": {name: r for name, r in settings.remotes.items() if name in engines},
            "qos": settings.qos.model_copy(update={"default_voices": defaults}),
        }
    )


def server_client(server: str, api_key: str | None, *, timeout_s: float) -> httpx.AsyncClient:
    """A client for a running voxgate at ``server`` (base URL), with the API key as a bearer token."""
    import httpx

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(base_url=server, headers=headers, timeout=timeout_s)


def refusal(response: httpx.Response) -> ClientFailed:
    """What a server's error answer (its JSON ``error.message``, else the start of its body) says.

    The exit code is 2 for a 4xx other than 408 and 429 (the request is wrong), else 1.
    """
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    status = response.status_code
    code = 2 if 400 <= status < 500 and status not in (408, 429) else 1
    return ClientFailed(f"server answered {status}: {message}", exit_code=code)
