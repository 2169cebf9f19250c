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
    DeliveryState,
    ImageOutcome,
    ImagePage,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    StoreError,
    StoreFigures,
    StoreInfo,
    WebhookState,
)
from retailpulse.submission import ImageSpec

__all__ = [
    "Creation",
    "Delivery",
    "DeliveryAttempt",
    "IdempotencyClaim",
    "JobEnding",
    "JobMeta",
    "JobStore",
    "JobStoreError",
    "OutcomeRecord",
]


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


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    """A submit made with ``Idempotency-Key: key`` by API key ``scope`` ("" when the
    service has no keys), whose body hashes to ``fingerprint``. A claim recorded
    before ``not_before`` has expired and no longer counts."""

    scope: str
    key: str
    fingerprint: str
    not_before: float


@dataclass(frozen=True, slots=True)
class Creation:
    """What ``create_job_once`` did: ``replayed`` means ``job_id`` is an earlier job
    made with the same claim; ``conflict`` that the key was used with another body
    (``job_id`` is then that earlier job, which the caller must not reveal)."""

    job_id: int
    replayed: bool = False
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class JobMeta:
    """Who submitted a job (``owner``: an API key's name, ``None`` when open), how
    many times it has run, and its webhook delivery (``None``: no callback)."""

    owner: str | None
    attempts: int
    webhook: WebhookState | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """A webhook to send: job ``job_id``'s final ``status`` to ``url``, as message
    ``webhook_id`` (the same on every attempt); ``attempts`` made so far; the
    retry schedule counts from ``ended_at``."""

    job_id: int
    webhook_id: str
    url: str
    attempts: int
    ended_at: float
    status: JobStatus


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """The result of one attempt at ``webhook_id``: its new ``state``, the attempts
    made, the last error, and when to try again (``next_at``; ``None`` when done)."""

    job_id: int
    webhook_id: str
    state: DeliveryState
    attempts: int
    last_error: str | None
    next_at: float | None


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
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> int:
        """Store a new job with all its images in one transaction; return its new id.

        ``owner`` is the name of the API key that submitted it (only that key, and
        admin keys, may see it); ``callback_url`` gets its final status when it ends.

        ``stores`` describes the job's stores as the store master had them at submit
        time (stores missing from it are unknown); it is kept with the job, so its
        results name the stores as they were, whatever the master says later.
        Ids grow and are never reused, not even after the job is purged or the store
        is reopened.
        """
        ...

    def create_job_once(
        self,
        claim: IdempotencyClaim,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> Creation:
        """``create_job`` unless ``claim`` (scope and key) was made before and has not
        expired: then nothing is stored and the earlier job's id comes back, as a
        replay if the fingerprints match, as a conflict if they differ.

        Atomic: the claim is recorded in the same transaction as the job, on a unique
        (scope, key), so two submits racing with one key make one job (a shared
        database does this with ``INSERT ... ON CONFLICT``). A claim goes when its job
        is purged.
        """
        ...

    def job_meta(self, job_id: int) -> JobMeta | None:
        """The job's owner, attempts and webhook delivery, or ``None`` for no such job."""
        ...

    def reopen_failed(
        self, job_id: int, stores: Mapping[str, StoreInfo] | None = None
    ) -> JobOrder | JobStatus | None:
        """Make a failed job ``ongoing`` again for another attempt, in one transaction:
        its failed images lose their outcome (measured ones keep theirs), its counts,
        errors and webhook delivery are reset and its attempts grow by one. Returns the
        ``JobOrder`` to run it (measured images preloaded); the job's status, unchanged,
        if it is not ``failed``; ``None`` if there is no such job. ``stores`` adds the
        stores the store master now knows to the job's (names of unknown stores)."""
        ...

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        """Up to ``limit`` pending webhook deliveries due at ``now``, most overdue first.

        A job with a ``callback_url`` gets one when its ending is written (in the same
        transaction), so a delivery is never lost between the job's end and a crash.
        """
        ...

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        """Keep the result of a delivery attempt (ignored if the delivery is gone:
        the job was retried or purged since). A ``last_error`` of ``None`` keeps the
        one before: a delivery that succeeds on a retry still says why it had to."""
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

    def list_jobs(
        self, limit: int, before: int | None, *, owner: str | None = None
    ) -> list[JobStatus]:
        """Up to ``limit`` jobs with ids below ``before`` (any, if ``None``), newest
        first; only those of ``owner`` when it is given."""
        ...

    def purge(self, finished_before: float, limit: int) -> int:
        """Delete up to ``limit`` jobs that ended before ``finished_before``; return how many."""
        ...

    def close(self) -> None:
        """Release the store; later calls are errors."""
        ...
