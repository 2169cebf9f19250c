"""JobManager: issues job ids, keeps the registry of jobs, and admits them to run."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from retailpulse.actors.events import JobAccepted
from retailpulse.actors.messages import AnyRef, AwaitJob, FindJob, JobFinished, SubmitJob
from retailpulse.actors.refs import stop_and_wait, tell_quietly
from retailpulse.model import JobResults, JobState, JobStatus, Progress
from retailpulse.ports import Clock
from retailpulse.submission import ImageSpec, Submission

__all__ = ["JobFactory", "JobManager", "JobOrder"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobOrder:
    """Everything a job actor needs to start, fixed when the job is accepted."""

    job_id: int
    images: tuple[ImageSpec, ...]
    submitted_at: float


JobFactory = Callable[[JobOrder, AnyRef], AnyRef]
"""Starts the actor that runs one job, reporting to the given manager ref."""


class JobManager(pykka.ThreadingActor):
    """The single owner of job ids and of the job registry.

    Admission: at most ``max_active_jobs`` job actors run at once (one thread each);
    later jobs wait here in submission order and are reported ``ongoing`` with
    ``queued: true``. Running jobs share the worker pool fairly (see Dispatcher), so
    a small job is never stuck behind a large one that is already running.
    A finished job's actor stops and its final record lives here.
    """

    use_daemon_thread = True

    def __init__(
        self,
        job_factory: JobFactory,
        *,
        clock: Clock,
        max_active_jobs: int = 32,
        stop_timeout: float = 10.0,
        events: AnyRef | None = None,
    ) -> None:
        super().__init__()
        self._job_factory = job_factory
        self._clock = clock
        self._max_active = max_active_jobs
        self._stop_timeout = stop_timeout
        self._events = events  # the metrics actor; None tells nobody
        self._next_id = 1
        self._live: dict[int, AnyRef] = {}
        self._queued: dict[int, JobOrder] = {}
        self._finished: dict[int, JobResults] = {}
        self._waiters: dict[int, list[pykka.Future[JobStatus | None]]] = {}

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SubmitJob):
            return self._submit(message.submission)
        if isinstance(message, FindJob):
            return self._find(message.job_id)
        if isinstance(message, JobFinished):
            self._job_finished(message.job_id, message.results)
        elif isinstance(message, AwaitJob):
            self._await(message.job_id, message.future)
        else:
            return super().on_receive(message)
        return None

    def on_stop(self) -> None:
        stop_and_wait(list(self._live.values()), self._stop_timeout)
        # These jobs will never finish now: release their waiters instead of leaving them hanging.
        for futures in self._waiters.values():
            for future in futures:
                error = pykka.ActorDeadError(f"{self.actor_ref} stopped before the job finished")
                future.set_exception((pykka.ActorDeadError, error, None))
        self._waiters.clear()

    def _submit(self, submission: Submission) -> int:
        job_id = self._next_id
        self._next_id += 1
        order = JobOrder(job_id, tuple(submission.images()), self._clock())
        self._queued[job_id] = order
        if self._events is not None:  # before the job starts, so metrics see it queued first
            tell_quietly(self._events, JobAccepted(job_id, len(order.images)))
        self._admit()
        return job_id

    def _admit(self) -> None:
        while self._queued and len(self._live) < self._max_active:
            job_id = next(iter(self._queued))
            order = self._queued.pop(job_id)
            self._live[job_id] = self._job_factory(order, self.actor_ref)

    def _find(self, job_id: int) -> AnyRef | JobResults | None:
        if job_id in self._live:
            return self._live[job_id]
        if job_id in self._finished:
            return self._finished[job_id]
        order = self._queued.get(job_id)
        if order is None:
            return None
        status = JobStatus(
            job_id, JobState.ONGOING, Progress(len(order.images)), order.submitted_at, queued=True
        )
        return JobResults(status, order.images, (None,) * len(order.images))

    def _job_finished(self, job_id: int, results: JobResults) -> None:
        self._live.pop(job_id, None)
        self._finished[job_id] = results
        for future in self._waiters.pop(job_id, []):
            future.set(results.status)
        self._admit()

    def _await(self, job_id: int, future: "pykka.Future[JobStatus | None]") -> None:
        if job_id in self._finished:
            future.set(self._finished[job_id].status)
        elif job_id in self._live or job_id in self._queued:
            self._waiters.setdefault(job_id, []).append(future)
        else:
            future.set(None)
