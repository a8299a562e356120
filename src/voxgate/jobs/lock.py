"""One process runs a data directory's jobs: an exclusive ``flock`` on ``<database>.lock``."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["JobsLock"]


class JobsLock:
    """An exclusive ``flock`` on ``<database>.lock``: one process runs a data directory's jobs.

    ``flock`` locks belong to an open file description, so a second open of the file, in another
    process or in this one, is refused while the first holds it; the kernel drops the lock when its
    holder exits, even by kill -9, so a crash never leaves a stale lock.

    Args:
        path: the lock file (created if missing).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting.

        Returns:
            Whether this object holds it now (False: another holder has it).
        """
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None
