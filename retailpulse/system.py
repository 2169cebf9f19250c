"""The embedding API: talk to a running actor system from ordinary threads.

Everything here runs on the caller's thread and only ``ask``s actors, which is
the one place the actor rules allow blocking on an answer. The HTTP layer is a
thin adapter over this class, so embedding programs get the same behaviour.
"""

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    CancelHere,
    CancelStored,
    CountOngoing,
    JobAccepted,
    ListJobs,
    ListNodes,
    ListOwnedJobs,
    ReadFigures,
    ReadImagePage,
    ReadJobMeta,
    ReadResults,
    ReadStatus,
    ReopenFailed,
    RunJob,
    SubmitJob,
    Submitted,
    WhichNode,
)
from retailpulse.actors.metrics import GetServiceFigures, RenderMetrics, ServiceFigures
from retailpulse.actors.refs import tell_quietly
from retailpulse.actors.throughput import RateSeries
from retailpulse.config import ServiceConfig
from retailpulse.download.guard import PRIVATE_URLS_HINT, names_private_address
from retailpulse.errors import (
    IdempotencyKeyReusedError,
    JobNotFailedError,
    LimitExceededError,
    ServiceBusyError,
    UnknownJobError,
    ValidationError,
)
from retailpulse.keys import KeyringHolder, Principal
from retailpulse.lifecycle import Service
from retailpulse.logs import log_event
from retailpulse.model import (
    AreaFigures,
    ImagePage,
    JobOrder,
    JobResults,
    JobStatus,
    StoreFigures,
)
from retailpulse.paging import (
    IMAGE_PAGE_AFTER,
    IMAGE_PAGE_LIMIT,
    JOB_PAGE_AFTER,
    JOB_PAGE_LIMIT,
    MAX_IMAGE_PAGE,
    MAX_PAGE,
)
from retailpulse.ports import Clock, default_clock
from retailpulse.stores import (
    Creation,
    IdempotencyClaim,
    JobMeta,
    JobStoreError,
    StoreMaster,
)
from retailpulse.stores.jobstore import NodeInfo
from retailpulse.submission import Submission, parse_submission

__all__ = [
    "GROUPINGS",
    "IDEMPOTENCY_WINDOW",
    "MAX_IDEMPOTENCY_KEY",
    "MAX_IMAGE_PAGE",
    "MAX_PAGE",
    "READ_PAGE",
    "System",
]

logger = logging.getLogger(__name__)


READ_PAGE = 250
"""Images read from the job store per ask when a whole job's results are streamed:
a 100,000-image job is 400 asks (about 1 ms each), and a page is well under 1 MB in
memory however big the job is (1,000 measured no better in ``bench --results``)."""

GROUPINGS = ("store", "area")
"""What ``stores()`` can group a job's figures by."""

IDEMPOTENCY_WINDOW = 24 * 3600.0
"""Seconds an ``Idempotency-Key`` keeps answering with its first job (as Stripe's)."""
MAX_IDEMPOTENCY_KEY = 255


class System(Service):
    """A running Retail Pulse service: submit jobs, read their status and results.

    Use ``retailpulse.start()`` to make one; use it as a context manager or call
    ``stop()`` so its threads end. ``data`` is the job store's file, or ``None``
    when jobs live in memory only. ``keys`` holds the API keys the HTTP layer asks
    for (``None``: the service is open).

    Every job method takes ``caller``, the ``Principal`` of the API key calling: a
    job submitted with a key belongs to it, and any other non-admin key is told it
    does not exist (``UnknownJobError``). ``None`` (an open service, an embedding
    program) sees every job.
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
        keys: KeyringHolder | None = None,
        webhooks: AnyRef | None = None,
        clock: Clock = default_clock,
    ) -> None:
        self.config = config
        self.store_master = store_master
        self.data = data
        self._manager = manager
        self._dispatcher = dispatcher
        self._store = store
        self._metrics = metrics
        self._delay_line = delay_line
        self.keys = keys
        self._webhooks = webhooks
        self._clock = clock

    def submit(
        self,
        payload: Mapping[str, Any] | Submission,
        *,
        caller: Principal | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Validate ``payload`` (the submit JSON as a dict) and start a job; return its id.

        The job is stored (durably, with a data file) before this returns, so an
        accepted job survives a crash. Raises ``ValidationError`` naming the field
        when the payload is malformed, ``LimitExceededError`` (one of those) when it
        holds more than ``config.max_images_per_job`` images. With an
        ``idempotency_key`` see ``submit_job``.
        """
        return self.submit_job(payload, caller=caller, idempotency_key=idempotency_key).job_id

    def submit_job(
        self,
        payload: Mapping[str, Any] | Submission,
        *,
        caller: Principal | None = None,
        idempotency_key: str | None = None,
    ) -> Creation:
        """``submit``, saying whether the job is new or a replay.

        The same ``idempotency_key`` and the same submission from the same caller
        within ``IDEMPOTENCY_WINDOW`` seconds answer with the first job
        (``replayed``) and start nothing; the same key with another submission
        raises ``IdempotencyKeyReusedError``. Keys are the caller's own: two API keys
        may use the same one. The key is kept in the job store with the job.
        """
        submission = (
            payload
            if isinstance(payload, Submission)
            else parse_submission(payload, self.config.max_url_length)
        )
        _check_job_size(submission, self.config.max_images_per_job)
        self._check_callback(submission.callback_url)
        claim = None
        if idempotency_key is not None:
            _check_idempotency_key(idempotency_key)
            claim = IdempotencyClaim(
                "" if caller is None else caller.name,
                idempotency_key,
                _fingerprint(submission),
                not_before=self._clock() - IDEMPOTENCY_WINDOW,
            )
        question = SubmitJob(
            tuple(submission.images()),
            owner=None if caller is None else caller.name,
            claim=claim,
            callback_url=submission.callback_url,
        )
        submitted: Submitted = self._ask(self._store, question)
        if submitted.creation.conflict:
            raise IdempotencyKeyReusedError()
        order = submitted.order
        if order is not None:
            log_event(
                logger, logging.INFO, "job_submitted", job=order.job_id, images=len(order.images)
            )
            # Stored: any node may claim it now; this one is told so as not to wait a tick.
            tell_quietly(self._manager, RunJob(order))
            if self._metrics is not None:
                tell_quietly(self._metrics, JobAccepted(order.job_id, len(order.images)))
            if not self.config.allow_private_urls:
                _warn_of_private_urls(order)
        return submitted.creation

    def _check_callback(self, url: str | None) -> None:
        """A webhook needs a signing secret, and (unless private URLs are allowed) a
        host that is not plainly private (an address literal, ``localhost``): refused
        now, where an image URL is only warned of, since nobody reads a failed
        delivery's reason in time. Other names are checked by the address guard when
        the webhook is sent, as image URLs are when they are downloaded."""
        if url is None:
            return
        if self._webhooks is None:
            raise ValidationError(
                "callback_url", "cannot be used: this service has no --webhook-secret"
            )
        if not self.config.allow_private_urls and names_private_address(url):
            raise ValidationError(
                "callback_url",
                f"names a private, loopback, link-local or reserved host "
                f"({urlsplit(url).hostname}); {PRIVATE_URLS_HINT}",
            )

    def retry(self, job_id: int, *, caller: Principal | None = None) -> dict[str, Any]:
        """Run a failed job again for its failed images; its status document, ``ongoing``.

        Images that failed to download or decode, and those of stores the store
        master did not know, are processed again (the store master is asked again);
        measured images keep their results and are not downloaded again. The job then
        ends as usual and its ``attempts`` grows by one. Raises ``JobNotFailedError``
        when the job is not ``failed``.
        """
        return self.retry_job(job_id, caller=caller).to_dict()

    def retry_job(self, job_id: int, *, caller: Principal | None = None) -> JobStatus:
        """Typed form of ``retry()``."""
        self._allowed(job_id, caller)
        # One transaction decides: the job is reopened only if it is failed (so of two
        # retries racing, one reopens it and the other is told it is ongoing).
        answer: JobOrder | JobStatus | None = self._ask(self._store, ReopenFailed(job_id))
        if answer is None:
            raise UnknownJobError(job_id)
        if isinstance(answer, JobStatus):
            raise JobNotFailedError(job_id, answer.state.value)
        tell_quietly(self._manager, RunJob(answer))
        return self.job_status(job_id, caller=caller)

    def status(self, job_id: int, *, caller: Principal | None = None) -> dict[str, Any]:
        """The status document: ``{"status", "job_id", ["error"], "progress", ...}``."""
        return self.job_status(job_id, caller=caller).to_dict()

    def results(self, job_id: int, *, caller: Principal | None = None) -> dict[str, Any]:
        """The status document plus ``images``: every image's store, size or error, in
        order (and ``next``: ``None``). Built in memory: for big jobs prefer
        ``result_pages`` or ``results_page``."""
        body = self.status(job_id, caller=caller)
        body["images"] = [
            image.to_dict() for page in self.result_pages(job_id) for image in page.images
        ]
        body["next"] = None
        return body

    def results_page(
        self,
        job_id: int,
        limit: int,
        after: int = 0,
        *,
        failed: bool = False,
        caller: Principal | None = None,
    ) -> dict[str, Any]:
        """The status document plus one page of ``images`` and ``next``, the ``after``
        of the following page (``None`` on the last). See ``image_page``."""
        body = self.status(job_id, caller=caller)
        page = self.image_page(job_id, limit, after, failed=failed)
        body["images"] = [image.to_dict() for image in page.images]
        body["next"] = page.next
        return body

    def image_page(
        self,
        job_id: int,
        limit: int,
        after: int = 0,
        *,
        failed: bool = False,
        caller: Principal | None = None,
    ) -> ImagePage:
        """Up to ``limit`` (1 to ``MAX_IMAGE_PAGE``) images from index ``after`` on, in
        submission order; with ``failed`` only images that failed.

        ``after`` is 0 for the first page, then the ``next`` of the page before. Pages
        are read from the job store by image index, so any page of a big job is as
        quick as the first. A running job's images are as of the store's last commit
        (a moment behind its status).
        """
        _check_job_id(job_id)
        IMAGE_PAGE_LIMIT.check(limit)
        IMAGE_PAGE_AFTER.check(after)
        if caller is not None:
            self._access(job_id, caller)
        return self._image_page(job_id, limit, after, failed)

    def _image_page(self, job_id: int, limit: int, after: int, failed: bool) -> ImagePage:
        page: ImagePage | None = self._ask(
            self._store, ReadImagePage(job_id, after, limit, failed_only=failed)
        )
        if page is None:
            raise UnknownJobError(job_id)
        return page

    def result_pages(
        self,
        job_id: int,
        after: int = 0,
        *,
        failed: bool = False,
        size: int = READ_PAGE,
        caller: Principal | None = None,
    ) -> Iterator[ImagePage]:
        """Every image from ``after`` on, as pages of ``size`` read one at a time: the
        whole of a big job's results without holding them all.

        The first page is read now (an unknown job raises ``UnknownJobError`` here);
        each next page when the one before has been consumed.
        """
        first = self.image_page(job_id, size, after, failed=failed, caller=caller)
        return self._following_pages(job_id, first, failed, size)

    def _following_pages(
        self, job_id: int, page: ImagePage, failed: bool, size: int
    ) -> Iterator[ImagePage]:
        yield page
        while page.next is not None:
            page = self._image_page(job_id, size, page.next, failed)
            yield page

    def stores(
        self, job_id: int, by: str = "store", *, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Figures per store, ``{"job_id", "stores": [...]}``, or per area code with
        ``by="area"``, ``{"job_id", "areas": [...]}``: images, measured, failed and
        perimeter ``{"min", "mean", "max"}`` over the measured images (``None`` if
        none), in order of first appearance in the job."""
        figures = self.figures(job_id, by, caller=caller)
        key = "areas" if by == "area" else "stores"
        return {"job_id": job_id, key: [entry.to_dict() for entry in figures]}

    def figures(
        self, job_id: int, by: str = "store", *, caller: Principal | None = None
    ) -> list[StoreFigures] | list[AreaFigures]:
        """Typed form of ``stores()``: computed by the job store in one aggregate query."""
        _check_job_id(job_id)
        if by not in GROUPINGS:
            raise ValidationError("by", f"must be one of {', '.join(GROUPINGS)}")
        if caller is not None:
            self._access(job_id, caller)
        found: list[StoreFigures] | list[AreaFigures] | None = self._ask(
            self._store, ReadFigures(job_id, by)
        )
        if found is None:
            raise UnknownJobError(job_id)
        return found

    def job_status(self, job_id: int, *, caller: Principal | None = None) -> JobStatus:
        """Typed form of ``status()``: the store's committed state, whichever node
        works the job (a running job's progress is a moment behind its images)."""
        self._allowed(job_id, caller)
        status: JobStatus | None = self._ask(self._store, ReadStatus(job_id))
        if status is None:
            raise UnknownJobError(job_id)  # purged between the two reads
        return status

    def job_results(self, job_id: int, *, caller: Principal | None = None) -> JobResults:
        """Typed form of ``results()``, built in memory (see ``result_pages``)."""
        self._allowed(job_id, caller)
        results: JobResults | None = self._ask(self._store, ReadResults(job_id))
        if results is None:
            raise UnknownJobError(job_id)
        return results

    def wait(
        self, job_id: int, timeout: float | None = None, *, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Block until the job ends and return its final status document.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        return self.wait_status(job_id, timeout, caller=caller).to_dict()

    def wait_status(
        self, job_id: int, timeout: float | None = None, *, caller: Principal | None = None
    ) -> JobStatus:
        """Typed form of ``wait()``: one question to the job manager, which answers when
        the job's end is committed (at once for a job that has ended; within a
        heartbeat for one that another node ends)."""
        _check_job_id(job_id)
        if caller is not None:
            self._access(job_id, caller)
        future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
        if not tell_quietly(self._manager, AwaitJob(job_id, future)):
            raise ServiceBusyError("the service has stopped")
        try:
            status = future.get(timeout=timeout)
        except pykka.Timeout:
            raise TimeoutError(f"job {job_id} still running after {timeout} s") from None
        except pykka.ActorDeadError:
            raise ServiceBusyError("the service has stopped") from None
        if status is None:
            raise UnknownJobError(job_id)
        return status

    def cancel(self, job_id: int, *, caller: Principal | None = None) -> dict[str, Any]:
        """Cancel a job: ``{"status", "job_id", ..., "cancelled": true|false}``.

        The job ends ``cancelled`` at once, on every node (the status is its final
        one): no image of it starts after this, and outcomes of images that were in
        flight are not recorded. ``cancelled`` is false when there was nothing to do:
        the job had ended (the status is its final one), or a cancel came before.
        """
        answer = self.cancel_job(job_id, caller=caller)
        return {**answer.status.to_dict(), "cancelled": answer.cancelled}

    def cancel_job(self, job_id: int, *, caller: Principal | None = None) -> CancelAnswer:
        """Typed form of ``cancel()``: the store ends the job for every node at once;
        this node stops its chunks of it now, the others at their next heartbeat."""
        self._allowed(job_id, caller)
        answer: CancelAnswer | None = self._ask(self._store, CancelStored(job_id))
        if answer is None:
            raise UnknownJobError(job_id)
        # Asked, not told: once this returns, the dispatcher has the withdrawal of the
        # job's offers in its inbox, so at most the images already handed out still run.
        self._ask(self._manager, CancelHere(job_id, answer.status if answer.cancelled else None))
        return answer

    def cluster(self) -> tuple[int, tuple[NodeInfo, ...]]:
        """This node's id and the live nodes of its store (heard from within a lease):
        itself alone on SQLite or memory, every node sharing a PostgreSQL database."""
        node: int = self._ask(self._manager, WhichNode())
        nodes: tuple[NodeInfo, ...] = self._ask(self._store, ListNodes(self.config.lease_seconds))
        return node, nodes

    def jobs(
        self, limit: int = 50, after: int | None = None, *, caller: Principal | None = None
    ) -> dict[str, Any]:
        """Recent jobs, newest first: ``{"jobs": [status documents], "next": cursor}``.

        ``after`` is the ``next`` of the previous page (a job id: the page holds
        jobs with smaller ids); ``next`` is ``None`` on the last page. ``limit`` is
        1 to ``MAX_PAGE``. Progress of running jobs is as of the store's last commit.
        A non-admin ``caller`` sees only its own jobs.
        """
        statuses, next_cursor = self.job_page(limit, after, caller=caller)
        return {"jobs": [status.to_dict() for status in statuses], "next": next_cursor}

    def job_page(
        self, limit: int = 50, after: int | None = None, *, caller: Principal | None = None
    ) -> tuple[list[JobStatus], int | None]:
        """Typed form of ``jobs()``: the statuses and the next cursor."""
        JOB_PAGE_LIMIT.check(limit)
        if after is not None:
            JOB_PAGE_AFTER.check(after)
        question: ListJobs | ListOwnedJobs = (
            ListJobs(limit + 1, after)
            if caller is None or caller.admin
            else ListOwnedJobs(limit + 1, after, caller.name)
        )
        found: list[JobStatus] = self._ask(self._store, question)
        page = found[:limit]
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
        _, queued = self._ask(self._store, CountOngoing())
        text: bytes = self._ask(self._metrics, RenderMetrics(self.pool_stats(), queued))
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
        _, queued = self._ask(self._store, CountOngoing())
        figures: ServiceFigures = self._ask(self._metrics, GetServiceFigures(pool, queued))
        return figures

    def stop(self) -> None:
        """Stop jobs first, then the workers, then the job store (which commits what it
        holds), each bounded by ``config.stop_timeout``.

        Idempotent. Threads that do not finish in time are daemons and cannot keep
        the process alive. Unfinished jobs stay in the store and resume on the next
        start with the same data.
        """
        # Metrics last: the jobs and workers stopping before it may still report to it.
        refs = (self._manager, self._dispatcher, self._webhooks, self._store, self._metrics)
        for ref in (r for r in refs if r is not None):
            try:
                ref.stop(timeout=self.config.stop_timeout)
            except pykka.Timeout:
                logger.warning("%s did not stop within %.1f s", ref, self.config.stop_timeout)
        if self._delay_line is not None:
            self._delay_line.stop(self.config.stop_timeout)

    def _allowed(self, job_id: int, caller: Principal | None) -> None:
        """``_access`` for reads that find an unknown job themselves: with no caller to
        check (an open service, an embedding program) the job's meta is not read."""
        _check_job_id(job_id)
        if caller is not None:
            self._access(job_id, caller)

    def _access(self, job_id: int, caller: Principal | None) -> JobMeta:
        """The job's meta, if ``caller`` may see the job; else, as for a job that does
        not exist, ``UnknownJobError``: no hint that someone else's job is there."""
        _check_job_id(job_id)
        meta: JobMeta | None = self._ask(self._store, ReadJobMeta(job_id))
        if meta is None or not (caller is None or caller.admin or meta.owner == caller.name):
            raise UnknownJobError(job_id)
        return meta

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


def _fingerprint(submission: Submission) -> str:
    """A hash of what the submission asks for, the same however its JSON was spelt
    (key order, spacing): what "the same body" means for an idempotent replay."""
    document = {
        "visits": [[v.store_id, v.visit_time, list(v.image_urls)] for v in submission.visits],
        "callback_url": submission.callback_url,
    }
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _check_idempotency_key(key: object) -> None:
    if (
        not isinstance(key, str)
        or not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY
        or not all("!" <= c <= "~" for c in key)
    ):
        raise ValidationError(
            "Idempotency-Key",
            f"must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters, no spaces "
            "(a UUID is usual)",
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
