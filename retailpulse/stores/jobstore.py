"""The job store interface: the handful of operations the actors need, and nothing more.

Two implementations live side by side (``MemoryJobStore``, ``SqliteJobStore``) and
pass one shared contract test suite. The interface is kept free of process-local
assumptions so that a shared database (PostgreSQL) can come later behind it:
ids are allocated by the store, writes are idempotent, and unfinished jobs are
handed out in batches (``claim_unfinished``) rather than all at once.

Every method blocks; a store object is used by one thread only (the
``JobStoreActor``'s), which is why none of them needs a lock.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from retailpulse.model import (
    AreaFigures,
    ImageOutcome,
    ImagePage,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    StoreError,
    StoreFigures,
    StoreInfo,
)
from retailpulse.submission import ImageSpec

__all__ = ["JobEnding", "JobStore", "JobStoreError", "OutcomeRecord"]


class JobStoreError(RuntimeError):
    """The job store cannot be opened or written (bad path, corrupt file, disk full)."""


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """Image ``index`` of job ``job_id`` ended with ``outcome``."""

    job_id: int
    index: int
    outcome: ImageOutcome


@dataclass(frozen=True, slots=True)
class JobEnding:
    """Job ``job_id`` reached its terminal ``state`` (its status's ``errors`` included)."""

    job_id: int
    state: JobState
    finished_at: float
    errors: tuple[StoreError, ...] = ()


class JobStore(Protocol):
    """Durable (or not) home of every job: its images, outcomes and final state.

    Counts of done and failed images are kept with the job and updated in the same
    write as the outcomes, so a status is one row read however large the job is.
    """

    def create_job(
        self,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
    ) -> int:
        """Store a new job with all its images in one transaction; return its new id.

        ``stores`` describes the job's stores as the store master had them at submit
        time (stores missing from it are unknown); it is kept with the job, so its
        results name the stores as they were, whatever the master says later.
        Ids grow and are never reused, not even after the job is purged or the store
        is reopened.
        """
        ...

    def write(self, outcomes: Sequence[OutcomeRecord], endings: Sequence[JobEnding]) -> None:
        """Record outcomes, then endings, atomically (all or nothing).

        Idempotent: an image keeps its first outcome and a job its first ending;
        repeats, and writes for jobs that are unknown, purged or already ended, are
        ignored.
        """
        ...

    def claim_unfinished(self, after: int, limit: int) -> list[JobOrder]:
        """Up to ``limit`` unfinished jobs with ids above ``after``, oldest first,
        each with the outcomes it already has (``JobOrder.preloaded``).

        Called at start to resume jobs, page by page. Single-process stores hand
        out every unfinished job; a shared store would mark them claimed here.
        """
        ...

    def job_status(self, job_id: int) -> JobStatus | None:
        """The job's status from its stored counts, or ``None`` if there is no such job."""
        ...

    def job_results(self, job_id: int) -> JobResults | None:
        """The job's status with every image and outcome, or ``None``."""
        ...

    def image_page(
        self, job_id: int, after: int, limit: int, *, failed_only: bool = False
    ) -> ImagePage | None:
        """Up to ``limit`` images with index ``after`` or above, in submission order
        (only those that failed, with ``failed_only``), or ``None`` for no such job.

        A keyset read on the image index: any page costs about the same however deep
        into a big job it is. The page's ``next`` is ``None`` when no image follows.
        """
        ...

    def store_figures(self, job_id: int) -> list[StoreFigures] | None:
        """Per store: images, measured, failed, perimeter figures; stores in order of
        first appearance. Computed by the store (one aggregate query), not by callers."""
        ...

    def area_figures(self, job_id: int) -> list[AreaFigures] | None:
        """The same per area code (unknown stores under ``None``), in order of first
        appearance."""
        ...

    def list_jobs(self, limit: int, before: int | None) -> list[JobStatus]:
        """Up to ``limit`` jobs with ids below ``before`` (any, if ``None``), newest first."""
        ...

    def purge(self, finished_before: float, limit: int) -> int:
        """Delete up to ``limit`` jobs that ended before ``finished_before``; return how many."""
        ...

    def close(self) -> None:
        """Release the store; later calls are errors."""
        ...
