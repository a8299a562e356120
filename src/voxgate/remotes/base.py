"""The shape of a remote engine adapter (one per kind) and what every kind shares."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Sequence
from typing import Protocol, runtime_checkable

from voxgate.settings import RemoteSettings
from voxgate.types import AudioChunk, Gender, SynthesisOptions, VoiceInfo


class RemoteEngine(Protocol):
    """One remote TTS server as an engine: request/response mapping and a health probe.

    Deadlines, health state and slot accounting are the :class:`RemoteBackend`'s; an adapter only
    speaks its server's protocol and maps its failures onto :mod:`voxgate.errors`.
    """

    @property
    def name(self) -> str:
        """The engine name (the ``[remotes.NAME]`` table)."""
        ...

    @property
    def model_version(self) -> str:
        """What the remote speaks with (part of cache keys)."""
        ...

    @property
    def settings(self) -> RemoteSettings:
        """Its configuration."""
        ...

    def voices(self) -> Sequence[VoiceInfo]:
        """Its voxgate voices."""
        ...

    async def probe(self) -> bool:
        """Whether the server answers and accepts our key (one bounded health request)."""
        ...

    async def synthesize(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> list[AudioChunk]:
        """Speak ``text`` with voxgate voice ``voice`` within ``timeout_s`` seconds.

        Cancelling the call closes its connection, so the server sees the request abandoned.

        Raises:
            InvalidInput: the server refused the input (4xx other than 401, 403, 408, 429).
            EngineTimeout: no whole answer within ``timeout_s``.
            EngineUnavailable: the server cannot be reached, or refuses our key (401, 403).
            EngineError: 408, 429, 5xx, or an answer that is not audio.
        """
        ...

    async def aclose(self) -> None:
        """Close its connections."""
        ...


@runtime_checkable
class SupportsStreaming(Protocol):
    """A remote kind whose server can send its answer while it synthesises it."""

    def synthesize_stream(
        self, text: str, voice: str, opts: SynthesisOptions, timeout_s: float
    ) -> AsyncGenerator[AudioChunk]:
        """Like :meth:`RemoteEngine.synthesize`, yielding the audio in pieces as they arrive.

        The caller closes the iterator (``aclose``) when it stops early; that closes the
        connection, so the server sees the request abandoned. Errors as ``synthesize``.
        """
        ...


def remote_voices(
    name: str, settings: RemoteSettings, *, honours: frozenset[str], show_remote_name: bool = True
) -> list[VoiceInfo]:
    """The voxgate voices of a remote, from its ``voices`` map.

    Args:
        name: the engine name.
        settings: its table.
        honours: the request options the kind acts on.
        show_remote_name: put the remote's voice name in the description (not for a path on
            the remote's file system, which is nobody's business).
    """
    languages = tuple(settings.languages)
    return [
        VoiceInfo(
            id=voice_id,
            engine=name,
            languages=languages,
            gender=Gender.UNKNOWN,
            sample_rate=settings.sample_rate,
            description=(f"{remote_voice} on " if show_remote_name else "")
            + f"remote engine {name} ({settings.kind}, {settings.model})",
            honours=honours,
        )
        for voice_id, remote_voice in settings.voices.items()
    ]


def api_key(name: str, settings: RemoteSettings) -> str | None:
    """The remote's key, from ``api_key`` or the environment variable ``api_key_env``.

    Raises:
        ValueError: both are given, or the variable is not set (the message names the variable,
            never a value).
    """
    if settings.api_key is not None and settings.api_key_env is not None:
        raise ValueError(f"remotes.{name}: give api_key_env or api_key, not both")
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    if settings.api_key_env is not None:
        value = os.environ.get(settings.api_key_env)
        if not value:
            raise ValueError(f"remotes.{name}: environment variable {settings.api_key_env} is not set")
        return value
    return None
