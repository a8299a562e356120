"""Realtime speech over a WebSocket: text fragments in, audio out, barge-in (see :mod:`.session`)."""

from voxgate.realtime.chunker import TextChunker
from voxgate.realtime.limits import RealtimeLimits
from voxgate.realtime.session import RealtimeSession, SessionConfig

__all__ = ["RealtimeLimits", "RealtimeSession", "SessionConfig", "TextChunker"]
