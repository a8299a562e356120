"""Long-form jobs (audiobooks, podcasts): a SQLite store, a resumable runner, chapter and book assembly.

Entry point: :func:`open_jobs` builds a :class:`JobService` over a started Synthesizer.
"""

from __future__ import annotations

from voxgate.jobs.models import JobState, JobStateChanged, SegmentDone, SegmentState
from voxgate.jobs.plan import JobSpec
from voxgate.jobs.service import AudioFile, JobService, open_jobs

__all__ = [
    "AudioFile",
    "JobService",
    "JobSpec",
    "JobState",
    "JobStateChanged",
    "SegmentDone",
    "SegmentState",
    "open_jobs",
]
