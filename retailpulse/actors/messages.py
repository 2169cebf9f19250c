"""Every message between actors: plain frozen dataclasses, sent with ``tell``.

Each message carries the reference to reply to, so no actor needs to look
another up or ``ask`` it while handling a message (the pykka deadlock). Groups:
the job flow (jobs, dispatcher, workers, the simulated GPU, the job store), the
events for the metrics actor (nothing in the job flow depends on them: an actor
given no events ref tells nobody), and the questions that outside callers ``ask``.
"""

from dataclasses import dataclass
from typing import Any

from pykka import ActorRef, Future

from retailpulse.model import ImageOutcome, JobOrder, JobStatus
from retailpulse.stores.jobstore import (
    Chunk,
    Creation,
    Delivery,
    DeliveryAttempt,
    Heartbeat,
    IdempotencyClaim,
)
from retailpulse.submission import ImageSpec

__all__ = [
    "AwaitJob",
    "Batch",
    "Beat",
    "BeatDone",
    "CancelAnswer",
    "CancelHere",
    "CancelJob",
    "CancelStored",
    "ChunkDone",
    "ChunkDrained",
    "ChunkEnded",
    "ChunkStarted",
    "ChunksClaimed",
    "ClaimChunks",
    "CountOngoing",
    "DeliveriesDue",
    "DeliveryTick",
    "FindDueDeliveries",
    "GetPoolStats",
    "GetServiceFigures",
    "GpuStarting",
    "ImageDone",
    "ImageDownloaded",
    "ImageMeasured",
    "ImageProcessed",
    "JobAccepted",
    "JobEnded",
    "JobFinished",
    "ListJobs",
    "ListNodes",
    "ListOwnedJobs",
    "OfferDrained",
    "OfferImages",
    "OfferWithdrawn",
    "PollEnded",
    "PoolStats",
    "ProcessImage",
    "ReadFigures",
    "ReadImagePage",
    "ReadJobMeta",
    "ReadResults",
    "ReadStatus",
    "RecordChunkOutcomes",
    "RecordDelivery",
    "RegisterNode",
    "ReleaseNode",
    "RenderMetrics",
    "ReopenFailed",
    "RunJob",
    "StatusesPolled",
    "SubmitJob",
    "Submitted",
    "WatchDeliveries",
    "WhichNode",
    "WithdrawOffer",
    "WorkerIdle",
]

AnyRef = ActorRef[Any]


# --- between actors (tell) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfferImages:
    """Job -> dispatcher, once: these images of mine still need doing, hand them out.

    ``images`` is the job's own immutable tuple (shared, not copied) and ``todo``
    the indices still to do, in the order to do them. The dispatcher keeps a cursor
    into ``todo`` in its fair ring: a queued image costs it an integer.
    """

    job: AnyRef
    images: tuple[ImageSpec, ...]
    todo: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class WithdrawOffer:
    """Job -> dispatcher: cancelled; hand out none of my images any more.

    Answered with ``OfferWithdrawn``, so the job knows which images will still
    report (those already handed out) and which never will.
    """

    job: AnyRef


@dataclass(frozen=True, slots=True)
class OfferDrained:
    """Dispatcher -> job: the last image of the offer was handed out (the outcomes of
    those in work are on their way)."""


@dataclass(frozen=True, slots=True)
class OfferWithdrawn:
    """Dispatcher -> job: these images of the offer were never handed out; every
    other one was, and its outcome is on its way."""

    never_started: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ProcessImage:
    """Dispatcher -> worker: download and measure image ``index`` of ``job``."""

    job: AnyRef
    index: int
    url: str


@dataclass(frozen=True, slots=True)
class ImageMeasured:
    """Worker -> dispatcher: image ``index`` of ``job`` is measured and needs
    ``gpu_seconds`` on the simulated GPU; the worker is idle again."""

    worker: AnyRef
    job: AnyRef
    index: int
    outcome: ImageOutcome
    gpu_seconds: float
    reports: tuple[tuple[AnyRef, object], ...] = ()
    """Messages to deliver when the image leaves the GPU, just before its ``ImageDone``
    (the worker's metrics event): they then travel with it, batched by the simulated
    GPU, instead of waking the metrics actor once per image."""


@dataclass(frozen=True, slots=True)
class WorkerIdle:
    """Worker -> dispatcher: this worker can take work, and its image will not go to
    the GPU (it failed, and the worker told the job itself)."""

    worker: AnyRef


@dataclass(frozen=True, slots=True)
class ImageDone:
    """Simulated GPU (or a worker, for a failure) -> job: the outcome of image ``index``."""

    index: int
    outcome: ImageOutcome


@dataclass(frozen=True, slots=True)
class GpuStarting:
    """Simulated GPU -> dispatcher: an image waiting for its GPU slot starts about now,
    so the readahead has room for another download."""


@dataclass(frozen=True, slots=True)
class Batch:
    """Several messages for one actor in one: the simulated GPU delivers everything
    due for an actor in the same tick this way, so it wakes that actor's thread once.
    The receiver handles ``messages`` in order, as if told one by one."""

    messages: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class JobFinished:
    """Job store -> manager: the job's final status is durable (this node's commit
    recorded its last outcome)."""

    job_id: int
    status: JobStatus


@dataclass(frozen=True, slots=True)
class CancelJob:
    """Manager -> chunk: the job ended (cancelled, or the chunk was taken over): stop
    handing out its images; those in flight report, then the chunk actor stops."""

    job_id: int


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """The job's status when the cancel was handled, and whether it did anything."""

    status: JobStatus
    cancelled: bool


# --- events for the metrics actor (tell) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class JobAccepted:
    """System -> events: a job was stored (accepted at this node)."""

    job_id: int
    images: int


@dataclass(frozen=True, slots=True)
class JobEnded:
    """Manager -> events: this node committed the job's end (its last outcome, or a
    cancel asked here); ``state`` is ``completed``, ``failed`` or ``cancelled``."""

    job_id: int
    state: str


@dataclass(frozen=True, slots=True)
class ChunkStarted:
    """Chunk -> events: a chunk of job ``job_id`` runs here; ``to_download`` of its
    ``images`` without an outcome yet need a worker (the others belong to stores
    missing from the store master).

    ``chunk`` is the chunk actor's URN, the key that worker events carry too.
    """

    job_id: int
    chunk: str
    images: int
    to_download: int


@dataclass(frozen=True, slots=True)
class ChunkEnded:
    """Chunk -> events: the chunk actor with URN ``chunk`` is done (or stopped)."""

    job_id: int
    chunk: str


@dataclass(frozen=True, slots=True)
class ImageDownloaded:
    """One download attempt took ``seconds``; ``size`` is the body's length in bytes,
    or ``None`` when the download failed."""

    seconds: float
    size: int | None


@dataclass(frozen=True, slots=True)
class ImageProcessed:
    """Worker -> events: one image handled for the chunk actor with URN ``job``.

    ``seconds`` is the worker's whole time on it: download, measurement, GPU work.
    ``download`` is its download attempt (``None`` when the worker crashed first).
    """

    job: str
    ok: bool
    seconds: float
    download: ImageDownloaded | None = None


# --- from outside the system (ask) --------------------------------------------


@dataclass(frozen=True, slots=True)
class GetPoolStats:
    """Ask the dispatcher for a ``PoolStats``."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    """The dispatcher's figures, for ``/healthz`` and ``/metrics``."""

    workers: int
    """Download workers (threads) in the pool."""
    idle: int
    """Download workers waiting for an image."""
    jobs_waiting: int
    """Jobs with images waiting to be handed out."""
    replaced: int
    """Workers that died and were replaced since start."""
    slots: int
    """Simulated GPU slots: how many images spend their GPU time at once (``gpu_slots``)."""
    free_slots: int
    """GPU slots with no image now."""
    ready: int
    """Images measured and waiting for their GPU slot to free."""


@dataclass(frozen=True, slots=True)
class ReadStatus:
    """Ask the job store for a stored job's ``JobStatus`` (or ``None``)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class ReadResults:
    """Ask the job store for a stored job's ``JobResults`` (or ``None``)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class ListJobs:
    """Ask the job store for up to ``limit`` jobs below id ``before``, newest first."""

    limit: int
    before: int | None


@dataclass(frozen=True, slots=True)
class RunJob:
    """System -> manager: a job was stored or reopened: claim now, not at the next tick."""

    order: JobOrder


@dataclass(frozen=True, slots=True)
class AwaitJob:
    """System -> manager: set ``future`` to the job's final status when it ends, or to
    ``None`` if there is no such job (the store is asked at once, then once a beat)."""

    job_id: int
    future: "Future[JobStatus | None]"


@dataclass(frozen=True, slots=True)
class ReadImagePage:
    """Ask the job store for an ``ImagePage`` of job ``job_id`` (or ``None``): up to
    ``limit`` images from index ``after`` on, only failed ones with ``failed_only``."""

    job_id: int
    after: int
    limit: int
    failed_only: bool = False


@dataclass(frozen=True, slots=True)
class ReadFigures:
    """Ask the job store for a job's figures per store (``by="store"``, a list of
    ``StoreFigures``) or per area code (``by="area"``, ``AreaFigures``), or ``None``."""

    job_id: int
    by: str


# --- issue 16: private jobs, idempotent submits, webhooks, retries -----------------


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Ask the job store to store a new job of ``owner`` (an API key's name) with an
    optional webhook; with ``claim``, only once per idempotency key. The answer is
    ``Submitted``."""

    images: tuple[ImageSpec, ...]
    owner: str | None = None
    claim: IdempotencyClaim | None = None
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """The job store's answer to ``SubmitJob``: ``order`` to run, or ``None`` when
    ``creation`` is a replay or a conflict (nothing new was stored)."""

    creation: Creation
    order: JobOrder | None


@dataclass(frozen=True, slots=True)
class ReadJobMeta:
    """Ask the job store for a job's ``JobMeta`` (owner, attempts, webhook) or ``None``."""

    job_id: int


@dataclass(frozen=True, slots=True)
class ListOwnedJobs:
    """``ListJobs``, only the jobs of ``owner``."""

    limit: int
    before: int | None
    owner: str


@dataclass(frozen=True, slots=True)
class ReopenFailed:
    """Ask the job store to make failed job ``job_id`` ongoing again: the answer is the
    ``JobOrder`` to run, the job's ``JobStatus`` if it is not failed, or ``None``."""

    job_id: int


@dataclass(frozen=True, slots=True)
class DeliveryTick:
    """Ticker -> webhooks: time to look for due deliveries."""


@dataclass(frozen=True, slots=True)
class FindDueDeliveries:
    """Webhooks -> job store: tell ``reply_to`` ``DeliveriesDue`` with up to ``limit``
    deliveries due at ``now``, claimed for ``claim_s`` seconds (no node gets them
    again meanwhile)."""

    now: float
    limit: int
    reply_to: AnyRef
    claim_s: float


@dataclass(frozen=True, slots=True)
class DeliveriesDue:
    """Job store -> webhooks: these deliveries are due."""

    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True, slots=True)
class RecordDelivery:
    """Webhooks -> job store: keep the result of one delivery attempt."""

    attempt: DeliveryAttempt


@dataclass(frozen=True, slots=True)
class WatchDeliveries:
    """Webhooks -> job store: tell ``watcher`` ``DeliveryTick`` whenever a commit has
    ended jobs, so their webhooks go out at once instead of at the next poll."""

    watcher: AnyRef


@dataclass(frozen=True, slots=True)
class RenderMetrics:
    """Ask the metrics actor for the exposition text (bytes).

    ``pool`` is the dispatcher's answer to ``GetPoolStats``, read by the asking
    thread just before: worker figures are owned by the dispatcher and read at
    scrape time rather than reported on every grant, which would double the
    messages on the busiest path of the service. ``queued`` is the store's count of
    jobs no node has started yet (``CountOngoing``), read the same way.
    """

    pool: PoolStats | None = None
    queued: int = 0


@dataclass(frozen=True, slots=True)
class GetServiceFigures:
    """Ask the metrics actor for a ``ServiceFigures``; ``pool`` and ``queued`` as in
    ``RenderMetrics``."""

    pool: PoolStats
    queued: int = 0


# --- the chunk protocol (one node, or many sharing one PostgreSQL job store) ----------


@dataclass(frozen=True, slots=True)
class RegisterNode:
    """Ask the job store, at start: register this node; answered with its new id."""

    name: str
    gpu_slots: int


@dataclass(frozen=True, slots=True)
class ReleaseNode:
    """Manager -> job store, at stop: drop this node's leases and entry."""

    node: int


@dataclass(frozen=True, slots=True)
class ClaimChunks:
    """Manager -> job store: lease up to ``limit`` chunks to ``node`` (only first chunks
    of jobs nobody has started, with ``new_jobs_only``); answered by telling
    ``reply_to`` ``ChunksClaimed``."""

    node: int
    limit: int
    lease_s: float
    reply_to: AnyRef
    new_jobs_only: bool = False


@dataclass(frozen=True, slots=True)
class ChunksClaimed:
    """Job store -> manager: the chunks just leased (maybe none)."""

    chunks: tuple[Chunk, ...]


@dataclass(frozen=True, slots=True)
class Beat:
    """Manager -> job store: renew ``node``'s leases; ``BeatDone`` to ``reply_to``."""

    node: int
    lease_s: float
    reply_to: AnyRef


@dataclass(frozen=True, slots=True)
class BeatDone:
    """Job store -> manager: what the heartbeat learnt (ended jobs, chunks held)."""

    beat: Heartbeat


@dataclass(frozen=True, slots=True)
class RecordChunkOutcomes:
    """Chunk -> job store: outcomes of job ``job_id``; jobs whose last outcome they
    hold end in that commit, and ``notify`` hears ``JobFinished`` for each."""

    job_id: int
    outcomes: tuple[tuple[int, ImageOutcome], ...]
    notify: AnyRef


@dataclass(frozen=True, slots=True)
class ChunkDone:
    """Chunk -> manager: every image of the chunk has reported (or a cancel
    or takeover stopped it); the chunk actor stops."""

    job_id: int
    number: int


@dataclass(frozen=True, slots=True)
class ChunkDrained:
    """Chunk -> manager: every image of the chunk is in work or done; what is left of it
    no longer keeps the pipeline busy, so the manager may claim the next chunk now."""

    job_id: int
    number: int


@dataclass(frozen=True, slots=True)
class CancelHere:
    """System -> manager: job ``job_id`` was cancelled; stop its chunks here now (the
    other nodes learn it at their next heartbeat). ``status`` is its final status when
    this cancel ended it (``None`` when it had ended before)."""

    job_id: int
    status: JobStatus | None = None


@dataclass(frozen=True, slots=True)
class CancelStored:
    """Ask the job store: cancel job ``job_id``; answered with a ``CancelAnswer``
    (``None`` for no such job)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class PollEnded:
    """Manager -> job store: the statuses of these awaited jobs, told back to
    ``reply_to`` as ``StatusesPolled`` (a job another node finished ends this way)."""

    job_ids: tuple[int, ...]
    reply_to: AnyRef


@dataclass(frozen=True, slots=True)
class StatusesPolled:
    """Job store -> manager: ``(job_id, status or None for no such job)``."""

    statuses: tuple[tuple[int, JobStatus | None], ...]


@dataclass(frozen=True, slots=True)
class WhichNode:
    """Ask the manager for this node's id."""


@dataclass(frozen=True, slots=True)
class CountOngoing:
    """Ask the job store ``(ongoing jobs, those no node has claimed a chunk of yet)``."""


@dataclass(frozen=True, slots=True)
class ListNodes:
    """Ask the job store for the nodes heard from in the last ``within`` seconds."""

    within: float
