"""A small async client for voxgate's realtime socket (``WS /api/v1/tts/realtime``).

Example:
    >>> async def main() -> None:  # doctest: +SKIP
    ...     async with RealtimeClient("http://127.0.0.1:8000", voice="joe", encoding="mulaw") as tts:
    ...         await tts.speak("Hello! How can I help you today?")
    ...         await tts.close()  # speak what is buffered, then the server closes
    ...         async for audio in tts:  # raw mu-law, 8 kHz
    ...             play(audio)

Iterating yields audio bytes (no container) until the server closes the connection; every JSON
message (``metadata``, ``segment``, ``flushed``, ``cleared``, ``warning``, ``error``) goes to
``on_event``. After :meth:`RealtimeClient.clear`, audio the server sent before it saw the clear
(still in transit) is dropped here, so iteration never yields audio from before a clear.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

__all__ = ["REALTIME_PATH", "RealtimeClient", "RealtimeRefused"]

REALTIME_PATH = "/api/v1/tts/realtime"


class RealtimeRefused(Exception):  # noqa: N818 (what happened, as the server said it)
    """The server refused the handshake (bad key, parameter, entitlement, or too many sockets).

    Attributes:
        status: the HTTP status (401, 403, 4xx naming a field, 429).
        code: the error code of the JSON body, if any.
        field: the query parameter at fault, if any.
    """

    def __init__(self, status: int, code: str | None, field: str | None, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.code = code
        self.field = field


def realtime_url(base_url: str, **query: str | int | None) -> str:
    """The socket's URL from a server's base URL (``http(s)://`` or ``ws(s)://``) and query values."""
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if not path.endswith(REALTIME_PATH):
        path += REALTIME_PATH
    params = urlencode({k: str(v) for k, v in query.items() if v is not None})
    return urlunsplit((scheme, parts.netloc, path, params, ""))


class RealtimeClient:
    """One realtime connection (see the module docstring).

    Args:
        base_url: the server, e.g. ``http://127.0.0.1:8000``.
        voice: voice id (default: each piece's language's default voice).
        encoding: ``linear16``, ``mulaw``, ``alaw`` or ``opus`` (one Ogg Opus stream: the chunks
            concatenated are one file).
        sample_rate: rate of the audio (default 24000 for linear16, 8000 for G.711, 48000 for Opus).
        priority: ``interactive`` or ``api`` (default: the most urgent the key may use).
        api_key: sent as ``Authorization: Bearer``.
        on_event: called with every JSON message the server sends.
        timestamps: ask for a ``words`` message (to ``on_event``) before each piece's audio.
        open_timeout: seconds the handshake may take.
    """

    def __init__(
        self,
        base_url: str,
        *,
        voice: str | None = None,
        encoding: str = "linear16",
        sample_rate: int | None = None,
        priority: str | None = None,
        api_key: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
        open_timeout: float = 30.0,
        timestamps: bool = False,
    ) -> None:
        self.url = realtime_url(
            base_url,
            voice=voice,
            encoding=encoding,
            sample_rate=sample_rate,
            priority=priority,
            timestamps="true" if timestamps else None,
        )
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._on_event = on_event
        self._open_timeout = open_timeout
        self._ws: ClientConnection | None = None
        self._clears_unanswered = 0
        self.metadata: dict[str, Any] = {}
        """The server's ``metadata`` message (voice, engine chain, encoding, sample rate)."""

    async def connect(self) -> dict[str, Any]:
        """Open the connection and read its ``metadata``.

        Returns:
            The metadata.

        Raises:
            RealtimeRefused: the server refused the handshake.
        """
        try:
            self._ws = await connect(
                self.url, additional_headers=self._headers, open_timeout=self._open_timeout, max_size=None
            )
        except InvalidStatus as exc:
            raise _refused(exc) from None
        first = await self._ws.recv()
        self.metadata = json.loads(first)
        self._event(self.metadata)
        return self.metadata

    async def __aenter__(self) -> RealtimeClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def speak(self, text: str) -> None:
        """Send a text fragment (a clause is spoken as soon as its punctuation arrives)."""
        await self._send({"type": "speak", "text": text})

    async def flush(self) -> None:
        """Have what is buffered spoken now, however short; a ``flushed`` event follows its audio."""
        await self._send({"type": "flush"})

    async def clear(self) -> None:
        """Barge-in: drop buffered text and speech in flight; no audio from before this is yielded."""
        self._clears_unanswered += 1
        await self._send({"type": "clear"})

    async def close(self) -> None:
        """Have what is buffered spoken, then the server closes (iteration then ends)."""
        await self._send({"type": "close"})

    async def aclose(self) -> None:
        """Close the connection now (whatever is still coming is dropped)."""
        if self._ws is not None:
            await self._ws.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._audio()

    async def _audio(self) -> AsyncIterator[bytes]:
        ws = self._require()
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    if not self._clears_unanswered:
                        yield message
                    continue
                event = json.loads(message)
                if event.get("type") == "cleared" and self._clears_unanswered:
                    self._clears_unanswered -= 1
                self._event(event)
        except ConnectionClosedOK:
            return

    def _event(self, event: dict[str, Any]) -> None:
        if self._on_event is not None:
            self._on_event(event)

    async def _send(self, message: dict[str, Any]) -> None:
        await self._require().send(json.dumps(message, ensure_ascii=False))

    def _require(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("not connected: call connect() or use 'async with'")
        return self._ws


def _refused(exc: InvalidStatus) -> RealtimeRefused:
    response = exc.response
    try:
        error = json.loads(response.body or b"{}").get("error") or {}
    except ValueError:
        error = {}
    message = (
        error.get("message") or (response.body or b"").decode("utf-8", "replace") or response.reason_phrase
    )
    return RealtimeRefused(response.status_code, error.get("code"), error.get("field"), message)
