"""Messages between actors: plain frozen dataclasses, sent with ``tell``.

Each message carries the reference to reply to, so no actor needs to look
another up or ``ask`` it while handling a message (the pykka deadlock).
The last group are questions that outside callers ``ask``.
"""

from dataclasses import dataclass
from typing import Any

from pykka import ActorRef, Future

from retailpulse.model import ImageOutcome, JobOrder, JobStatus
from retailpulse.stores.jobstore import Creation, Delivery, DeliveryAttempt, IdempotencyClaim
from retailpulse.submission import ImageSpec

__all__ = [
    "AwaitJob",
    "CancelAnswer",
    "CancelJob",
    "ClaimUnfinished",
    "CreateJob",
    # issue 16: keys, idempotent submits, webhooks, retries
    "DeliveriesDue",
    "DeliveryTick",
    "FindDueDeliveries",
    "FindJob",
    "FinishJob",
    "GetResults",
    "GetStatus",
    "ImageDone",
    "ImageMeasured",
    "JobFinished",
    "ListJobs",
    "ListOwnedJobs",
    "ProcessImage",
    "QueuedJobs",
    "ReadFigures",
    "ReadImagePage",
    "ReadJobMeta",
    "ReadResults",
    "ReadStatus",
    "RecordDelivery",
    "RecordOutcomes",
    "ReopenFailed",
    "RunJob",
    "SlotFreed",
    "SubmitJob",
    "Submitted",
    "WantWorkers",
    "WatchDeliveries",
    "WithdrawDemand",
    "WorkerGranted",
    "WorkerIdle",
]

AnyRef = ActorRef[Any]


# --- between actors (tell) ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessImage:
    """Job -> worker: download and measure image ``index``, then reply to ``job``."""

    job: AnyRef
    index: int
    url: str


@dataclass(frozen=True, slots=True)
class ImageDone:
    """Worker -> job: the outcome of image ``index``."""

    index: int
    outcome: ImageOutcome


@dataclass(frozen=True, slots=True)
class WorkerIdle:
    """Worker (or a job declining a grant) -> dispatcher: this worker can take work, and
    the grant's image will not go to the GPU (it failed, or there was no image)."""

    worker: AnyRef


@dataclass(frozen=True, slots=True)
class ImageMeasured:
    """Worker -> dispatcher: image ``index`` of ``job`` is measured and needs
    ``gpu_seconds`` on the simulated GPU; the worker is idle again."""

    worker: AnyRef
    job: AnyRef
    index: int
    outcome: ImageOutcome
    gpu_seconds: float


@dataclass(frozen=True, slots=True)
class SlotFreed:
    """Simulated GPU -> dispatcher: a slot frees at ``free_at`` (the dispatcher's clock),
    a moment from now; it can take the next image from then."""

    free_at: float


@dataclass(frozen=True, slots=True)
class WithdrawDemand:
    """Job -> dispatcher: cancelled; forget the images I still wanted workers for."""

    job: AnyRef


@dataclass(frozen=True, slots=True)
class WantWorkers:
    """Job -> dispatcher: grant me ``count`` more workers, one image each."""

    job: AnyRef
    count: int


@dataclass(frozen=True, slots=True)
class WorkerGranted:
    """Dispatcher -> job: this worker is yours for one image."""

    worker: AnyRef


@dataclass(frozen=True, slots=True)
class RecordOutcomes:
    """Job -> job store: these images of job ``job_id`` have their outcome."""

    job_id: int
    outcomes: tuple[tuple[int, ImageOutcome], ...]


@dataclass(frozen=True, slots=True)
class FinishJob:
    """Job (or manager) -> job store: the job ended with this final ``status``.

    Once it is committed, together with every outcome told before it, the store
    tells ``notify`` ``JobFinished``: nobody reports a job terminal before that.
    """

    job_id: int
    status: JobStatus
    notify: AnyRef


@dataclass(frozen=True, slots=True)
class JobFinished:
    """Job store -> job -> manager: the job's final status is durable."""

    job_id: int
    status: JobStatus


@dataclass(frozen=True, slots=True)
class CancelJob:
    """Manager -> job (tell), or ask the manager: stop handing out this job's images.

    The manager answers with the live job's ref (ask it ``CancelJob`` in turn), a
    ``CancelAnswer`` for a queued job, or ``None`` when it does not run the job.
    """

    job_id: int


@dataclass(frozen=True, slots=True)
class CancelAnswer:
    """The job's status when the cancel was handled, and whether it did anything."""

    status: JobStatus
    cancelled: bool


# --- from outside the system (ask) --------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateJob:
    """Ask the job store to store a new job; the answer is its ``JobOrder``."""

    images: tuple[ImageSpec, ...]


@dataclass(frozen=True, slots=True)
class ClaimUnfinished:
    """Ask the job store for up to ``limit`` unfinished jobs with ids above ``after``."""

    after: int
    limit: int


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
    """Ask the manager to run (or queue) a stored job."""

    order: JobOrder


@dataclass(frozen=True, slots=True)
class QueuedJobs:
    """Ask the manager for the ids of the jobs waiting for a run slot."""


@dataclass(frozen=True, slots=True)
class FindJob:
    """Ask the manager for a job: a live job's ref, a queued job's ``JobResults``,
    or ``None`` when it does not run the job (finished or unknown: ask the store)."""

    job_id: int


@dataclass(frozen=True, slots=True)
class AwaitJob:
    """Ask the manager to set ``future`` to the job's final status when it ends
    (``None`` at once if it does not run the job: ask the store)."""

    job_id: int
    future: "Future[JobStatus | None]"


@dataclass(frozen=True, slots=True)
class GetStatus:
    """Ask a job actor for its current ``JobStatus``."""


@dataclass(frozen=True, slots=True)
class GetResults:
    """Ask a job actor for its current ``JobResults``."""


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
    deliveries due at ``now``."""

    now: float
    limit: int
    reply_to: AnyRef


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
