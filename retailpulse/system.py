"""The embedding API: start the actor system, talk to it from ordinary threads.

Everything here runs on the caller's thread and only ``ask``s actors, which is
the one place the actor rules allow blocking on an answer. The HTTP layer is a
thin adapter over this class, so embedding programs get the same behaviour.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pykka

from retailpulse.actors import (
    Dispatcher,
    GetPoolStats,
    ImageWorker,
    JobActor,
    JobManager,
    JobOrder,
    PoolStats,
)
from retailpulse.actors.messages import AnyRef, AwaitJob, FindJob, GetResults, GetStatus, SubmitJob
from retailpulse.config import ServiceConfig, env_flag
from retailpulse.errors import LimitExceededError, ServiceBusyError, UnknownJobError
from retailpulse.fetching import HttpFetcher
from retailpulse.lifecycle import Service
from retailpulse.model import JobResults, JobStatus
from retailpulse.ports import (
    Clock,
    FetcherFactory,
    RandomSource,
    Sleeper,
    default_clock,
    default_random,
    default_sleeper,
)
from retailpulse.stores import DEFAULT_STORE_MASTER, StoreMaster, load_store_master
from retailpulse.submission import Submission, parse_submission

__all__ = ["ALLOW_PRIVATE_ENV", "System", "start"]

logger = logging.getLogger(__name__)

ALLOW_PRIVATE_ENV = "RETAILPULSE_ALLOW_PRIVATE_URLS"


class System(Service):
    """A running Retail Pulse service: submit jobs, read their status and results.

    Use ``retailpulse.start()`` to make one; use it as a context manager or call
    ``stop()`` so its threads end.
    """

    def __init__(
        self, config: ServiceConfig, store_master: StoreMaster, manager: AnyRef, dispatcher: AnyRef
    ) -> None:
        self.config = config
        self.store_master = store_master
        self._manager = manager
        self._dispatcher = dispatcher

    def submit(self, payload: Mapping[str, Any] | Submission) -> int:
        """Validate ``payload`` (the submit JSON as a dict) and start a job; return its id.

        Raises ``ValidationError`` naming the field when the payload is malformed,
        ``LimitExceededError`` (one of those) when it holds more than
        ``config.max_images_per_job`` images.
        """
        submission = payload if isinstance(payload, Submission) else parse_submission(payload)
        _check_job_size(submission, self.config.max_images_per_job)
        job_id: int = self._ask(self._manager, SubmitJob(submission))
        return job_id

    def status(self, job_id: int) -> dict[str, Any]:
        """The status document: ``{"status", "job_id", ["error"], "progress", ...}``."""
        return self.job_status(job_id).to_dict()

    def results(self, job_id: int) -> dict[str, Any]:
        """The status document plus ``images``: every image's size or error, in order."""
        return self.job_results(job_id).to_dict()

    def job_status(self, job_id: int) -> JobStatus:
        """Typed form of ``status()``."""
        found = self._find(job_id, GetStatus())
        return found.status if isinstance(found, JobResults) else found

    def job_results(self, job_id: int) -> JobResults:
        """Typed form of ``results()``."""
        found = self._find(job_id, GetResults())
        assert isinstance(found, JobResults)
        return found

    def wait(self, job_id: int, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job ends and return its final status document.

        Raises ``TimeoutError`` if it is still running after ``timeout`` seconds.
        """
        _check_job_id(job_id)
        future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
        try:
            self._manager.tell(AwaitJob(job_id, future))
            status = future.get(timeout=timeout)
        except pykka.Timeout:
            raise TimeoutError(f"job {job_id} still running after {timeout} s") from None
        except pykka.ActorDeadError:
            raise ServiceBusyError("the service has stopped") from None
        if status is None:
            raise UnknownJobError(job_id)
        return status.to_dict()

    def pool_stats(self) -> PoolStats:
        """Worker pool figures: size, idle workers, jobs waiting, workers replaced."""
        stats: PoolStats = self._ask(self._dispatcher, GetPoolStats())
        return stats

    def stop(self) -> None:
        """Stop jobs first, then the workers, each bounded by ``config.stop_timeout``.

        Idempotent. Threads that do not finish in time are daemons and cannot keep
        the process alive.
        """
        for ref in (self._manager, self._dispatcher):
            try:
                ref.stop(timeout=self.config.stop_timeout)
            except pykka.Timeout:
                logger.warning("%s did not stop within %.1f s", ref, self.config.stop_timeout)

    def _find(self, job_id: int, question: GetStatus | GetResults) -> JobStatus | JobResults:
        _check_job_id(job_id)
        # A job that finishes between the two asks has stopped its actor and left its
        # record with the manager; asking the manager again then finds the record.
        for _ in range(3):
            found = self._ask(self._manager, FindJob(job_id))
            if found is None:
                raise UnknownJobError(job_id)
            if isinstance(found, JobResults):
                return found
            try:
                answer: JobStatus | JobResults = found.ask(
                    question, timeout=self.config.ask_timeout
                )
            except pykka.ActorDeadError:
                continue
            except pykka.Timeout:
                raise ServiceBusyError(f"job {job_id} did not answer in time") from None
            return answer
        raise ServiceBusyError(f"job {job_id} could not be read")

    def _ask(self, ref: AnyRef, question: object) -> Any:
        try:
            return ref.ask(question, timeout=self.config.ask_timeout)
        except pykka.Timeout:
            raise ServiceBusyError(f"{ref.actor_class.__name__} did not answer in time") from None
        except pykka.ActorDeadError:
            raise ServiceBusyError("the service has stopped") from None


def _check_job_size(submission: Submission, limit: int) -> None:
    images = sum(len(visit.image_urls) for visit in submission.visits)
    if images > limit:
        raise LimitExceededError(
            "visits", f"hold {images} images in all; a job may hold at most {limit}"
        )


def _check_job_id(job_id: object) -> None:
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        raise UnknownJobError(job_id)


def start(
    config: ServiceConfig | None = None,
    *,
    store_master: StoreMaster | str | Path | None = None,
    fetcher_factory: FetcherFactory | None = None,
    sleeper: Sleeper | None = None,
    random_factory: Callable[[], RandomSource] | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> System:
    """Start a Retail Pulse actor system and return it, running.

    ``settings`` override fields of ``ServiceConfig`` (``workers=8``,
    ``allow_private_urls=True``...). When ``allow_private_urls`` is not given, the
    environment variable ``RETAILPULSE_ALLOW_PRIVATE_URLS=1`` turns it on.
    The keyword-only hooks replace side effects, for tests and simulations.
    """
    config = config or ServiceConfig()
    if "allow_private_urls" not in settings and env_flag(ALLOW_PRIVATE_ENV):
        settings["allow_private_urls"] = True
    config = replace(config, **settings)
    if not isinstance(store_master, StoreMaster):
        store_master = load_store_master(store_master or DEFAULT_STORE_MASTER)
    make_fetcher = fetcher_factory or (lambda: HttpFetcher(config))
    sleep = sleeper or default_sleeper
    make_random = random_factory or default_random
    now = clock or default_clock
    sleep_range = (config.min_sleep, config.max_sleep)

    def start_worker(dispatcher: AnyRef) -> AnyRef:
        return ImageWorker.start(dispatcher, make_fetcher(), sleep, make_random(), sleep_range)

    dispatcher = Dispatcher.start(config.workers, start_worker, config.stop_timeout)

    def start_job(order: JobOrder, manager: AnyRef) -> AnyRef:
        return JobActor.start(
            order.job_id,
            order.images,
            order.submitted_at,
            manager=manager,
            dispatcher=dispatcher,
            store_master=store_master,
            clock=now,
        )

    manager = JobManager.start(
        start_job,
        clock=now,
        max_active_jobs=config.max_active_jobs,
        stop_timeout=config.stop_timeout,
    )
    return System(config, store_master, manager, dispatcher)
