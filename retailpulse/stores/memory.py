"""MemoryJobStore: the job store for tests and for ``start(data=None)``.

It keeps exactly what the SQLite store keeps, with the same rules, so the two
pass the same contract tests; it just forgets everything when the process ends.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from retailpulse.model import (
    ImageOutcome,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    Progress,
    StoreError,
)
from retailpulse.stores.jobstore import JobEnding, OutcomeRecord
from retailpulse.submission import ImageSpec

__all__ = ["MemoryJobStore"]


@dataclass(slots=True)
class _Job:
    job_id: int
    images: tuple[ImageSpec, ...]
    submitted_at: float
    outcomes: dict[int, ImageOutcome] = field(default_factory=dict)
    failed: int = 0
    state: JobState = JobState.ONGOING
    finished_at: float | None = None
    errors: tuple[StoreError, ...] = ()

    def status(self) -> JobStatus:
        progress = Progress(len(self.images), len(self.outcomes), self.failed)
        return JobStatus(
            self.job_id,
            self.state,
            progress,
            self.submitted_at,
            finished_at=self.finished_at,
            errors=self.errors,
        )


class MemoryJobStore:
    """A ``JobStore`` in a dict; ids still grow and are never reused."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._jobs: dict[int, _Job] = {}  # insertion order is id order

    def create_job(self, images: Sequence[ImageSpec], submitted_at: float) -> int:
        job_id = next(self._ids)
        self._jobs[job_id] = _Job(job_id, tuple(images), submitted_at)
        return job_id

    def write(self, outcomes: Sequence[OutcomeRecord], endings: Sequence[JobEnding]) -> None:
        for record in outcomes:
            job = self._jobs.get(record.job_id)
            if job is None or job.state is not JobState.ONGOING:
                continue
            if not 0 <= record.index < len(job.images) or record.index in job.outcomes:
                continue
            job.outcomes[record.index] = record.outcome
            if record.outcome.error is not None:
                job.failed += 1
        for ending in endings:
            job = self._jobs.get(ending.job_id)
            if job is None or job.state is not JobState.ONGOING:
                continue
            job.state = ending.state
            job.finished_at = ending.finished_at
            job.errors = ending.errors

    def claim_unfinished(self, after: int, limit: int) -> list[JobOrder]:
        orders: list[JobOrder] = []
        for job in self._jobs.values():
            if len(orders) >= limit:
                break
            if job.job_id > after and job.state is JobState.ONGOING:
                preloaded = tuple(sorted(job.outcomes.items()))
                orders.append(JobOrder(job.job_id, job.images, job.submitted_at, preloaded))
        return orders

    def job_status(self, job_id: int) -> JobStatus | None:
        job = self._jobs.get(job_id)
        return None if job is None else job.status()

    def job_results(self, job_id: int) -> JobResults | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        outcomes = tuple(job.outcomes.get(i) for i in range(len(job.images)))
        return JobResults(job.status(), job.images, outcomes)

    def list_jobs(self, limit: int, before: int | None) -> list[JobStatus]:
        found: list[JobStatus] = []
        for job_id in reversed(self._jobs):
            if len(found) >= limit:
                break
            if before is None or job_id < before:
                found.append(self._jobs[job_id].status())
        return found

    def purge(self, finished_before: float, limit: int) -> int:
        ended = [
            (job.finished_at, job.job_id)
            for job in self._jobs.values()
            if job.finished_at is not None and job.finished_at < finished_before
        ]
        expired = sorted(ended)[:limit]  # oldest first, as the SQLite store does
        for _, job_id in expired:
            del self._jobs[job_id]
        return len(expired)

    def close(self) -> None:
        """Nothing to release; the jobs go with the object."""
