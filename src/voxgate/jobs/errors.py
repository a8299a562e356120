"""Errors of the jobs layer, as subclasses of the voxgate error tree (``voxgate.errors``).

```
VoxgateError
├── InvalidInput
│   ├── TextTooLong
│   │   └── JobTooLarge(length, limit)        the job's text exceeds jobs.max_total_chars
│   ├── BadUpload(field, message)             the uploaded file is not usable UTF-8 text
│   └── IdempotencyKeyReused(key)             the key was used for a different request
└── JobNotFound(job_id)                       no such job (or not the caller's)
    └── JobNotReady(job_id, what, state)      the job's audio does not exist yet
```
"""

from __future__ import annotations

from voxgate.errors import InvalidInput, TextTooLong, VoxgateError

__all__ = ["BadUpload", "IdempotencyKeyReused", "JobNotFound", "JobNotReady", "JobTooLarge"]


class JobTooLarge(TextTooLong):
    """The job's total text is longer than ``jobs.max_total_chars``."""

    def __init__(self, length: int, limit: int, field: str = "text", *, in_bytes: bool = False) -> None:
        super().__init__(length, limit, field)
        size = f"{length} bytes, more than 4 per allowed character" if in_bytes else f"{length} characters"
        self.message = (
            f"the job has {size}; a job may have at most {limit} characters "
            "(setting jobs.max_total_chars): split the book into several jobs"
        )
        self.args = (self.message,)


class BadUpload(InvalidInput):
    """The uploaded file cannot be read as a UTF-8 text or Markdown file."""


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` already names a job created from a different request."""

    def __init__(self, key: str) -> None:
        super().__init__(
            "Idempotency-Key",
            f"idempotency key {key!r} was already used for a different job request; use a new key",
        )
        self.key = key


class JobNotFound(VoxgateError):  # noqa: N818 (domain name)
    """No job has this id, or it belongs to another client."""

    def __init__(self, job_id: str, message: str | None = None) -> None:
        super().__init__(message or f"no job {job_id!r}")
        self.job_id = job_id


class JobNotReady(JobNotFound):
    """The audio asked for has not been rendered (yet, or ever: the job failed or was cancelled)."""

    def __init__(self, job_id: str, what: str, state: str) -> None:
        super().__init__(job_id, f"{what} of job {job_id!r} is not ready: the job is {state}")
        self.what = what
        self.state = state
