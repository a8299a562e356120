"""Disk tier of the audio cache: one file per entry, bounded by bytes, rebuilt from the directory.

Layout: ``<root>/<key[:2]>/<key>.vxc``. Each file is::

    b"VXC1" | header length (uint32, big-endian) | header (UTF-8 JSON) | audio data | timestamps

The header holds the key, the :class:`~voxgate.audio.cache.CachedAudio` metadata, the data length
and its CRC-32, so a truncated, foreign or damaged file is recognised and removed. An entry with
word timestamps (packed by the Synthesizer, opaque here) has them after the audio, their length
and CRC-32 in the header (``timestamps_size``, ``timestamps_crc32``); an entry written before they
existed simply has none. (A voxgate older than that reads an entry with timestamps as damaged: a
miss.) Files are
written to a temporary file in the same directory, fsynced and moved into place with
``os.replace``: readers see a whole entry or none. Leftover temporary files are removed on start.

Recency is the file's modification time, set on write and on every hit from a counter that never
repeats, so the LRU order survives a restart. One process per directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import struct
import tempfile
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voxgate.audio.cache import DEFAULT_DISK_MAX_BYTES, CachedAudio, CacheStats

__all__ = ["DiskCache", "pack_entry", "unpack_entry"]

_MAGIC = b"VXC1"
_HEADER_LEN = struct.Struct(">I")
_PREFIX_LEN = len(_MAGIC) + _HEADER_LEN.size
_MAX_HEADER = 64 * 1024
_SUFFIX = ".vxc"
_TMP_SUFFIX = ".tmp"
_KEY_RE = re.compile(r"[0-9a-f]{64}")
_SHARD_RE = re.compile(r"[0-9a-f]{2}")


@dataclass(frozen=True, slots=True)
class _Found:
    key: str
    size: int
    stamp: int
    timed: bool


def _header_bytes(key: str, value: CachedAudio) -> bytes:
    header = {
        "key": key,
        "media_type": value.media_type,
        "engine": value.engine,
        "sample_rate": value.sample_rate,
        "duration_s": value.duration_s,
        "created_at": value.created_at,
        "spoken_by": list(value.spoken_by),
        "size": len(value.data),
        "crc32": zlib.crc32(value.data),
    }
    if value.timestamps is not None:
        header["timestamps_size"] = len(value.timestamps)
        header["timestamps_crc32"] = zlib.crc32(value.timestamps)
    raw = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _MAGIC + _HEADER_LEN.pack(len(raw)) + raw


def _parse_header(key: str, prefix: bytes, raw: bytes) -> dict[str, Any] | None:
    """Return the header if ``prefix``/``raw`` are a well-formed header for ``key``, else ``None``."""
    if len(prefix) != _PREFIX_LEN or prefix[: len(_MAGIC)] != _MAGIC:
        return None
    try:
        header = json.loads(raw.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        return None
    if not isinstance(header, dict) or header.get("key") != key:
        return None
    types = {"media_type": str, "engine": str, "sample_rate": int, "size": int, "crc32": int}
    if any(not isinstance(header.get(name), kind) for name, kind in types.items()):
        return None
    if any(not isinstance(header.get(name), int | float) for name in ("duration_s", "created_at")):
        return None
    if "timestamps_size" in header and not (
        isinstance(header["timestamps_size"], int) and isinstance(header.get("timestamps_crc32"), int)
    ):
        return None
    return header


def _body_size(header: dict[str, Any]) -> int:
    """Bytes after the header: the audio and the timestamps."""
    return int(header["size"]) + int(header.get("timestamps_size", 0))


def _read_header(path: Path, key: str) -> tuple[dict[str, Any], int] | None:
    """Return (header, header end offset) of ``path`` or ``None`` if it is not a valid entry header."""
    with path.open("rb") as f:
        prefix = f.read(_PREFIX_LEN)
        if len(prefix) != _PREFIX_LEN:
            return None
        (length,) = _HEADER_LEN.unpack(prefix[len(_MAGIC) :])
        if length > _MAX_HEADER:
            return None
        header = _parse_header(key, prefix, f.read(length))
    return None if header is None else (header, _PREFIX_LEN + length)


def _scan(root: Path) -> list[_Found]:
    """Create ``root`` if needed; drop temporary and damaged files; list entries oldest first."""
    root.mkdir(parents=True, exist_ok=True)
    found: list[_Found] = []
    for shard in root.iterdir():
        if not (shard.is_dir() and _SHARD_RE.fullmatch(shard.name)):
            continue
        for path in shard.iterdir():
            if path.name.endswith(_TMP_SUFFIX):
                path.unlink(missing_ok=True)
                continue
            key = path.name.removesuffix(_SUFFIX)
            if not (path.name.endswith(_SUFFIX) and _KEY_RE.fullmatch(key) and key.startswith(shard.name)):
                continue
            st = path.stat()
            parsed = _read_header(path, key)
            if parsed is None or parsed[1] + _body_size(parsed[0]) != st.st_size:
                path.unlink(missing_ok=True)
                continue
            timed = "timestamps_size" in parsed[0]
            found.append(_Found(key=key, size=st.st_size, stamp=st.st_mtime_ns, timed=timed))
    found.sort(key=lambda f: f.stamp)
    return found


def _write(path: Path, key: str, value: CachedAudio, max_bytes: int, stamp: int) -> int | None:
    """Write the entry atomically; return its file size, or ``None`` if it exceeds ``max_bytes``."""
    header = _header_bytes(key, value)
    size = len(header) + value.size
    if size > max_bytes:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:16]}.", suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(value.data)
            f.write(value.timestamps or b"")
            f.flush()
            os.fsync(f.fileno())
        os.utime(tmp_name, ns=(stamp, stamp))
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return size


def pack_entry(key: str, value: CachedAudio) -> bytes:
    """Serialise an entry as one blob (the file format above): the Redis store keeps the same bytes.

    Args:
        key: the entry's cache key (kept in the header, checked on unpacking).
        value: the audio and its metadata.

    Returns:
        ``b"VXC1"`` | header length | header | data | timestamps.
    """
    return _header_bytes(key, value) + value.data + (value.timestamps or b"")


def unpack_entry(key: str, blob: bytes) -> CachedAudio | None:
    """Parse a blob from :func:`pack_entry`; ``None`` if it is damaged, foreign or under another key.

    Args:
        key: the key it was looked up under.
        blob: the stored bytes.

    Returns:
        The entry, or ``None``.
    """
    length = _HEADER_LEN.unpack(blob[len(_MAGIC) : _PREFIX_LEN])[0] if len(blob) >= _PREFIX_LEN else 0
    end = _PREFIX_LEN + length
    header = _parse_header(key, blob[:_PREFIX_LEN], blob[_PREFIX_LEN:end]) if length <= _MAX_HEADER else None
    if header is None or len(blob) - end != _body_size(header):
        return None
    data = blob[end : end + header["size"]]
    timestamps = None
    if "timestamps_size" in header:
        timestamps = blob[end + header["size"] :]
        if zlib.crc32(timestamps) != header["timestamps_crc32"]:
            return None
    if zlib.crc32(data) != header["crc32"]:
        return None
    return CachedAudio(
        data=data,
        media_type=header["media_type"],
        engine=header["engine"],
        sample_rate=header["sample_rate"],
        duration_s=float(header["duration_s"]),
        created_at=float(header["created_at"]),
        spoken_by=_spoken_by(header.get("spoken_by")),
        timestamps=timestamps,
    )


def _spoken_by(value: Any) -> tuple[str, ...]:
    """The header's ``spoken_by`` (absent in entries written before it existed: empty)."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return ()


def _read(path: Path, key: str, stamp: int) -> CachedAudio | None:
    """Read and verify an entry and mark it used; remove it if damaged; ``None`` if absent or damaged."""
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    value = unpack_entry(key, blob)
    if value is None:
        path.unlink(missing_ok=True)
        return None
    with contextlib.suppress(FileNotFoundError):  # evicted meanwhile; the data we read is still good
        os.utime(path, ns=(stamp, stamp))
    return value


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


class DiskCache:
    """A directory of cached audio, least recently used entries evicted past ``max_bytes``.

    The index (key → file size, in LRU order) lives in memory and is rebuilt from the directory on
    first use, in a worker thread like every other file operation. Concurrent writes of the same
    key are last-writer-wins; an entry whose file vanished or is damaged counts as a miss and is
    dropped from the index.

    Args:
        root: the cache directory (created if missing).
        max_bytes: budget for the sum of file sizes; a single larger entry is not stored.

    Raises:
        ValueError: if ``max_bytes`` is negative.
    """

    def __init__(self, root: Path | str, max_bytes: int = DEFAULT_DISK_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.root = Path(root)
        self.max_bytes = max_bytes
        self._index: OrderedDict[str, int] = OrderedDict()
        self._timed: set[str] = set()  # keys whose entry has timestamps
        self._bytes = 0
        self._last_stamp = 0
        self._loaded = False
        self._loading: asyncio.Task[list[_Found]] | None = None
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    @property
    def max_entry_bytes(self) -> int:
        """The largest entry worth offering: the whole budget (the header is a few hundred bytes more)."""
        return self.max_bytes

    def _path(self, key: str) -> Path:
        if not _KEY_RE.fullmatch(key):
            raise ValueError(f"disk cache keys are 64 lowercase hex characters (from cache_key), got {key!r}")
        return self.root / key[:2] / f"{key}{_SUFFIX}"

    def _stamp(self) -> int:
        self._last_stamp = max(time.time_ns(), self._last_stamp + 1)
        return self._last_stamp

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        if self._loading is None:
            self._loading = asyncio.create_task(asyncio.to_thread(_scan, self.root))
        task = self._loading
        try:
            found = await asyncio.shield(task)
        except BaseException:
            if task.done() and self._loading is task:
                self._loading = None  # let the next call retry the scan
            raise
        if self._install(found):
            await self._evict_over_budget()

    def _install(self, found: list[_Found]) -> bool:
        """Fill the index from a scan unless a concurrent caller already did; return whether it did."""
        if self._loaded:
            return False
        self._loaded = True
        self._loading = None
        for entry in found:
            self._index[entry.key] = entry.size
            if entry.timed:
                self._timed.add(entry.key)
            self._bytes += entry.size
            self._last_stamp = max(self._last_stamp, entry.stamp)
        return True

    async def _evict_over_budget(self) -> None:
        victims: list[Path] = []
        while self._bytes > self.max_bytes:
            key, size = self._index.popitem(last=False)
            self._timed.discard(key)
            self._bytes -= size
            self.evictions += 1
            victims.append(self._path(key))
        if victims:
            await asyncio.to_thread(_unlink_all, victims)

    async def get(self, key: str, *, timestamps: bool = False) -> CachedAudio | None:
        """Return the entry for ``key`` and mark it most recently used, or ``None``.

        Args:
            key: a key from :func:`~voxgate.audio.cache.cache_key`.
            timestamps: only an entry with timestamps will do (one without is not even read).

        Returns:
            The cached audio, or ``None`` if absent or damaged (a damaged file is removed).

        Raises:
            ValueError: if ``key`` is not a ``cache_key`` digest.
            OSError: if the directory cannot be read.
        """
        path = self._path(key)
        await self._ensure_loaded()
        if key not in self._index or (timestamps and key not in self._timed):
            self.misses += 1
            return None
        value = await asyncio.to_thread(_read, path, key, self._stamp())
        if value is None:
            size = self._index.pop(key, None)
            self._timed.discard(key)
            if size is not None:
                self._bytes -= size
            self.misses += 1
            return None
        if timestamps and value.timestamps is None:  # replaced meanwhile by an entry without them
            self.misses += 1
            return None
        if key in self._index:
            self._index.move_to_end(key)
        self.hits += 1
        return value

    async def put(self, key: str, value: CachedAudio) -> None:
        """Write ``value`` atomically as most recently used, evicting old entries to fit.

        Args:
            key: a key from :func:`~voxgate.audio.cache.cache_key`.
            value: the audio to keep.

        Raises:
            ValueError: if ``key`` is not a ``cache_key`` digest.
            OSError: if the file cannot be written (disk full, permissions).
        """
        path = self._path(key)
        await self._ensure_loaded()
        size = await asyncio.to_thread(_write, path, key, value, self.max_bytes, self._stamp())
        if size is None:
            return
        old = self._index.pop(key, None)
        if old is not None:
            self._bytes -= old
        self._index[key] = size
        if value.timestamps is not None:
            self._timed.add(key)
        else:
            self._timed.discard(key)
        self._bytes += size
        await self._evict_over_budget()

    async def stats(self) -> CacheStats:
        """Return hits, misses, evictions, bytes of files held and item count.

        Raises:
            OSError: if the directory cannot be read on first use.
        """
        await self._ensure_loaded()
        return CacheStats(
            hits=self.hits,
            misses=self.misses,
            evictions=self.evictions,
            bytes=self._bytes,
            items=len(self._index),
            max_bytes=self.max_bytes,
        )
