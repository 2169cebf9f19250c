"""JobManager: runs the stored jobs, admitting them to run, and handles cancels."""

import logging
from collections.abc import Callable
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    AwaitJob,
    CancelAnswer,
    CancelJob,
    FindJob,
    FinishJob,
    JobAccepted,
    JobEnded,
    JobFinished,
    QueuedJobs,
    RunJob,
)
from retailpulse.actors.refs import stop_and_wait, tell_quietly
from retailpulse.model import ImageOutcome, JobOrder, JobResults, JobState, JobStatus, Progress
from retailpulse.ports import Clock

__all__ = ["JobFactory", "JobManager", "JobOrder"]

logger = logging.getLogger(__name__)


JobFactory = Callable[[JobOrder, AnyRef], AnyRef]
"""Starts the actor that runs one job, reporting to the given manager ref."""


class JobManager(pykka.ThreadingActor):
    """The registry of the jobs this process runs, from acceptance to their end.

    Jobs arrive already stored (``RunJob``: new ones, and unfinished ones resumed
    at start); the job store issues their ids and keeps finished jobs, so a job
    the manager does not know is either finished or unknown, and the store says
    which.

    Admission: at most ``max_active_jobs`` job actors run at once (one thread each);
    later jobs wait here in order and are reported ``ongoing`` with ``queued:
    true``. Running jobs share the worker pool fairly (see Dispatcher), so a small
    job is never stuck behind a large one that is already running.
    """

    use_daemon_thread = True

    def __init__(
        self,
        job_factory: JobFactory,
        store: AnyRef,
        *,
        clock: Clock,
        max_active_jobs: int = 32,
        stop_timeout: float = 10.0,
        events: AnyRef | None = None,
    ) -> None:
        super().__init__()
        self._job_factory = job_factory
        self._store = store
        self._clock = clock
        self._max_active = max_active_jobs
        self._stop_timeout = stop_timeout
        self._events = events  # the metrics actor; None tells nobody
        self._live: dict[int, AnyRef] = {}
        self._queued: dict[int, JobOrder] = {}
        self._closing: dict[int, tuple[JobResults, JobStatus]] = {}
        """Queued jobs cancelled, until the store has committed their end: what they
        report until then, and their final status."""
        self._waiters: dict[int, list[pykka.Future[JobStatus | None]]] = {}

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, RunJob):
            order = message.order
            self._queued[order.job_id] = order
            # Before the job starts, so metrics see it queued first.
            self._tell_events(JobAccepted(order.job_id, len(order.images)))
            self._admit()
        elif isinstance(message, FindJob):
            return self._find(message.job_id)
        elif isinstance(message, JobFinished):
            self._job_finished(message.job_id, message.status)
        elif isinstance(message, AwaitJob):
            self._await(message.job_id, message.future)
        elif isinstance(message, CancelJob):
            return self._cancel(message.job_id)
        elif isinstance(message, QueuedJobs):
            return frozenset(self._queued) | frozenset(self._closing)
        else:
            return super().on_receive(message)
        return None

    def on_stop(self) -> None:
        stop_and_wait(list(self._live.values()), self._stop_timeout)
        # These jobs will not finish in this process: release their waiters instead of
        # leaving them hanging. The store still has them; the next start resumes them.
        for futures in self._waiters.values():
            for future in futures:
                error = pykka.ActorDeadError(f"{self.actor_ref} stopped before the job finished")
                future.set_exception((pykka.ActorDeadError, error, None))
        self._waiters.clear()

    def _admit(self) -> None:
        while self._queued and len(self._live) < self._max_active:
            job_id = next(iter(self._queued))
            order = self._queued.pop(job_id)
            self._live[job_id] = self._job_factory(order, self.actor_ref)

    def _find(self, job_id: int) -> AnyRef | JobResults | None:
        if job_id in self._live:
            return self._live[job_id]
        if job_id in self._closing:
            return self._closing[job_id][0]
        order = self._queued.get(job_id)
        return None if order is None else _queued_results(order)

    def _cancel(self, job_id: int) -> AnyRef | CancelAnswer | None:
        if job_id in self._live:
            return self._live[job_id]
        if job_id in self._closing:
            return CancelAnswer(self._closing[job_id][1], cancelled=False)
        order = self._queued.pop(job_id, None)
        if order is None:
            return None
        # Never started: it ends at once, with the outcomes it had (if resumed).
        snapshot = _queued_results(order)
        progress = snapshot.status.progress
        final = JobStatus(
            job_id, JobState.CANCELLED, progress, order.submitted_at, finished_at=self._clock()
        )
        self._closing[job_id] = (snapshot, final)
        self._store.tell(FinishJob(job_id, final, self.actor_ref))
        self._tell_events(JobEnded(job_id, "", final.state.value, progress.total, progress.failed))
        logger.info("job %d cancelled while queued", job_id)
        return CancelAnswer(snapshot.status, cancelled=True)

    def _tell_events(self, event: object) -> None:
        if self._events is not None:
            tell_quietly(self._events, event)

    def _job_finished(self, job_id: int, status: JobStatus) -> None:
        self._live.pop(job_id, None)
        self._closing.pop(job_id, None)
        for future in self._waiters.pop(job_id, []):
            future.set(status)
        self._admit()

    def _await(self, job_id: int, future: "pykka.Future[JobStatus | None]") -> None:
        if job_id in self._live or job_id in self._queued or job_id in self._closing:
            self._waiters.setdefault(job_id, []).append(future)
        else:
            future.set(None)


def _queued_results(order: JobOrder) -> JobResults:
    outcomes: list[ImageOutcome | None] = [None] * len(order.images)
    failed = 0
    for index, outcome in order.preloaded:
        outcomes[index] = outcome
        failed += outcome.error is not None
    progress = Progress(len(order.images), len(order.preloaded), failed)
    status = JobStatus(order.job_id, JobState.ONGOING, progress, order.submitted_at, queued=True)
    return JobResults(status, order.images, tuple(outcomes))
