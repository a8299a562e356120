"""Where a job's audio lives on disk, and writing it so that a crash never leaves a torn file.

Layout under the jobs audio directory::

    <job id>/segments/000042.wav     one segment (16-bit mono WAV at the voice's rate)
    <job id>/chapters/003.mp3        one chapter in the job's format
    <job id>/book.mp3                the whole book

Every file is written to a temporary name in the same directory, fsynced, renamed into place
with ``os.replace`` and the directory fsynced: readers see the old file or the whole new one.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from voxgate.audio.pcm import from_s16le
from voxgate.types import Audio

__all__ = ["WAV_HEADER_BYTES", "JobFiles", "atomic_writer", "read_wav", "wav_samples"]

WAV_HEADER_BYTES = 44
_TMP_SUFFIX = ".part"


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
