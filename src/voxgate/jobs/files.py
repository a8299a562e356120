"""Where a job's audio lives on disk, and writing it so that a crash never leaves a torn file.

Layout under the jobs audio directory::

    <job id>/segments/000042.wav     one segment (16-bit mono WAV at the voice's rate)
    <job id>/chapters/003.mp3        one chapter in the job's format
    <job id>/book.mp3                the whole book

Every file is written to a temporary name in the same directory, fsynced, renamed into place
with ``os.replace`` and the directory fsynced: readers see the old file or the whole new one.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from voxgate.audio.formats import format_spec
from voxgate.audio.muxer import AV_CODECS
from voxgate.audio.pcm import from_s16le
from voxgate.jobs.models import NewJob
from voxgate.types import Audio

__all__ = [
    "SECONDS_PER_CHAR",
    "WAV_HEADER_BYTES",
    "JobFiles",
    "atomic_writer",
    "disk_full",
    "estimate_bytes",
    "read_wav",
    "wav_samples",
]

WAV_HEADER_BYTES = 44
_TMP_SUFFIX = ".part"

SECONDS_PER_CHAR = 0.08
"""Speech per character at speed 1.0, pauses included, on the generous side (piper and espeak speak
about 15 characters of English a second), for the disk estimate of a job."""
_FLAC_SHARE = 0.7
"""Upper bound of a FLAC file's size relative to 16-bit PCM (speech compresses to about half)."""


def estimate_bytes(job: NewJob) -> int:
    """The most disk a job will use at once: its segment WAVs, then chapter and book files beside them.

    A 2 M-character book (``jobs.max_total_chars``) in MP3 comes to about 9.2 GiB: 6.6 GiB of
    segment WAVs (removed once the job is done) and 1.3 GiB each for the chapters and the book.

    Args:
        job: the planned job.

    Returns:
        Bytes, from characters → seconds (``SECONDS_PER_CHAR`` / speed) → 16-bit samples at the
        job's rate for the segments, and the codec's bit rate for chapters and book.
    """
    seconds = job.chars * SECONDS_PER_CHAR / job.speed
    segments = sum(len(chapter.segments) for chapter in job.chapters)
    pcm = int(seconds * job.sample_rate * 2) + segments * WAV_HEADER_BYTES
    codec = AV_CODECS.get(job.format)
    if codec is None:  # WAV
        encoded = pcm
    elif codec.bit_rate:
        encoded = int(seconds * codec.bit_rate_for(format_spec(job.format).choose_rate(job.sample_rate)) / 8)
    else:
        encoded = int(pcm * _FLAC_SHARE)
    return pcm + 2 * encoded  # segments + chapters + book


def disk_full(exc: BaseException) -> bool:
    """Whether an error means the disk (or the database's disk) is full."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


class JobFiles:
    """Paths of one job's files.

    Args:
        root: the jobs audio directory.
        job_id: the job.
    """

    def __init__(self, root: Path, job_id: str) -> None:
        self.dir = root / job_id

    def segment(self, seq: int) -> Path:
        """The audio file of segment ``seq``."""
        return self.dir / "segments" / f"{seq:06d}.wav"

    def chapter(self, n: int, extension: str) -> Path:
        """The audio file of chapter ``n``."""
        return self.dir / "chapters" / f"{n:03d}.{extension}"

    def book(self, extension: str) -> Path:
        """The whole-book audio file."""
        return self.dir / f"book.{extension}"

    def remove_partial(self) -> int:
        """Delete temporary files a crash left behind.

        Returns:
            How many were removed.
        """
        if not self.dir.is_dir():
            return 0
        count = 0
        for path in self.dir.rglob(f"*{_TMP_SUFFIX}"):
            path.unlink(missing_ok=True)
            count += 1
        return count

    def remove_all(self) -> None:
        """Delete every file of the job."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def remove_segments(self) -> None:
        """Delete the segment files (once every chapter and the book are rendered)."""
        shutil.rmtree(self.dir / "segments", ignore_errors=True)

    def size(self) -> int:
        """Bytes of every file of the job now."""
        if not self.dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.dir.rglob("*") if p.is_file())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Open ``path`` for writing so that it appears complete or not at all.

    Args:
        path: the final file name (its directory is created if missing).

    Yields:
        A binary file to write; on normal exit it is fsynced and renamed to ``path``, on an
        exception it is deleted and ``path`` is left untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        with tmp.open("wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def wav_samples(data: bytes) -> tuple[int, int]:
    """Check a 16-bit mono WAV file as voxgate writes it and measure it.

    Args:
        data: the whole file.

    Returns:
        Its sample rate and number of samples.

    Raises:
        ValueError: the bytes are not such a file.
    """
    if len(data) < WAV_HEADER_BYTES or data[:4] != b"RIFF" or data[8:12] != b"WAVE" or data[36:40] != b"data":
        raise ValueError("not a canonical WAV file")
    channels, rate = struct.unpack("<HI", data[22:28])
    bits = struct.unpack("<H", data[34:36])[0]
    if channels != 1 or bits != 16 or (len(data) - WAV_HEADER_BYTES) % 2:
        raise ValueError("not 16-bit mono WAV")
    return int(rate), (len(data) - WAV_HEADER_BYTES) // 2


def read_wav(path: Path) -> tuple[Audio, int]:
    """Read a segment file.

    Args:
        path: a file written from a voxgate WAV answer.

    Returns:
        Its samples and sample rate.

    Raises:
        OSError: it cannot be read.
        ValueError: it is not a 16-bit mono WAV file.
    """
    data = path.read_bytes()
    rate, _ = wav_samples(data)
    return from_s16le(data[WAV_HEADER_BYTES:]), rate
