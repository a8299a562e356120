"""Audio cache: key canonicalisation, memory LRU, disk tier, tiering, failing open, and the URL factory."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import struct
import subprocess
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from voxgate.api.metrics import Metrics
from voxgate.audio.cache import (
    DEFAULT_DISK_MAX_BYTES,
    DEFAULT_MEMORY_MAX_BYTES,
    CachedAudio,
    CacheError,
    CacheStats,
    CacheStore,
    FailOpenCache,
    MemoryCache,
    TieredCache,
    cache_from_url,
    cache_key,
)
from voxgate.audio.cache_disk import DiskCache, pack_entry, unpack_entry
from voxgate.requests import SynthesisRequest
from voxgate.service import Synthesizer
from voxgate.settings import Settings
from voxgate.testing import FakeClock, with_synthesizer
from voxgate.types import AudioFormat

KEY_FIELDS: dict[str, Any] = {
    "normalized_text": "Hello world.",
    "voice": "en_joe",
    "speed": 1.0,
    "fmt": "mp3",
    "sample_rate": 22050,
    "engine": "piper",
    "model_version": "1.0",
}


def key(i: int) -> str:
    """A real cache key, distinct per ``i``."""
    return cache_key(**{**KEY_FIELDS, "normalized_text": f"sentence {i}"})


def audio(size: int, fill: bytes = b"a") -> CachedAudio:
    """An entry whose ``data`` has ``size`` bytes."""
    return CachedAudio(
        data=(fill * size)[:size],
        media_type="audio/mpeg",
        engine="piper",
        sample_rate=22050,
        duration_s=1.25,
        created_at=1_780_000_000.5,
    )


def entry_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.vxc"))


# --- keys -------------------------------------------------------------------------------------------------


def test_key_is_stable_sha256_hex():
    """The same fields always give the same 64-hex-digit key."""
    first = cache_key(**KEY_FIELDS)
    assert first == cache_key(**dict(reversed(list(KEY_FIELDS.items()))))
    assert len(first) == 64
    assert all(c in "0123456789abcdef" for c in first)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("normalized_text", "Hello world!"),
        ("voice", "en_jane"),
        ("speed", 1.25),
        ("speed", 1.001),
        ("fmt", "wav"),
        ("sample_rate", 24000),
        ("engine", "espeak"),
        ("model_version", "1.1"),
    ],
)
def test_key_changes_with_every_field(field, value):
    """Changing any one field changes the key."""
    assert cache_key(**{**KEY_FIELDS, field: value}) != cache_key(**KEY_FIELDS)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"normalized_text": "ab", "voice": "c"}, {"normalized_text": "a", "voice": "bc"}),
        ({"engine": "x", "model_version": "yz"}, {"engine": "xy", "model_version": "z"}),
        ({"voice": 'a","b'}, {"voice": "a", "fmt": "b"}),
    ],
)
def test_key_field_boundaries_are_unambiguous(a, b):
    """Moving characters across a field boundary gives a different key."""
    assert cache_key(**{**KEY_FIELDS, **a}) != cache_key(**{**KEY_FIELDS, **b})


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"speed": 1.0}, {"speed": 1.0001}),
        ({"speed": 0.0}, {"speed": -0.0}),
        ({"fmt": "mp3"}, {"fmt": AudioFormat.MP3}),
    ],
)
def test_key_canonicalises_equivalent_values(a, b):
    """Speeds equal to 3 decimals, and an AudioFormat vs its string, share a key."""
    assert cache_key(**{**KEY_FIELDS, **a}) == cache_key(**{**KEY_FIELDS, **b})


def test_key_rejects_non_finite_speed():
    """A NaN speed cannot be canonicalised and is refused."""
    with pytest.raises(ValueError, match="finite"):
        cache_key(**{**KEY_FIELDS, "speed": float("nan")})


# --- behaviour every store shares -------------------------------------------------------------------------

STORES: dict[str, Callable[[Path], CacheStore]] = {
    "memory": lambda _: MemoryCache(10_000),
    "disk": lambda root: DiskCache(root, 10_000),
    "tiered": lambda root: TieredCache(MemoryCache(10_000), DiskCache(root, 10_000)),
    "tiered-memory-only": lambda _: TieredCache(MemoryCache(10_000), None),
}


@pytest.fixture(params=[*STORES, "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], CacheStore]:
    """A maker of a fresh store of each kind with a 10 kB budget (Redis: a 10 kB largest entry)."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return lambda: cache_from_url(f"{url}?max_bytes=10000&timeout_ms=5000")  # semantics, not timing
    return lambda: STORES[request.param](tmp_path)


async def closed(store: CacheStore) -> None:
    """Close a store that holds connections (Redis)."""
    close = getattr(store, "close", None)
    if close is not None:
        await close()


def test_store_round_trip_and_counters(make_store):
    """A stored entry comes back equal; hits, misses and items are counted."""

    async def body() -> None:
        store = make_store()
        try:
            assert await store.get(key(1)) is None
            await store.put(key(1), audio(100, b"xy"))
            assert await store.get(key(1)) == audio(100, b"xy")
            await store.put(key(1), audio(50, b"z"))  # replace
            assert await store.get(key(1)) == audio(50, b"z")
            stats = await store.stats()
            assert (stats.hits, stats.misses, stats.evictions) == (2, 1, 0)
            assert stats.items >= 1
            assert stats.bytes >= 50
        finally:
            await closed(store)

    asyncio.run(body())


def test_store_keeps_who_spoke(make_store):
    """The voices that spoke an answer come back with it from every store."""

    async def body() -> None:
        store = make_store()
        try:
            spoken = replace(audio(100, b"xy"), spoken_by=("joe@piper", "espeak-en-us@espeak"))
            await store.put(key(2), spoken)
            assert await store.get(key(2)) == spoken
        finally:
            await closed(store)

    asyncio.run(body())


def test_store_skips_entries_over_its_largest_entry(make_store):
    """Every store says its largest entry; one byte more is not stored, and nothing else is lost."""

    async def body() -> None:
        store = make_store()
        try:
            limit = store.max_entry_bytes
            assert limit > 0
            await store.put(key(1), audio(limit // 2))
            await store.put(key(2), audio(limit + 1))
            assert await store.get(key(1)) == audio(limit // 2)
            assert await store.get(key(2)) is None
        finally:
            await closed(store)

    asyncio.run(body())


def test_stores_of_many_entries_keep_each_apart(make_store):
    """Many keys written concurrently each read back their own bytes."""

    async def body() -> None:
        store = make_store()
        try:
            await asyncio.gather(*(store.put(key(i), audio(200, bytes([65 + i]))) for i in range(10)))
            got = await asyncio.gather(*(store.get(key(i)) for i in range(10)))
            assert got == [audio(200, bytes([65 + i])) for i in range(10)]
        finally:
            await closed(store)

    asyncio.run(body())


def timed(size: int, words: bytes = b'{"words":[["Hi",0.1,0.4]]}') -> CachedAudio:
    """An entry with ``size`` bytes of audio and packed timestamps (opaque to the stores)."""
    return replace(audio(size), timestamps=words)


def test_store_keeps_timestamps_and_a_lookup_that_needs_them_misses_an_entry_without(make_store):
    """Timestamps come back from every store; a timestamped lookup misses an entry without them, a
    plain one hits both."""

    async def body() -> None:
        store = make_store()
        try:
            await store.put(key(3), timed(100))
            await store.put(key(4), audio(100))
            assert await store.get(key(3), timestamps=True) == timed(100)
            assert await store.get(key(3)) == timed(100)
            assert await store.get(key(4), timestamps=True) is None
            assert await store.get(key(4)) == audio(100)
            stats = await store.stats()
            assert (stats.hits, stats.misses) == (3, 1)
            await store.put(key(4), timed(100))  # the miss is answered and stored with its words
            assert await store.get(key(4), timestamps=True) == timed(100)
        finally:
            await closed(store)

    asyncio.run(body())


def test_store_counts_timestamps_in_an_entrys_size(make_store):
    """An entry whose audio fits the largest entry but whose audio and timestamps do not is not stored."""

    async def body() -> None:
        store = make_store()
        try:
            limit = store.max_entry_bytes
            await store.put(key(5), timed(limit - 10, b"w" * 20))
            assert await store.get(key(5)) is None
            await store.put(key(6), timed(limit // 2, b"w" * 20))
            assert await store.get(key(6)) == timed(limit // 2, b"w" * 20)
        finally:
            await closed(store)

    asyncio.run(body())


# --- memory -----------------------------------------------------------------------------------------------


def test_memory_budget_counts_timestamps():
    """The memory budget holds audio and timestamps: bytes count both, and eviction makes room for both."""

    async def body() -> None:
        cache = MemoryCache(1000)
        await cache.put(key(1), timed(400, b"w" * 100))
        await cache.put(key(2), timed(400, b"w" * 50))
        assert (await cache.stats()).bytes == 950
        await cache.put(key(1), timed(400, b"w" * 10))  # replaced: the old timestamps no longer count
        assert (await cache.stats()).bytes == 860
        await cache.put(key(3), timed(100, b"w" * 100))  # 1060 > 1000: the least recently used goes
        stats = await cache.stats()
        assert (stats.bytes, stats.items, stats.evictions) == (610, 2, 1)
        assert await cache.get(key(2)) is None

    asyncio.run(body())


def test_memory_evicts_least_recently_used_within_byte_budget():
    """Past the byte budget the least recently *used* entry goes first, and is counted."""

    async def body() -> None:
        cache = MemoryCache(max_bytes=30)
        for i in (1, 2, 3):
            await cache.put(key(i), audio(10))
        assert await cache.get(key(1)) is not None  # 1 is now newer than 2
        await cache.put(key(4), audio(10))
        assert await cache.get(key(2)) is None
        for i in (1, 3, 4):
            assert await cache.get(key(i)) is not None
        stats = await cache.stats()
        assert (stats.evictions, stats.bytes, stats.items, stats.max_bytes) == (1, 30, 3, 30)

        await cache.put(key(5), audio(25))  # needs three evictions: 1, 3, 4 are 30 bytes
        stats = await cache.stats()
        assert (stats.evictions, stats.bytes, stats.items) == (4, 25, 1)

    asyncio.run(body())


def test_memory_replacing_a_key_does_not_double_count_bytes():
    """Putting a key again replaces its bytes instead of adding to them."""

    async def body() -> None:
        cache = MemoryCache(max_bytes=100)
        await cache.put(key(1), audio(60))
        await cache.put(key(1), audio(70))
        stats = await cache.stats()
        assert (stats.bytes, stats.items, stats.evictions) == (70, 1, 0)

    asyncio.run(body())


@pytest.mark.parametrize(("size", "stored"), [(100, True), (101, False)])
def test_memory_item_larger_than_budget_is_not_stored(size, stored):
    """An entry that fits exactly is kept; a larger one is skipped without evicting anything."""

    async def body() -> None:
        cache = MemoryCache(max_bytes=100)
        await cache.put(key(1), audio(size))
        assert (await cache.get(key(1)) is not None) is stored
        stats = await cache.stats()
        assert (stats.items, stats.evictions) == (int(stored), 0)

    asyncio.run(body())


def test_negative_budget_is_refused(tmp_path):
    """A negative byte budget is a configuration error."""
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCache(-1)
    with pytest.raises(ValueError, match="max_bytes"):
        DiskCache(tmp_path, -1)


# --- disk -------------------------------------------------------------------------------------------------


def test_disk_survives_a_new_instance(tmp_path):
    """Entries written by one DiskCache are read back by a new one over the same directory."""

    async def body() -> None:
        first = DiskCache(tmp_path, 100_000)
        for i in range(3):
            await first.put(key(i), audio(1000 + i, bytes([65 + i])))
        before = await first.stats()

        second = DiskCache(tmp_path, 100_000)
        after = await second.stats()
        assert (after.items, after.bytes) == (before.items, before.bytes) == (3, before.bytes)
        for i in range(3):
            assert await second.get(key(i)) == audio(1000 + i, bytes([65 + i]))

    asyncio.run(body())


def test_disk_respects_byte_budget_and_lru_across_restart(tmp_path):
    """The files on disk never exceed the budget, and recency survives a restart."""

    async def body() -> None:
        probe = DiskCache(tmp_path / "probe", 100_000)
        await probe.put(key(0), audio(1000))
        one = (await probe.stats()).bytes  # header + data of one entry
        budget = 2 * one + one // 2  # room for two entries, not three

        cache = DiskCache(tmp_path / "c", budget)
        await cache.put(key(1), audio(1000))
        await cache.put(key(2), audio(1000))
        assert await cache.get(key(1)) is not None  # 2 is now the least recently used
        await cache.put(key(3), audio(1000))
        stats = await cache.stats()
        assert (stats.items, stats.evictions) == (2, 1)
        on_disk = entry_files(tmp_path / "c")
        assert stats.bytes == sum(p.stat().st_size for p in on_disk) <= budget
        assert {p.stem for p in on_disk} == {key(1), key(3)}

        assert await cache.get(key(1)) is not None  # 3 is now the least recently used
        restarted = DiskCache(tmp_path / "c", budget)
        await restarted.put(key(4), audio(1000))
        assert {p.stem for p in entry_files(tmp_path / "c")} == {key(1), key(4)}

        smaller = DiskCache(tmp_path / "c", one)  # a lowered budget is enforced on start
        stats = await smaller.stats()
        assert (stats.items, stats.evictions) == (1, 1)
        assert [p.stem for p in entry_files(tmp_path / "c")] == [key(4)]

    asyncio.run(body())


def test_disk_concurrent_first_use_and_writes_stay_consistent(tmp_path):
    """Many puts racing the first directory scan and each other leave index and files in agreement."""

    async def body() -> None:
        seed = DiskCache(tmp_path, 100_000)
        await seed.put(key(100), audio(1000))
        cache = DiskCache(tmp_path, 8_000)  # room for about six 1000-byte entries
        await asyncio.gather(*(cache.put(key(i), audio(1000, bytes([i]))) for i in range(20)))
        stats = await cache.stats()
        files = entry_files(tmp_path)
        assert stats.items == len(files) < 20
        assert stats.bytes == sum(p.stat().st_size for p in files) <= 8_000
        assert stats.evictions == 21 - stats.items
        values = await asyncio.gather(*(cache.get(p.stem) for p in files))
        assert all(v is not None and len(v.data) == 1000 for v in values)
        assert list(tmp_path.rglob("*.tmp")) == []

    asyncio.run(body())


def test_disk_item_larger_than_budget_is_not_stored(tmp_path):
    """An entry whose file would exceed the whole budget is not written."""

    async def body() -> None:
        cache = DiskCache(tmp_path, 500)
        await cache.put(key(1), audio(600))
        assert await cache.get(key(1)) is None
        assert entry_files(tmp_path) == []
        assert list(tmp_path.rglob("*.tmp")) == []

    asyncio.run(body())


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1])


def flip_data_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))


def garbage(path: Path) -> None:
    path.write_bytes(b"not a cache entry at all")


def header_only(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:6])


CORRUPTIONS = [truncate, flip_data_byte, garbage, header_only]


@pytest.mark.parametrize("corrupt", CORRUPTIONS)
@pytest.mark.parametrize("when", ["at-start", "at-read"])
def test_disk_corrupt_file_is_a_miss_and_removed(tmp_path, corrupt, when):
    """A damaged entry, found on start or on read, is a miss and its file is deleted."""

    async def body() -> None:
        cache = DiskCache(tmp_path, 100_000)
        await cache.put(key(1), audio(500))
        await cache.put(key(2), audio(500))
        bad = next(p for p in entry_files(tmp_path) if p.stem == key(1))
        corrupt(bad)
        if when == "at-start":
            cache = DiskCache(tmp_path, 100_000)
        assert await cache.get(key(1)) is None
        assert not bad.exists()
        assert await cache.get(key(2)) == audio(500)
        stats = await cache.stats()
        assert (stats.items, stats.hits, stats.misses) == (1, 1, 1)
        assert stats.bytes == entry_files(tmp_path)[0].stat().st_size

    asyncio.run(body())


def test_disk_knows_after_a_restart_which_entries_have_timestamps(tmp_path):
    """A new DiskCache over the same directory serves timestamped entries whole and misses the others."""

    async def body() -> None:
        first = DiskCache(tmp_path, 100_000)
        await first.put(key(1), timed(500))
        await first.put(key(2), audio(500))
        second = DiskCache(tmp_path, 100_000)
        assert await second.get(key(1), timestamps=True) == timed(500)
        assert await second.get(key(2), timestamps=True) is None
        assert await second.get(key(2)) == audio(500)
        stats = await second.stats()
        assert stats.bytes == sum(p.stat().st_size for p in entry_files(tmp_path))

    asyncio.run(body())


def test_disk_damaged_timestamps_are_a_miss_and_removed(tmp_path):
    """A flipped byte in an entry's timestamps (after its audio) fails their CRC: a miss, the file deleted."""

    async def body() -> None:
        cache = DiskCache(tmp_path, 100_000)
        await cache.put(key(1), timed(500))
        (path,) = entry_files(tmp_path)
        flip_data_byte(path)  # the last byte: inside the timestamps
        assert await cache.get(key(1)) is None
        assert not path.exists()

    asyncio.run(body())


def test_an_entry_from_before_timestamps_reads_as_one_without():
    """A blob in the layout written before timestamps existed (as Redis and disk may hold) still reads."""
    data = b"old audio"
    header = {
        "key": key(1),
        "media_type": "audio/mpeg",
        "engine": "piper",
        "sample_rate": 22050,
        "duration_s": 1.25,
        "created_at": 1_780_000_000.5,
        "spoken_by": ["joe@piper"],
        "size": len(data),
        "crc32": zlib.crc32(data),
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    blob = b"VXC1" + struct.pack(">I", len(raw)) + raw + data
    entry = unpack_entry(key(1), blob)
    assert entry == replace(audio(0), data=data, spoken_by=("joe@piper",))
    assert entry is not None
    assert entry.timestamps is None
    assert pack_entry(key(1), entry) == blob  # an entry without timestamps is still written so


def test_disk_entry_under_another_key_is_rejected(tmp_path):
    """A valid file moved to another key's path is not served for that key."""

    async def body() -> None:
        cache = DiskCache(tmp_path, 100_000)
        await cache.put(key(1), audio(100))
        src = entry_files(tmp_path)[0]
        dst = tmp_path / key(2)[:2] / f"{key(2)}.vxc"
        dst.parent.mkdir(exist_ok=True)
        dst.write_bytes(src.read_bytes())
        restarted = DiskCache(tmp_path, 100_000)
        assert await restarted.get(key(2)) is None
        assert not dst.exists()
        assert await restarted.get(key(1)) == audio(100)

    asyncio.run(body())


def test_disk_start_removes_leftover_temp_files_and_keeps_foreign_files(tmp_path):
    """Partial writes (temp files) are deleted on start; files voxgate did not write are left alone."""

    async def body() -> None:
        shard = tmp_path / "ab"
        shard.mkdir()
        leftover = shard / ".abcdef.x1y2.tmp"
        leftover.write_bytes(b"half an entry")
        foreign = tmp_path / "README"
        foreign.write_text("mine")
        stats = await DiskCache(tmp_path, 1000).stats()
        assert stats.items == 0
        assert not leftover.exists()
        assert foreign.exists()

    asyncio.run(body())


def test_disk_refuses_keys_that_are_not_digests(tmp_path):
    """Only cache_key digests are accepted, so a key can never name a path outside the directory."""

    async def body() -> None:
        cache = DiskCache(tmp_path, 1000)
        with pytest.raises(ValueError, match="hex"):
            await cache.get("../../etc/passwd")
        with pytest.raises(ValueError, match="hex"):
            await cache.put(key(1).upper(), audio(10))

    asyncio.run(body())


# --- failing open -----------------------------------------------------------------------------------------


def test_fail_open_turns_store_errors_into_misses_and_dropped_puts(tmp_path):
    """A disk tier that cannot work (its directory is a file): get misses, put is dropped, stats go on."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"x")
    errors: list[CacheError] = []

    async def body() -> None:
        raw = DiskCache(blocker / "audio", 100_000)
        with pytest.raises(OSError, match=r"Not a directory|File exists"):
            await raw.get(key(1))  # what Synthesizer.synthesize used to see
        cache = FailOpenCache(
            TieredCache(MemoryCache(10_000), DiskCache(blocker / "audio", 100_000)), errors.append
        )
        assert await cache.get(key(1)) is None
        await cache.put(key(1), audio(10))
        assert await cache.stats() == CacheStats(0, 0, 0, 0, 0, 0)
        assert cache.errors == {"get": 1, "put": 1, "stats": 1}

    asyncio.run(body())
    assert [e.op for e in errors] == ["get", "put", "stats"]
    assert all(e.error.startswith(("NotADirectoryError", "FileExistsError")) for e in errors), errors


class _Broken:
    """Fault injection: a store whose every operation raises ENOSPC."""

    async def get(self, key: str) -> CachedAudio | None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def put(self, key: str, value: CachedAudio) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def stats(self) -> CacheStats:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_fail_open_logs_once_per_burst(caplog):
    """Many failures within a minute make one log line; the next line, after the quiet, counts the rest."""
    clock = FakeClock()
    cache = FailOpenCache(_Broken(), clock=clock, log_every_s=60)

    async def body() -> None:
        for _ in range(50):
            await cache.get(key(1))
            clock.advance(0.1)
        clock.advance(60)
        await cache.put(key(1), audio(1))

    with caplog.at_level(logging.WARNING, logger="voxgate.audio.cache"):
        asyncio.run(body())
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "(49 more failures since the last line)" in lines[1]
    assert cache.errors == {"get": 50, "put": 1}


@pytest.fixture
def full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on a 1 MiB tmpfs (as root); else ENOSPC injected at ``os.fsync`` for big files under it."""
    root = tmp_path / "tiny"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], capture_output=True
    )
    if mounted.returncode != 0:
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(root)) and os.fstat(fd).st_size > 2**20:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    try:
        yield root
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_disk_drops_the_entry_and_the_cache_keeps_working(full_disk):
    """ENOSPC writing an entry: the put is dropped (counted), nothing is left over, smaller ones fit."""

    async def body() -> None:
        disk = DiskCache(full_disk / "audio", DEFAULT_DISK_MAX_BYTES)
        with pytest.raises(OSError, match="No space left"):
            await disk.put(key(1), audio(2 * 2**20))
        cache = FailOpenCache(disk)
        await cache.put(key(2), audio(2 * 2**20))
        assert cache.errors == {"put": 1}
        assert await cache.get(key(2)) is None
        await cache.put(key(3), audio(100_000))
        assert await cache.get(key(3)) == audio(100_000)
        assert not list((full_disk / "audio").glob("*/*.tmp"))

    asyncio.run(body())


def test_a_broken_cache_costs_the_cache_not_the_answer(tmp_path):
    """Synthesis through a disk cache that cannot work still answers; /metrics counts the errors."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_bytes(b"x")
    settings = Settings.load(
        data_dir=tmp_path / "data",
        engines={"kokoro": {"enabled": False}, "piper": {"enabled": False}, "espeak": {"workers": 1}},
        cache={"url": f"disk://{blocker}/audio"},
    )

    async def body(synth: Synthesizer) -> None:
        metrics = Metrics()
        metrics.attach(synth)
        result = await synth.synthesize(SynthesisRequest("The cache is only an optimisation."))
        assert result.audio.startswith(b"RIFF")
        exposition, _ = await metrics.render()
        text = exposition.decode()
        assert 'voxgate_cache_errors_total{op="get"} 1.0' in text
        assert 'voxgate_cache_errors_total{op="put"} 1.0' in text

    with_synthesizer(settings, body)


# --- tiered -----------------------------------------------------------------------------------------------


def test_tiered_disk_hit_is_promoted_into_memory(tmp_path):
    """A disk hit is copied into memory, so the next lookup does not touch the disk."""

    async def body() -> None:
        disk = DiskCache(tmp_path, 100_000)
        await disk.put(key(1), audio(100))
        memory = MemoryCache(10_000)
        tiered = TieredCache(memory, disk)

        assert await tiered.get(key(1)) == audio(100)
        assert (await memory.stats()).items == 1
        assert (await disk.stats()).hits == 1
        assert await tiered.get(key(1)) == audio(100)
        assert (await disk.stats()).hits == 1  # served by memory
        assert (await memory.stats()).hits == 1
        assert await tiered.get(key(2)) is None

        stats = await tiered.stats()
        assert (stats.hits, stats.misses) == (2, 1)
        assert stats.items == 2  # one copy per tier
        assert stats.max_bytes == 110_000

    asyncio.run(body())


def test_tiered_put_writes_both_tiers(tmp_path):
    """A put lands in memory and on disk, so it outlives the process."""

    async def body() -> None:
        tiered = TieredCache(MemoryCache(10_000), DiskCache(tmp_path, 100_000))
        await tiered.put(key(1), audio(100))
        fresh = TieredCache(MemoryCache(10_000), DiskCache(tmp_path, 100_000))
        assert await fresh.get(key(1)) == audio(100)

    asyncio.run(body())


# --- factory ----------------------------------------------------------------------------------------------


def test_cache_from_url_memory():
    """memory:// builds a MemoryCache with the given or default budget."""
    cache = cache_from_url("memory://?max_bytes=1234")
    assert isinstance(cache, MemoryCache)
    assert cache.max_bytes == 1234
    default = cache_from_url("memory://")
    assert isinstance(default, MemoryCache)
    assert default.max_bytes == DEFAULT_MEMORY_MAX_BYTES


def test_cache_from_url_disk_and_tiered(tmp_path):
    """disk:// and tiered:// build stores over the path, without touching the disk yet."""
    disk = cache_from_url(f"disk://{tmp_path}/a?max_bytes=99")
    assert isinstance(disk, DiskCache)
    assert (disk.root, disk.max_bytes) == (tmp_path / "a", 99)
    assert not (tmp_path / "a").exists()

    tiered = cache_from_url(f"tiered://{tmp_path}/b?memory_max_bytes=7")
    assert isinstance(tiered, TieredCache)
    assert isinstance(tiered.memory, MemoryCache)
    assert isinstance(tiered.disk, DiskCache)
    assert (tiered.memory.max_bytes, tiered.disk.max_bytes) == (7, DEFAULT_DISK_MAX_BYTES)
    assert tiered.disk.root == tmp_path / "b"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost/0?max_bytes=10&nope=1", "unknown parameter"),
        ("redis://localhost/0?ttl_s=soon", "integer"),
        ("rabbit://localhost", "redis"),
        ("memory://?size=10", "unknown parameter"),
        ("memory://?max_bytes=lots", "integer"),
        ("disk://?max_bytes=10", "directory"),
        ("tiered:///x?max_bytes=10", "unknown parameter"),
    ],
)
def test_cache_from_url_rejects_bad_urls(url, message):
    """Unknown schemes, unknown or non-integer parameters, and a missing path are errors."""
    with pytest.raises(ValueError, match=message):
        cache_from_url(url)
