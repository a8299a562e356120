"""Errors of the jobs layer, as subclasses of the voxgate error tree (``voxgate.errors``).

```
VoxgateError
├── InvalidInput
│   ├── TextTooLong
│   │   └── JobTooLarge(length, limit)        the job's text exceeds jobs.max_total_chars
│   ├── BadUpload(field, message)             the uploaded file is not usable UTF-8 text
│   ├── IdempotencyKeyReused(key)             the key was used for a different request
│   └── DiskBudgetExceeded(needed, left)      the job's estimated audio does not fit jobs.max_disk_bytes
├── Rejected(reason, retry_after)
│   ├── TooManyActiveJobs(owner, limit)       the client has jobs.max_active_per_owner active jobs
│   └── JobQuotaExceeded(needed, left)        the client's daily quota cannot cover the job
├── JobNotFound(job_id)                       no such job (or not the caller's)
│   └── JobNotReady(job_id, what, state)      the job's audio does not exist yet
└── JobsUnavailable                           another process runs this data directory's jobs
    └── JobsDisabled                          this gateway does not run jobs (jobs.enabled = false)
```
"""

from __future__ import annotations

from voxgate.errors import InvalidInput, Rejected, TextTooLong, VoxgateError

__all__ = [
    "BadUpload",
    "DiskBudgetExceeded",
    "IdempotencyKeyReused",
    "JobNotFound",
    "JobNotReady",
    "JobQuotaExceeded",
    "JobTooLarge",
    "JobsDisabled",
    "JobsUnavailable",
    "TooManyActiveJobs",
]


def _size(n: int) -> str:
    n = max(n, 0)
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


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


class DiskBudgetExceeded(InvalidInput):
    """The job's estimated audio does not fit in what is left of ``jobs.max_disk_bytes`` (or of the disk)."""

    def __init__(self, needed: int, left: int, field: str = "text", *, free_space: bool = False) -> None:
        where = (
            "free on the jobs' disk" if free_space else "left of the jobs' disk budget (jobs.max_disk_bytes)"
        )
        super().__init__(
            field,
            f"the job's audio needs about {_size(needed)} of disk but only {_size(left)} is {where}: "
            "delete finished jobs (DELETE /api/v1/jobs/{id}) or submit a shorter text",
        )
        self.needed = needed
        self.left = left


class TooManyActiveJobs(Rejected):
    """The client already has ``jobs.max_active_per_owner`` queued or running jobs."""

    def __init__(self, owner: str, limit: int, retry_after: float = 60.0) -> None:
        super().__init__("active_jobs", retry_after)
        self.args = (
            f"client {owner!r} already has {limit} active (queued or running) jobs, the most allowed "
            "(setting jobs.max_active_per_owner): wait for one to finish or cancel one",
        )
        self.owner = owner
        self.limit = limit


class JobQuotaExceeded(Rejected):
    """The client's remaining daily character quota cannot cover the whole job."""

    def __init__(self, needed: int, left: int, retry_after: float) -> None:
        super().__init__("quota", retry_after)
        self.args = (
            f"the job has {needed} characters but only {max(left, 0)} are left of today's quota "
            "(after this client's other active jobs); the quota resets at UTC midnight",
        )
        self.needed = needed
        self.left = left


class JobsUnavailable(VoxgateError):  # noqa: N818 (domain name)
    """Another process holds this data directory's jobs lock, so this one does not run jobs."""

    def __init__(self, lock: str) -> None:
        super().__init__(
            f"jobs are run by another voxgate process on the same data directory (it holds {lock}); "
            "submit and cancel jobs there"
        )
        self.lock = lock


class JobsDisabled(JobsUnavailable):
    """This gateway runs no jobs (``jobs.enabled = false``): one other gateway of the fleet does."""

    def __init__(self) -> None:
        VoxgateError.__init__(
            self,
            "this voxgate gateway does not run jobs (jobs.enabled = false); "
            "send /api/v1/jobs requests to the gateway that does",
        )
        self.lock = ""
