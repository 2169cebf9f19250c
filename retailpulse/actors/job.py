"""JobActor: one per job; owns that job's per-image outcomes and decides its status."""

import logging
import sys
from types import TracebackType
from typing import Any

import pykka

from retailpulse.actors.events import JobEnded, JobStarted
from retailpulse.actors.messages import (
    AnyRef,
    GetResults,
    GetStatus,
    ImageDone,
    JobFinished,
    ProcessImage,
    WantWorkers,
    WorkerGranted,
    WorkerIdle,
)
from retailpulse.actors.refs import tell_quietly
from retailpulse.logs import log_event
from retailpulse.model import (
    ImageOutcome,
    JobResults,
    JobState,
    JobStatus,
    Progress,
    summarize_failures,
)
from retailpulse.ports import Clock
from retailpulse.stores import StoreMaster
from retailpulse.submission import ImageSpec

__all__ = ["JobActor"]

logger = logging.getLogger(__name__)


class JobActor(pykka.ThreadingActor):
    """Drives one job from first grant to final record.

    Images of stores missing from the store master fail at once and are never
    downloaded. The rest are handed out one per granted worker, in submission
    order; each outcome is recorded exactly once. When every image has an outcome
    the actor sends its final ``JobResults`` to the manager and stops, so a finished
    job costs no thread.
    """

    use_daemon_thread = True

    def __init__(
        self,
        job_id: int,
        images: tuple[ImageSpec, ...],
        submitted_at: float,
        *,
        manager: AnyRef,
        dispatcher: AnyRef,
        store_master: StoreMaster,
        clock: Clock,
        events: AnyRef | None = None,
    ) -> None:
        super().__init__()
        self._job_id = job_id
        self._images = images
        self._submitted_at = submitted_at
        self._manager = manager
        self._dispatcher = dispatcher
        self._store_master = store_master
        self._clock = clock
        self._events = events  # the metrics actor; None tells nobody
        self._outcomes: list[ImageOutcome | None] = [None] * len(images)
        self._todo: list[int] = []
        self._cursor = 0
        self._done = 0
        self._failed = 0
        self._finished_at: float | None = None

    def on_start(self) -> None:
        # pykka does not call on_failure when on_start raises; do it here so that
        # the job still ends (failed) instead of staying ongoing forever.
        try:
            self._begin()
        except Exception:
            self.on_failure(*sys.exc_info())
            raise

    def _begin(self) -> None:
        self._todo = [
            i for i, spec in enumerate(self._images) if spec.store_id in self._store_master
        ]
        log_event(
            logger,
            logging.INFO,
            "job_started",
            job=self._job_id,
            images=len(self._images),
            to_download=len(self._todo),
        )
        self._tell_events(
            JobStarted(self._job_id, self.actor_ref.actor_urn, len(self._images), len(self._todo))
        )
        for index, spec in enumerate(self._images):
            if spec.store_id not in self._store_master:
                reason = (
                    f"store_id {spec.store_id} is not in the store master; "
                    "its images were not downloaded"
                )
                self._record(index, ImageOutcome.failed(reason))
        if self._todo:
            tell_quietly(self._dispatcher, WantWorkers(self.actor_ref, len(self._todo)))
        self._finish_if_done()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, WorkerGranted):
            self._hand_out(message.worker)
        elif isinstance(message, ImageDone):
            self._record(message.index, message.outcome)
            self._finish_if_done()
        elif isinstance(message, GetStatus):
            return self._status()
        elif isinstance(message, GetResults):
            return self._results()
        else:
            return super().on_receive(message)
        return None

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A bug in this actor must still end the job, or its callers would wait forever."""
        reason = f"internal error in job {self._job_id} ({exception_value!r})"
        for index, outcome in enumerate(self._outcomes):
            if outcome is None:
                self._record(index, ImageOutcome.failed(reason))
        self._finish_if_done()

    def _hand_out(self, worker: AnyRef) -> None:
        if self._cursor >= len(self._todo):
            tell_quietly(self._dispatcher, WorkerIdle(worker))
            return
        index = self._todo[self._cursor]
        if tell_quietly(worker, ProcessImage(self.actor_ref, index, self._images[index].url)):
            self._cursor += 1
        else:
            # The worker died between grant and use: return it for replacement and
            # ask again for the slot this image still needs.
            tell_quietly(self._dispatcher, WorkerIdle(worker))
            tell_quietly(self._dispatcher, WantWorkers(self.actor_ref, 1))

    def _record(self, index: int, outcome: ImageOutcome) -> None:
        if self._outcomes[index] is not None:
            logger.warning("job %d: duplicate outcome for image %d ignored", self._job_id, index)
            return
        self._outcomes[index] = outcome
        self._done += 1
        if outcome.error is not None:
            self._failed += 1
            spec = self._images[index]
            log_event(
                logger,
                logging.WARNING,
                "image_failed",
                job=self._job_id,
                store=spec.store_id,
                url=spec.url,
                reason=outcome.error,
            )

    def _finish_if_done(self) -> None:
        if self._finished_at is not None or self._done < len(self._images):
            return
        self._finished_at = self._clock()
        results = self._results()
        state = results.status.state.value
        log_event(
            logger,
            logging.INFO,
            "job_finished",
            job=self._job_id,
            status=state,
            images=len(self._images),
            failed=self._failed,
            seconds=self._finished_at - self._submitted_at,
        )
        # Metrics first: once the manager has the record, a waiter may scrape at once.
        urn = self.actor_ref.actor_urn
        self._tell_events(JobEnded(self._job_id, urn, state, len(self._images), self._failed))
        tell_quietly(self._manager, JobFinished(self._job_id, results))
        if self.actor_ref.is_alive():  # not so when on_failure finishes the job
            self.stop()

    def _tell_events(self, event: object) -> None:
        if self._events is not None:
            tell_quietly(self._events, event)

    def _status(self) -> JobStatus:
        progress = Progress(len(self._images), self._done, self._failed)
        if self._finished_at is None:
            return JobStatus(self._job_id, JobState.ONGOING, progress, self._submitted_at)
        errors = summarize_failures(self._images, self._outcomes)
        return JobStatus(
            self._job_id,
            JobState.FAILED if errors else JobState.COMPLETED,
            progress,
            self._submitted_at,
            finished_at=self._finished_at,
            errors=errors,
        )

    def _results(self) -> JobResults:
        return JobResults(self._status(), self._images, tuple(self._outcomes))
