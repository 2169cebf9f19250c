"""The embedding API: talk to a running actor system from ordinary threads.

Everything here runs on the caller's thread and only ``ask``s actors, which is
the one place the actor rules allow blocking on an answer. The HTTP layer is a
thin adapter over this class, so embedding programs get the same behaviour.
"""

import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pykka

from retailpulse.actors import (
    GetPoolStats,
    PoolStats,
)
from retailpulse.actors.delayline import DelayLine
from retailpulse.actors.messages import (
    AnyRef,
    AwaitJob,
    CancelAnswer,
    CancelJob,
    CreateJob,
    FindJob,
    GetResults,
    GetStatus,
    ListJobs,
    QueuedJobs,
    ReadResults,
    ReadStatus,
    RunJob,
)
from retailpulse.actors.metrics import RenderMetrics
from retailpulse.config import ServiceConfig
from retailpulse.errors import (
    LimitExceededError,
    ServiceBusyError,
    UnknownJobError,
    ValidationError,
)
from retailpulse.lifecycle import Service
from retailpulse.model import JobOrder, JobResults, JobStatus
from retailpulse.netguard import PRIVATE_URLS_HINT, names_private_address
from retailpulse.stores import (
    JobStoreError,
    StoreMaster,
)
from retailpulse.submission import Submission, parse_submission

__all__ = ["MAX_PAGE", "System"]

logger = logging.getLogger(__name__)

MAX_PAGE = 500
"""Most jobs one ``jobs()`` call lists."""


class System(Service):
    """A running Retail Pulse service: submit jobs, read their status and results.

    Use ``retailpulse.start()`` to make one; use it as a context manager or call
    ``stop()`` so its threads end. ``data`` is the job store's file, or ``None``
    when jobs live in memory only.
    """

    def __init__(
        self,
        config: ServiceConfig,
        store_master: StoreMaster,
        manager: AnyRef,
        dispatcher: AnyRef,
        *,
        store: AnyRef,
        data: Path | None = None,
        metrics: AnyRef | None = None,
        delay_line: DelayLine | None = None,
    ) -> None:
        self.config = config
        self.store_master = store_master
        self.data = data
        self._manager = manager
        self._dispatcher = dispatcher
        self._store = store
        self._metrics = metrics
        self._delay_line = delay_line

    def submit(self, payload: Mapping[str, Any] | Submission) -> int:
        """Validate ``payload`` (the submit JSON as a dict) and start a job; return its id.

        The job is stored (durably, with a data file) before this returns, so an
        accepted job survives a crash. Raises ``ValidationError`` naming the field
        when the payload is malformed, ``LimitExceededError`` (one of those) when it
        holds more than ``config.max_images_per_job`` images.
        """
        submission = payload if isinstance(payload, Submission) else parse_submission(payload)
        _check_job_size(submission, self.config.max_images_per_job)
        order: JobOrder = self._ask(self._store, CreateJob(tuple(submission.images())))
        self._ask(self._manager, RunJob(order))
        if not self.config.allow_private_urls:
            _warn_of_private_urls(order)
        return order.job_id

    def status(self, job_id: int) -> dict[str, Any]:
        """The status document: ``{"status", "job_id", ["error"], "progress", ...}``."""
        return self.job_status(job_id).to_dict()

    def results(self, job_id: int) -> dict[str, Any]:
        """The status document plus ``images``: every image's size or error, in order."""
        return self.job_results(job_id).to_dict()

    def job_status(self, job_id: int) -> JobStatus:
        """Typed form of ``status()``."""
        found = self._find(job_id, results=False)
        return found.status if isinstance(found, JobResults) else found

    def job_results(self, job_id: int) -> JobResults:
        """Typed form of ``results()``."""
        found = self._find(job_id, results=True)
        assert isinstance(found, JobResults)
        return found

    def wait(self, job_id: int, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job ends and return its final status document.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        return self.wait_status(job_id, timeout).to_dict()

    def wait_status(self, job_id: int, timeout: float | None = None) -> JobStatus:
        """Typed form of ``wait()``."""
        _check_job_id(job_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
            try:
                self._manager.tell(AwaitJob(job_id, future))
                status = future.get(timeout=remaining)
            except pykka.Timeout:
                raise TimeoutError(f"job {job_id} still running after {timeout} s") from None
            except pykka.ActorDeadError:
                raise ServiceBusyError("the service has stopped") from None
            if status is not None:
                return status
            # The manager does not run it: finished, unknown, or a submit between
            # storing the job and handing it to the manager.
            stored: JobStatus | None = self._ask(self._store, ReadStatus(job_id))
            if stored is None:
                raise UnknownJobError(job_id)
            if stored.terminal:
                return stored
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} still running after {timeout} s")
            time.sleep(0.01)

    def cancel(self, job_id: int) -> dict[str, Any]:
        """Cancel a job: ``{"status", "job_id", ..., "cancelled": true|false}``.

        A running job stops getting images at once; images in flight finish, then the
        job ends ``cancelled`` (its status says ``ongoing`` until then). A queued job
        ends without starting. ``cancelled`` is false when there was nothing to do:
        the job had ended (the status is its final one), or a cancel came before.
        """
        answer = self.cancel_job(job_id)
        return {**answer.status.to_dict(), "cancelled": answer.cancelled}

    def cancel_job(self, job_id: int) -> CancelAnswer:
        """Typed form of ``cancel()``."""
        _check_job_id(job_id)
        answer = self._cancel_once(job_id)
        if answer.cancelled or not answer.status.terminal:
            return answer
        # Too late: the job had ended. Answer once that end is committed (a moment).
        try:
            final = self.wait_status(job_id, self.config.ask_timeout)
        except TimeoutError:
            return answer
        return CancelAnswer(final, cancelled=False)

    def _cancel_once(self, job_id: int) -> CancelAnswer:
        for _ in range(3):
            found = self._ask(self._manager, CancelJob(job_id))
            if isinstance(found, CancelAnswer):
                return found
            if found is None:
                stored: JobStatus | None = self._ask(self._store, ReadStatus(job_id))
                if stored is None:
                    raise UnknownJobError(job_id)
                if stored.terminal:
                    return CancelAnswer(stored, cancelled=False)
                raise ServiceBusyError(f"job {job_id} is being accepted; retry")
            try:
                answer: CancelAnswer = found.ask(CancelJob(job_id), timeout=self.config.ask_timeout)
            except pykka.ActorDeadError:
                continue  # it just finished: the manager no longer runs it
            except pykka.Timeout:
                raise ServiceBusyError(f"job {job_id} did not answer in time") from None
            return answer
        raise ServiceBusyError(f"job {job_id} could not be cancelled")

    def jobs(self, limit: int = 50, after: int | None = None) -> dict[str, Any]:
        """Recent jobs, newest first: ``{"jobs": [status documents], "next": cursor}``.

        ``after`` is the ``next`` of the previous page (a job id: the page holds
        jobs with smaller ids); ``next`` is ``None`` on the last page. ``limit`` is
        1 to ``MAX_PAGE``. Progress of running jobs is as of the store's last commit.
        """
        statuses, next_cursor = self.job_page(limit, after)
        return {"jobs": [status.to_dict() for status in statuses], "next": next_cursor}

    def job_page(
        self, limit: int = 50, after: int | None = None
    ) -> tuple[list[JobStatus], int | None]:
        """Typed form of ``jobs()``: the statuses and the next cursor."""
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be an integer from 1 to {MAX_PAGE}")
        if after is not None and (
            isinstance(after, bool) or not isinstance(after, int) or after < 1
        ):
            raise ValidationError("after", "must be a job id (a positive integer)")
        found: list[JobStatus] = self._ask(self._store, ListJobs(limit + 1, after))
        queued: frozenset[int] = self._ask(self._manager, QueuedJobs())
        page = [replace(s, queued=True) if s.job_id in queued else s for s in found[:limit]]
        return page, (page[-1].job_id if len(found) > limit else None)

    def pool_stats(self) -> PoolStats:
        """Worker pool figures: size, idle workers, jobs waiting, workers replaced."""
        stats: PoolStats = self._ask(self._dispatcher, GetPoolStats())
        return stats

    def metrics(self) -> bytes:
        """The Prometheus text exposition of this service's metrics (empty without them).

        Worker figures are read from the dispatcher here, on the caller's thread, and
        handed to the metrics actor, which renders on its own thread.
        """
        if self._metrics is None:
            return b""
        text: bytes = self._ask(self._metrics, RenderMetrics(self.pool_stats()))
        return text

    def stop(self) -> None:
        """Stop jobs first, then the workers, then the job store (which commits what it
        holds), each bounded by ``config.stop_timeout``.

        Idempotent. Threads that do not finish in time are daemons and cannot keep
        the process alive. Unfinished jobs stay in the store and resume on the next
        start with the same data.
        """
        # Metrics last: the jobs and workers stopping before it may still report to it.
        refs = (self._manager, self._dispatcher, self._store, self._metrics)
        for ref in (r for r in refs if r is not None):
            try:
                ref.stop(timeout=self.config.stop_timeout)
            except pykka.Timeout:
                logger.warning("%s did not stop within %.1f s", ref, self.config.stop_timeout)
        if self._delay_line is not None:
            self._delay_line.stop(self.config.stop_timeout)

    def _find(self, job_id: int, *, results: bool) -> JobStatus | JobResults:
        _check_job_id(job_id)
        # A job that finishes between the two asks has stopped its actor, after its
        # end was committed; asking the manager again sends us to the store.
        for _ in range(3):
            found = self._ask(self._manager, FindJob(job_id))
            if found is None:
                stored: JobStatus | JobResults | None = self._ask(
                    self._store, ReadResults(job_id) if results else ReadStatus(job_id)
                )
                if stored is None:
                    raise UnknownJobError(job_id)
                return stored
            if isinstance(found, JobResults):
                return found
            try:
                answer: JobStatus | JobResults = found.ask(
                    GetResults() if results else GetStatus(), timeout=self.config.ask_timeout
                )
            except pykka.ActorDeadError:
                continue
            except pykka.Timeout:
                raise ServiceBusyError(f"job {job_id} did not answer in time") from None
            return answer
        raise ServiceBusyError(f"job {job_id} could not be read")

    def _ask(self, ref: AnyRef, question: object, timeout: float | None = None) -> Any:
        try:
            return ref.ask(question, timeout=timeout or self.config.ask_timeout)
        except pykka.Timeout:
            raise ServiceBusyError(f"{ref.actor_class.__name__} did not answer in time") from None
        except pykka.ActorDeadError:
            raise ServiceBusyError("the service has stopped") from None
        except JobStoreError as exc:
            raise ServiceBusyError(str(exc)) from exc


def _check_job_size(submission: Submission, limit: int) -> None:
    images = sum(len(visit.image_urls) for visit in submission.visits)
    if images > limit:
        raise LimitExceededError(
            "visits", f"hold {images} images in all; a job may hold at most {limit}"
        )


def _check_job_id(job_id: object) -> None:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise UnknownJobError(job_id)


def _warn_of_private_urls(order: JobOrder) -> None:
    """Say at once, not only when the job fails, that the guard will refuse its URLs."""
    private = sum(names_private_address(spec.url) for spec in order.images)
    if private:
        logger.warning(
            "job %d accepted, but %s name a private or loopback host, which the address "
            "guard refuses (%s)",
            order.job_id,
            "its image URL"
            if len(order.images) == 1
            else f"{private} of its {len(order.images)} image URLs",
            PRIVATE_URLS_HINT,
        )
