"""Messages between actors: plain frozen dataclasses, sent with ``tell``.

Each message carries the reference to reply to, so no actor needs to look
another up or ``ask`` it while handling a message (the pykka deadlock).
The last group are questions that outside callers ``ask``.
"""

from dataclasses import dataclass
from typing import Any

from pykka import ActorRef, Future

from retailpulse.model import ImageOutcome, JobResults, JobStatus
from retailpulse.submission import Submission

__all__ = [
    "AwaitJob",
    "FindJob",
    "GetResults",
    "GetStatus",
    "ImageDone",
    "JobFinished",
    "ProcessImage",
    "SlotFreed",
    "SubmitJob",
    "WantWorkers",
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
    """Worker (or a job declining a grant) -> dispatcher: this worker can take work.

    ``frees_slot`` says whether the image slot of the grant is free too. It is not
    when the image went on to the simulated GPU: the ``SlotFreed`` comes from there.
    """

    worker: AnyRef
    frees_slot: bool = True


@dataclass(frozen=True, slots=True)
class SlotFreed:
    """Simulated GPU -> dispatcher: an image left the GPU; its slot can be granted again."""


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
class JobFinished:
    """Job -> manager: every image has an outcome; here is the final record."""

    job_id: int
    results: JobResults


# --- from outside the system (ask) --------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitJob:
    """Ask the manager to accept a job; the answer is its new integer id."""

    submission: Submission


@dataclass(frozen=True, slots=True)
class FindJob:
    """Ask the manager for a job: a live job's ref, a finished or queued job's
    ``JobResults``, or ``None`` when the id is unknown."""

    job_id: int


@dataclass(frozen=True, slots=True)
class AwaitJob:
    """Ask the manager to set ``future`` to the job's final status when it ends
    (``None`` at once if the id is unknown)."""

    job_id: int
    future: "Future[JobStatus | None]"


@dataclass(frozen=True, slots=True)
class GetStatus:
    """Ask a job actor for its current ``JobStatus``."""


@dataclass(frozen=True, slots=True)
class GetResults:
    """Ask a job actor for its current ``JobResults``."""
