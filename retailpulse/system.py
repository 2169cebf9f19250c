"""The embedding API: talk to a running actor system from ordinary threads.

Everything here runs on the caller's thread and only ``ask``s actors, which is
the one place the actor rules allow blocking on an answer. The HTTP layer is a
thin adapter over this class, so embedding programs get the same behaviour.
"""

import logging
import time
from collections.abc import Iterator, Mapping
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
    ReadFigures,
    ReadImagePage,
    ReadResults,
    ReadStatus,
    RunJob,
)
from retailpulse.actors.metrics import GetServiceFigures, RenderMetrics, ServiceFigures
from retailpulse.actors.throughput import RateSeries
from retailpulse.config import ServiceConfig
from retailpulse.errors import (
    LimitExceededError,
    ServiceBusyError,
    UnknownJobError,
    ValidationError,
)
from retailpulse.lifecycle import Service
from retailpulse.model import (
    AreaFigures,
    ImagePage,
    JobOrder,
    JobResults,
    JobStatus,
    StoreFigures,
)
from retailpulse.netguard import PRIVATE_URLS_HINT, names_private_address
from retailpulse.stores import (
    JobStoreError,
    StoreMaster,
)
from retailpulse.submission import Submission, parse_submission

__all__ = ["GROUPINGS", "MAX_IMAGE_PAGE", "MAX_PAGE", "READ_PAGE", "System"]

logger = logging.getLogger(__name__)

MAX_PAGE = 500
"""Most jobs one ``jobs()`` call lists."""

MAX_IMAGE_PAGE = 10_000
"""Most images one page of results holds."""

READ_PAGE = 250
"""Images read from the job store per ask when a whole job's results are streamed:
a 100,000-image job is 400 asks (about 1 ms each), and a page is well under 1 MB in
memory however big the job is (1,000 measured no better in ``bench --results``)."""

GROUPINGS = ("store", "area")
"""What ``stores()`` can group a job's figures by."""


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
        submission = (
            payload
            if isinstance(payload, Submission)
            else parse_submission(payload, self.config.max_url_length)
        )
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
        """The status document plus ``images``: every image's store, size or error, in
        order (and ``next``: ``None``). Built in memory: for big jobs prefer
        ``result_pages`` or ``results_page``."""
        body = self.status(job_id)
        body["images"] = [
            image.to_dict() for page in self.result_pages(job_id) for image in page.images
        ]
        body["next"] = None
        return body

    def results_page(
        self, job_id: int, limit: int, after: int = 0, *, failed: bool = False
    ) -> dict[str, Any]:
        """The status document plus one page of ``images`` and ``next``, the ``after``
        of the following page (``None`` on the last). See ``image_page``."""
        body = self.status(job_id)
        page = self.image_page(job_id, limit, after, failed=failed)
        body["images"] = [image.to_dict() for image in page.images]
        body["next"] = page.next
        return body

    def image_page(
        self, job_id: int, limit: int, after: int = 0, *, failed: bool = False
    ) -> ImagePage:
        """Up to ``limit`` (1 to ``MAX_IMAGE_PAGE``) images from index ``after`` on, in
        submission order; with ``failed`` only images that failed.

        ``after`` is 0 for the first page, then the ``next`` of the page before. Pages
        are read from the job store by image index, so any page of a big job is as
        quick as the first. A running job's images are as of the store's last commit
        (a moment behind its status).
        """
        _check_job_id(job_id)
        _check_int("limit", limit, 1, MAX_IMAGE_PAGE)
        _check_int("after", after, 0, None)
        page: ImagePage | None = self._ask(
            self._store, ReadImagePage(job_id, after, limit, failed_only=failed)
        )
        if page is None:
            raise UnknownJobError(job_id)
        return page

    def result_pages(
        self, job_id: int, after: int = 0, *, failed: bool = False, size: int = READ_PAGE
    ) -> Iterator[ImagePage]:
        """Every image from ``after`` on, as pages of ``size`` read one at a time: the
        whole of a big job's results without holding them all.

        The first page is read now (an unknown job raises ``UnknownJobError`` here);
        each next page when the one before has been consumed.
        """
        first = self.image_page(job_id, size, after, failed=failed)
        return self._following_pages(job_id, first, failed, size)

    def _following_pages(
        self, job_id: int, page: ImagePage, failed: bool, size: int
    ) -> Iterator[ImagePage]:
        yield page
        while page.next is not None:
            page = self.image_page(job_id, size, page.next, failed=failed)
            yield page

    def stores(self, job_id: int, by: str = "store") -> dict[str, Any]:
        """Figures per store, ``{"job_id", "stores": [...]}``, or per area code with
        ``by="area"``, ``{"job_id", "areas": [...]}``: images, measured, failed and
        perimeter ``{"min", "mean", "max"}`` over the measured images (``None`` if
        none), in order of first appearance in the job."""
        figures = self.figures(job_id, by)
        key = "areas" if by == "area" else "stores"
        return {"job_id": job_id, key: [entry.to_dict() for entry in figures]}

    def figures(self, job_id: int, by: str = "store") -> list[StoreFigures] | list[AreaFigures]:
        """Typed form of ``stores()``: computed by the job store in one aggregate query."""
        _check_job_id(job_id)
        if by not in GROUPINGS:
            raise ValidationError("by", f"must be one of {', '.join(GROUPINGS)}")
        found: list[StoreFigures] | list[AreaFigures] | None = self._ask(
            self._store, ReadFigures(job_id, by)
        )
        if found is None:
            raise UnknownJobError(job_id)
        return found

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

    def service(self) -> dict[str, Any]:
        """The pipeline's figures now and its images per second over the last 10 minutes.

        The body of ``GET /api/service``, which the dashboard's service panel polls.
        """
        return self.service_figures().to_dict()

    def service_figures(self) -> ServiceFigures:
        """Typed form of ``service()``; without a metrics actor the counts are zeros."""
        pool = self.pool_stats()
        if self._metrics is None:
            empty = RateSeries(
                step=5.0, end=time.time(), images_per_second=(), failed_per_second=()
            )
            return ServiceFigures(pool, 0, 0, 0, empty)
        figures: ServiceFigures = self._ask(self._metrics, GetServiceFigures(pool))
        return figures

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


def _check_int(field: str, value: object, low: int, high: int | None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        span = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise ValidationError(field, f"must be an integer {span}")


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
