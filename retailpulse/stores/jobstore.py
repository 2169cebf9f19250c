"""The job store interface: the handful of operations the actors need, and nothing more.

Three implementations live side by side (``MemoryJobStore``, ``SqliteJobStore``,
``PostgresJobStore``) and pass one shared contract test suite. Nothing in the
interface assumes one process: ids are allocated by the store, writes are
idempotent, and work is handed out in leased chunks (the cluster protocol below),
so several service nodes can share one PostgreSQL database.

The cluster protocol. A job's images are split into chunks of ``CHUNK_SIZE`` when
it is stored. A node registers (``register_node``: a fresh id, never reused, so
a restarted node never mistakes a dead predecessor's leases for its own), claims
chunks for what its pipeline can start soon (``claim_chunks``, fair across jobs),
renews its leases while it works (``heartbeat``, which also names the jobs that
ended meanwhile, a cancel included), and records outcomes (``record_outcomes``).
A chunk whose lease expired (its node died) is claimed again by anyone; images
that already have an outcome are skipped. The transaction that records a job's
last outcome also decides its final status, so it is decided exactly once,
whichever node records it.

Every method blocks; a store object is used by one thread only (the
``JobStoreActor``'s), which is why none of them needs a lock.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
    summarize_failures,
)
from retailpulse.submission import ImageSpec

__all__ = [
    "CHUNK_SIZE",
    "RENEW_WITHIN",
    "Chunk",
    "Creation",
    "Delivery",
    "DeliveryAttempt",
    "Heartbeat",
    "IdempotencyClaim",
    "JobMeta",
    "JobStore",
    "JobStoreError",
    "JobStoreUnavailableError",
    "NodeInfo",
    "OutcomeRecord",
    "decide_ending",
]


CHUNK_SIZE = 64
"""Images per chunk. Small enough that a 1,600-image job spreads over 25 chunks (so
over every node of a small cluster) and that a dead node's chunk costs at most 64
downloads to redo; large enough that claims, leases and their rows stay about 1.5%
of the image rows."""

RENEW_WITHIN = 2 / 3
"""A heartbeat rewrites only leases with less than this share of ``lease_s`` left:
a node may beat every second (cheap reads) while each lease row is rewritten only
every third of a lease, which keeps dead rows (PostgreSQL: table bloat) down."""


class JobStoreError(RuntimeError):
    """The job store cannot be opened or written (bad path, corrupt file, disk full)."""


class JobStoreUnavailableError(JobStoreError):
    """The database cannot be reached just now (restart, dropped connection).

    Transient, unlike its parent: the caller keeps what it holds, retries with
    backoff, and answers clients 503 with ``Retry-After`` meanwhile.
    """


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """Image ``index`` of job ``job_id`` ended with ``outcome``."""

    job_id: int
    index: int
    outcome: ImageOutcome


@dataclass(frozen=True, slots=True)
class Chunk:
    """Images ``first`` .. ``first + len(images) - 1`` of job ``job_id``, leased to a node.

    ``done`` holds the indexes that already have an outcome (recorded by a node
    that held the chunk before): they are not processed again. ``stores`` are the
    known stores of the job (as the store master had them at submit time); an
    image of any other store fails without a download.
    """

    job_id: int
    number: int
    first: int
    images: tuple[ImageSpec, ...]
    submitted_at: float
    done: frozenset[int] = frozenset()
    stores: Mapping[str, StoreInfo] = field(default_factory=dict)

    def todo(self) -> list[tuple[int, ImageSpec]]:
        """The images still without an outcome, as ``(index, spec)``, in order."""
        return [
            (self.first + n, spec)
            for n, spec in enumerate(self.images)
            if self.first + n not in self.done
        ]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a node learns when it renews its leases.

    ``ended`` are the jobs of chunks it held that are no longer ongoing (cancelled,
    or finished by another node): it drops their work, their leases are gone.
    ``held`` are the ``(job_id, number)`` chunks it still holds: a chunk it works
    on that is missing was taken over after its lease ran out (the node stalled
    past it), and its images left are another node's now.
    """

    renewed: int
    ended: frozenset[int] = frozenset()
    held: frozenset[tuple[int, int]] = frozenset()


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """One registered service node, as ``/healthz`` lists it."""

    node_id: int
    name: str
    gpu_slots: int
    started_at: float
    last_heartbeat: float


def decide_ending(
    stores: Iterable[tuple[str, int]],
    reasons: Mapping[str, Sequence[str]],
) -> tuple[JobState, tuple[StoreError, ...]]:
    """The final state of a job whose every image has an outcome.

    ``stores`` are ``(store_id, images)`` in order of first appearance and
    ``reasons`` the failed images' errors per store, in index order: enough to
    rebuild what ``summarize_failures`` needs without reading every image.
    """
    images: list[ImageSpec] = []
    outcomes: list[ImageOutcome | None] = []
    for store_id, count in stores:
        failed = reasons.get(store_id, ())
        spec = ImageSpec(store_id, "")
        images.extend([spec] * count)
        outcomes.extend(ImageOutcome.failed(r) for r in failed)
        outcomes.extend([None] * (count - len(failed)))
    errors = summarize_failures(images, outcomes)
    return (JobState.FAILED if errors else JobState.COMPLETED), errors


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
        ``JobOrder`` to run it (its chunks are claimable again, and a claim skips the
        measured images); the job's status, unchanged, if it is not ``failed``; ``None``
        if there is no such job. ``stores`` adds the stores the store master now knows
        to the job's (names of unknown stores)."""
        ...

    def claim_deliveries(self, now: float, limit: int, claim_s: float) -> list[Delivery]:
        """Claim up to ``limit`` pending webhook deliveries due at ``now``, most overdue
        first, for ``claim_s`` seconds: in one transaction each one's next attempt is
        pushed to ``now + claim_s``, so no claimer (another node on a shared database
        included) gets it again before the claim runs out, and concurrent claimers get
        disjoint deliveries (PostgreSQL: ``FOR UPDATE SKIP LOCKED``). The caller sends
        each and writes the outcome with ``record_delivery``; ``claim_s`` must outlast
        that, so that if the caller dies mid-send the delivery simply comes due again
        (at least once, with the same ``webhook_id``).

        A job with a ``callback_url`` gets one when its ending is written (in the same
        transaction), so a delivery is never lost between the job's end and a crash.
        """
        ...

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        """Keep the result of a delivery attempt: its state, attempts and real next
        attempt replace what the claim wrote. Ignored if the delivery is gone (the job
        was retried or purged since) or has moved on: no longer pending, or already
        at ``attempt.attempts`` (a claimer that outlived its claim must not undo what
        the claimer after it recorded). A ``last_error`` of ``None`` keeps the one
        before: a delivery that succeeds on a retry still says why it had to."""
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
        """Delete up to ``limit`` jobs that ended before ``finished_before``; return how many.

        Callers keep ``limit`` small and call again: each call is one short
        transaction, so a purge never holds long locks (nor, in PostgreSQL, leaves
        one huge DELETE's dead rows for vacuum at once).
        """
        ...

    # The cluster protocol (see the module docstring).

    def register_node(self, name: str, gpu_slots: int, now: float) -> int:
        """Register a starting node; return its new id (never reused)."""
        ...

    def claim_chunks(
        self, node: int, limit: int, lease_s: float, now: float, *, new_jobs_only: bool = False
    ) -> list[Chunk]:
        """Lease up to ``limit`` chunks of ongoing jobs to ``node`` for ``lease_s`` seconds.

        A chunk is claimable when no live lease holds it and some image of it has
        no outcome; an expired lease (``lease_until <= now``) is as good as none.
        Fair across jobs: chunks are taken in order of (chunks the job has had
        claimed so far + the chunk's rank among the job's claimable ones), then
        job id, so a small job's first chunk comes before a big job's next one.
        Concurrent claimers never get the same chunk (PostgreSQL: ``FOR UPDATE
        SKIP LOCKED``). A shared store times leases by its own clock, not ``now``.

        ``new_jobs_only``: only the first free chunk of jobs that no node has claimed
        a chunk of yet. A node whose pipeline is full asks for these, so a job
        submitted behind big ones starts at once instead of when a chunk ends.
        """
        ...

    def heartbeat(self, node: int, lease_s: float, now: float) -> Heartbeat:
        """Mark ``node`` alive, renew its leases to ``lease_s`` from now (those
        with under ``RENEW_WITHIN`` of it left; ``renewed`` counts them), and say
        which of its chunks' jobs have ended (their leases are dropped)."""
        ...

    def record_outcomes(self, outcomes: Sequence[OutcomeRecord], now: float) -> list[JobStatus]:
        """Record outcomes atomically, first one per image wins (repeats and
        outcomes of ended or unknown jobs are ignored); a chunk whose images all
        have outcomes is released. Return the final status of every job whose
        last outcome this was: decided here, once, in this transaction."""
        ...

    def cancel_job(self, job_id: int, now: float) -> tuple[JobStatus, bool] | None:
        """End an ongoing job as cancelled (its chunks are claimed no more, its
        outcomes after now are ignored); return its status after, terminal either
        way, and whether this call ended it (``False``: it had ended before), or
        ``None`` for no such job."""
        ...

    def release_node(self, node: int) -> None:
        """A node stops cleanly: drop its leases (others may claim its chunks at
        once) and its registry entry."""
        ...

    def count_ongoing(self) -> tuple[int, int]:
        """How many jobs are ongoing, and how many of those no node has claimed a chunk
        of yet (their status says ``queued``: they wait for a node with room)."""
        ...

    def live_nodes(self, now: float, within: float) -> list[NodeInfo]:
        """Registered nodes heard from in the last ``within`` seconds, by id."""
        ...

    def close(self) -> None:
        """Release the store; later calls are errors."""
        ...
