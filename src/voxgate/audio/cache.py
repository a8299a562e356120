"""Content-addressed cache of finished, encoded audio.

A cache entry is the exact byte stream a client received (a WAV, MP3, ... file) plus enough
metadata to answer again without touching an engine. Keys come from :func:`cache_key`, a SHA-256
over an unambiguous encoding of everything that changes the bytes.

Stores implement the async :class:`CacheStore` protocol:

- :class:`MemoryCache`: LRU bounded by the total size of the cached ``data``.
- :class:`voxgate.audio.cache_disk.DiskCache`: a directory bounded by bytes on disk; survives restarts.
- :class:`TieredCache`: memory in front of disk; a disk hit is promoted into memory.
- :class:`voxgate.audio.cache_redis.RedisCache`: one Redis shared by every gateway.
- :class:`FailOpenCache`: wraps any store so that its failures (disk full, permissions, a store
  that is down) never fail a request: a failed ``get`` is a miss, a failed ``put`` is dropped.
  The cache is an optimisation; finished audio must reach the client whatever the cache does.

:func:`cache_from_url` builds one from a URL (``memory://``, ``disk://``, ``tiered://``, ``redis://``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs, urlsplit

from voxgate.clock import Clock, SystemClock

if TYPE_CHECKING:
    from voxgate.audio.cache_disk import DiskCache
    from voxgate.audio.cache_redis import RedisCache
    from voxgate.redis_store import Cooldown

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_DISK_MAX_BYTES",
    "DEFAULT_MEMORY_MAX_BYTES",
    "CacheError",
    "CacheStats",
    "CacheStore",
    "CachedAudio",
    "FailOpenCache",
    "MemoryCache",
    "TieredCache",
    "cache_from_url",
    "cache_key",
]

DEFAULT_MEMORY_MAX_BYTES = 256 * 1024 * 1024
"""Default budget of :class:`MemoryCache`: 256 MiB of audio data."""

DEFAULT_DISK_MAX_BYTES = 2 * 1024 * 1024 * 1024
"""Default budget of :class:`DiskCache`: 2 GiB of files."""

_KEY_SCHEMA = "voxgate-audio-cache/1"
"""Bumped whenever the key encoding or the meaning of a field changes, so old entries miss."""


@dataclass(frozen=True, slots=True)
class CachedAudio:
    """One cached answer: the encoded bytes and what a response needs to describe them.

    Attributes:
        data: the encoded audio file/stream exactly as sent to the client.
        media_type: its MIME type, e.g. ``audio/mpeg``.
        engine: the engine that spoke it.
        sample_rate: sample rate of the encoded audio in Hz.
        duration_s: length of the audio in seconds.
        created_at: wall-clock time (epoch seconds) when it was made.
        spoken_by: ``voice@engine`` of every voice that spoke it (several with SSML ``<voice>``
            or a dialogue), so a cache hit says who spoke as the first answer did.
        timestamps: the answer's word timestamps, packed by the Synthesizer
            (:func:`voxgate.timestamps.pack_timestamps`; opaque here), or ``None`` when the answer
            was made without them. A lookup that needs them misses an entry without them.
    """

    data: bytes
    media_type: str
    engine: str
    sample_rate: int
    duration_s: float
    created_at: float
    spoken_by: tuple[str, ...] = ()
    timestamps: bytes | None = None

    @property
    def size(self) -> int:
        """What the entry counts against a byte budget: its audio and its timestamps."""
        return len(self.data) + len(self.timestamps or b"")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters of one cache store since it was created.

    Attributes:
        hits: lookups answered.
        misses: lookups not answered (including corrupt entries dropped on read).
        evictions: entries removed to make room.
        bytes: bytes held now (memory: sum of entry sizes, audio and timestamps; disk: sum of
            file sizes).
        items: entries held now.
        max_bytes: the byte budget.
    """

    hits: int
    misses: int
    evictions: int
    bytes: int
    items: int
    max_bytes: int


def cache_key(
    *,
    normalized_text: str,
    voice: str,
    speed: float,
    fmt: str,
    sample_rate: int,
    engine: str,
    model_version: str,
    emotion: str | None = None,
) -> str:
    """Compute the cache key of one rendering.

    The fields are encoded as a JSON array (so ``("ab", "c")`` and ``("a", "bc")`` differ) with a
    schema tag in front, and hashed with SHA-256. ``speed`` is rounded to 3 decimals, so 1.0 and
    1.0001 share an entry. Pass in ``engine`` whatever decides which engine speaks: the engine that
    answered, or the voice's whole chain (e.g. ``"kokoro>piper>espeak"``) when looking up before
    routing.

    Args:
        normalized_text: the text after normalisation (what the engine reads).
        voice: voice id.
        speed: speaking-rate factor.
        fmt: output format (an ``AudioFormat`` or its string value).
        sample_rate: output sample rate in Hz.
        engine: engine name, or the engine chain.
        model_version: version of the model/voice data, so an upgrade invalidates old audio.
        emotion: the request's emotion (``Emotion.key()``), if any; without one the key is what
            it was before emotions existed.

    Returns:
        64 lowercase hex characters.

    Raises:
        ValueError: if ``speed`` is not finite.
    """
    if not math.isfinite(speed):
        raise ValueError(f"speed must be finite, got {speed!r}")
    fields = [
        _KEY_SCHEMA,
        normalized_text,
        voice,
        f"{round(speed, 3) + 0.0:.3f}",  # + 0.0 folds -0.0 into 0.0
        str(fmt),
        int(sample_rate),
        engine,
        model_version,
    ]
    if emotion is not None:
        fields.append(emotion)
    encoded = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


class CacheStore(Protocol):
    """An async store of :class:`CachedAudio` by key."""

    async def get(self, key: str, *, timestamps: bool = False) -> CachedAudio | None:
        """Return the entry for ``key``, or ``None`` on a miss (with ``timestamps``, an entry
        stored without them is a miss too)."""
        ...

    async def put(self, key: str, value: CachedAudio) -> None:
        """Store ``value`` under ``key`` (replacing any entry); may evict others or decline to store."""
        ...

    async def stats(self) -> CacheStats:
        """Return the current counters."""
        ...

    @property
    def max_entry_bytes(self) -> int:
        """The largest entry the store may keep (:attr:`CachedAudio.size`); a stream stops
        collecting its audio past it."""
        ...


class MemoryCache:
    """An in-process LRU cache bounded by the total size of the cached entries.

    An entry's size is its audio plus its packed timestamps (:attr:`CachedAudio.size`). An entry
    larger than the whole budget is not stored. Operations never await, so they are atomic on the
    event loop.

    Args:
        max_bytes: budget for the sum of ``value.size`` over entries.

    Raises:
        ValueError: if ``max_bytes`` is negative.
    """

    def __init__(self, max_bytes: int = DEFAULT_MEMORY_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, CachedAudio] = OrderedDict()
        self._bytes = 0
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def max_entry_bytes(self) -> int:
        """The whole budget: a larger entry (audio and timestamps) is not stored."""
        return self.max_bytes

    async def get(self, key: str, *, timestamps: bool = False) -> CachedAudio | None:
        """Return the entry for ``key`` and mark it most recently used, or ``None``.

        Args:
            key: a key from :func:`cache_key`.
            timestamps: only an entry with timestamps will do.

        Returns:
            The cached audio, or ``None`` on a miss.
        """
        value = self._entries.get(key)
        if value is None or (timestamps and value.timestamps is None):
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    async def put(self, key: str, value: CachedAudio) -> None:
        """Store ``value`` as most recently used, evicting least recently used entries to fit.

        Args:
            key: a key from :func:`cache_key`.
            value: the audio to keep.
        """
        size = value.size
        if size > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        self._entries[key] = value
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.size
            self.evictions += 1

    async def stats(self) -> CacheStats:
        """Return hits, misses, evictions, bytes held and item count."""
        return CacheStats(
            hits=self.hits,
            misses=self.misses,
            evictions=self.evictions,
            bytes=self._bytes,
            items=len(self._entries),
            max_bytes=self.max_bytes,
        )


class TieredCache:
    """A memory cache in front of an optional disk cache.

    ``get`` asks memory first, then disk; a disk hit is copied into memory. ``put`` writes both
    tiers. The tiers keep their own counters (reachable as ``.memory`` and ``.disk``); this
    object's ``hits``/``misses`` count answers of the whole cache.

    Args:
        memory: the fast tier.
        disk: the persistent tier, or ``None`` for memory only.
    """

    def __init__(self, memory: CacheStore, disk: CacheStore | None = None) -> None:
        self.memory = memory
        self.disk = disk
        self.hits = 0
        self.misses = 0

    @property
    def max_entry_bytes(self) -> int:
        """The larger tier's limit: an entry one tier keeps is worth offering."""
        disk = self.disk.max_entry_bytes if self.disk is not None else 0
        return max(self.memory.max_entry_bytes, disk)

    async def get(self, key: str, *, timestamps: bool = False) -> CachedAudio | None:
        """Return the entry from memory, else from disk (promoting it), else ``None``.

        Args:
            key: a key from :func:`cache_key`.
            timestamps: only an entry with timestamps will do.

        Returns:
            The cached audio, or ``None`` when neither tier has it.
        """
        value = await self.memory.get(key, timestamps=timestamps)
        if value is None and self.disk is not None:
            value = await self.disk.get(key, timestamps=timestamps)
            if value is not None:
                await self.memory.put(key, value)
        if value is None:
            self.misses += 1
        else:
            self.hits += 1
        return value

    async def put(self, key: str, value: CachedAudio) -> None:
        """Store ``value`` in memory and on disk.

        Args:
            key: a key from :func:`cache_key`.
            value: the audio to keep.
        """
        await self.memory.put(key, value)
        if self.disk is not None:
            await self.disk.put(key, value)

    async def stats(self) -> CacheStats:
        """Return whole-cache hits and misses; evictions, bytes, items and budget summed over tiers."""
        tiers = [await self.memory.stats()]
        if self.disk is not None:
            tiers.append(await self.disk.stats())
        return CacheStats(
            hits=self.hits,
            misses=self.misses,
            evictions=sum(t.evictions for t in tiers),
            bytes=sum(t.bytes for t in tiers),
            items=sum(t.items for t in tiers),
            max_bytes=sum(t.max_bytes for t in tiers),
        )


@dataclass(frozen=True, slots=True)
class CacheError:
    """Published when a cache operation failed and was skipped (the request went on without the cache).

    Attributes:
        op: ``get``, ``put`` or ``stats``.
        error: the exception's type and message.
    """

    op: str
    error: str


class FailOpenCache:
    """A cache store whose failures cost a cache hit, never an answer.

    A ``get`` that raises is a miss, a ``put`` that raises is dropped, ``stats`` that raise give the
    last good counters. Each failure is handed to ``on_error`` (metrics count them) and logged once
    per burst: the first failure after a quiet ``log_every_s`` is logged with the count of those
    suppressed since the last line, so a full disk does not write one line per request.

    Args:
        store: the wrapped store.
        on_error: called with a :class:`CacheError` per failure.
        clock: monotonic time for the log throttle.
        log_every_s: at most one log line per this many seconds.
    """

    def __init__(
        self,
        store: CacheStore,
        on_error: Callable[[CacheError], None] | None = None,
        *,
        clock: Clock | None = None,
        log_every_s: float = 60.0,
    ) -> None:
        self.store = store
        self._on_error = on_error
        self._clock = clock or SystemClock()
        self._log_every_s = log_every_s
        self._logged_at: float | None = None
        self._suppressed = 0
        self._stats = CacheStats(0, 0, 0, 0, 0, 0)
        self.errors: dict[str, int] = {}

    @property
    def max_entry_bytes(self) -> int:
        """The store's limit (0, so nothing is collected for it, if the store cannot say)."""
        try:
            return self.store.max_entry_bytes
        except Exception:
            return 0

    def _failed(self, op: str, exc: Exception) -> None:
        self.errors[op] = self.errors.get(op, 0) + 1
        error = CacheError(op, f"{type(exc).__name__}: {exc}")
        if self._on_error is not None:
            self._on_error(error)
        now = self._clock.monotonic()
        if self._logged_at is not None and now - self._logged_at < self._log_every_s:
            self._suppressed += 1
            return
        more = f" ({self._suppressed} more failures since the last line)" if self._suppressed else ""
        log.warning("audio cache %s failed; going on without the cache: %s%s", op, error.error, more)
        self._logged_at, self._suppressed = now, 0

    async def get(self, key: str, *, timestamps: bool = False) -> CachedAudio | None:
        """Return the entry, or ``None`` on a miss or when the store failed."""
        try:
            return await self.store.get(key, timestamps=timestamps)
        except Exception as exc:
            self._failed("get", exc)
            return None

    async def put(self, key: str, value: CachedAudio) -> None:
        """Store the entry; a failure is counted and dropped."""
        try:
            await self.store.put(key, value)
        except Exception as exc:
            self._failed("put", exc)

    async def stats(self) -> CacheStats:
        """The store's counters, or the last good ones when it fails."""
        try:
            self._stats = await self.store.stats()
        except Exception as exc:
            self._failed("stats", exc)
        return self._stats

    async def close(self) -> None:
        """Close the store's connections if it has any (the Redis store); a failure is only logged."""
        close = getattr(self.store, "close", None)
        if close is None:
            return
        try:
            await close()
        except Exception as exc:
            log.warning("closing the audio cache failed: %s: %s", type(exc).__name__, exc)


@dataclass(frozen=True, slots=True)
class _Url:
    scheme: str
    path: str
    params: dict[str, int]


def _parse_url(url: str, allowed: dict[str, frozenset[str]]) -> _Url:
    """Split a cache URL; its query parameters must be known integers (the redis scheme's too)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in allowed:
        raise ValueError(
            f"unknown cache URL scheme {parts.scheme!r} in {url!r}; use one of {sorted(allowed)}"
        )
    params: dict[str, int] = {}
    for name, values in parse_qs(parts.query, keep_blank_values=True, strict_parsing=False).items():
        if name not in allowed[scheme]:
            raise ValueError(f"unknown parameter {name!r} in cache URL {url!r}")
        try:
            params[name] = int(values[-1])
        except ValueError as exc:
            raise ValueError(f"parameter {name!r} in cache URL {url!r} must be an integer") from exc
    return _Url(scheme=scheme, path=parts.netloc + parts.path, params=params)


def cache_from_url(
    url: str, *, clock: Clock | None = None, cooldown: Cooldown | None = None
) -> MemoryCache | DiskCache | TieredCache | RedisCache:
    """Build a cache store from a URL.

    - ``memory://?max_bytes=268435456``: a :class:`MemoryCache`.
    - ``disk:///var/cache/voxgate/audio?max_bytes=2147483648``: a :class:`DiskCache` over that directory.
    - ``tiered:///var/cache/voxgate/audio?memory_max_bytes=...&disk_max_bytes=...``: a
      :class:`TieredCache` of both.
    - ``redis://host:6379/0?max_bytes=16777216&ttl_s=0&timeout_ms=250&cooldown_ms=1000``: a
      :class:`~voxgate.audio.cache_redis.RedisCache` shared by every gateway (``rediss://`` for
      TLS). There ``max_bytes`` is the largest entry kept: the total is Redis's own ``maxmemory``.

    Omitted sizes take :data:`DEFAULT_MEMORY_MAX_BYTES` / :data:`DEFAULT_DISK_MAX_BYTES`. Use an
    absolute path (three slashes); ``memory://?max_bytes=0`` disables caching.

    Args:
        url: the store URL.
        clock: monotonic time for the Redis store's cool-down after a failure.
        cooldown: the Redis store's cool-down, shared with the limits when they use the same server.

    Returns:
        The store, not yet touching the disk or the network (a disk store scans its directory on
        first use, a Redis store connects on first use).

    Raises:
        ValueError: on an unknown scheme or parameter, a non-integer size, or a missing path.
        ImportError: for ``redis://`` without the redis client (``pip install 'voxgate[scale]'``).
    """
    from voxgate.audio.cache_disk import DiskCache  # here: cache_disk imports this module

    if urlsplit(url).scheme.lower() in ("redis", "rediss"):
        from voxgate.audio.cache_redis import redis_cache_from_url

        return redis_cache_from_url(url, clock=clock or SystemClock(), cooldown=cooldown)

    parsed = _parse_url(
        url,
        {
            "memory": frozenset({"max_bytes"}),
            "disk": frozenset({"max_bytes"}),
            "tiered": frozenset({"memory_max_bytes", "disk_max_bytes"}),
            "redis": frozenset(),  # handled above; listed for the error message
        },
    )
    if parsed.scheme == "memory":
        return MemoryCache(parsed.params.get("max_bytes", DEFAULT_MEMORY_MAX_BYTES))
    if not parsed.path:
        raise ValueError(f"cache URL {url!r} needs a directory, e.g. disk:///var/cache/voxgate")
    if parsed.scheme == "disk":
        return DiskCache(Path(parsed.path), parsed.params.get("max_bytes", DEFAULT_DISK_MAX_BYTES))
    return TieredCache(
        MemoryCache(parsed.params.get("memory_max_bytes", DEFAULT_MEMORY_MAX_BYTES)),
        DiskCache(Path(parsed.path), parsed.params.get("disk_max_bytes", DEFAULT_DISK_MAX_BYTES)),
    )
