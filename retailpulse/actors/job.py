"""JobActor: one per job; owns that job's per-image outcomes and decides its status."""

import logging
import sys
from types import TracebackType
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    Batch,
    CancelAnswer,
    CancelJob,
    FinishJob,
    GetResults,
    GetStatus,
    ImageDone,
    JobEnded,
    JobFinished,
    JobStarted,
    OfferImages,
    OfferWithdrawn,
    RecordOutcomes,
    WithdrawOffer,
)
from retailpulse.actors.refs import tell_quietly
from retailpulse.logs import log_event
from retailpulse.model import (
    ImageOutcome,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    Progress,
    summarize_failures,
)
from retailpulse.ports import Clock
from retailpulse.stores import StoreMaster

__all__ = ["JobActor"]

logger = logging.getLogger(__name__)


class JobActor(pykka.ThreadingActor):
    """Drives one job from its offer to its final record.

    Images of stores missing from the store master fail at once and are never
    downloaded; images with an outcome from before a restart (``order.preloaded``)
    keep it. The rest are offered to the dispatcher once, in submission order
    (``OfferImages``); the dispatcher hands them to workers itself, and this actor
    hears only outcomes. Each outcome is recorded exactly once and told to the job
    store. When every image has an outcome, or after a cancel once the dispatcher
    has said which images it never handed out and the others have reported, the
    final status goes to the store; once the store says it is committed, the actor
    tells the manager and stops, so a finished job costs no thread and is never
    reported terminal before it is durable.
    """

    use_daemon_thread = True

    def __init__(
        self,
        order: JobOrder,
        *,
        manager: AnyRef,
        dispatcher: AnyRef,
        store: AnyRef,
        store_master: StoreMaster,
        clock: Clock,
        events: AnyRef | None = None,
    ) -> None:
        super().__init__()
        self._job_id = order.job_id
        self._images = order.images
        self._submitted_at = order.submitted_at
        self._preloaded = order.preloaded
        self._manager = manager
        self._dispatcher = dispatcher
        self._store = store
        self._store_master = store_master
        self._clock = clock
        self._events = events  # the metrics actor; None tells nobody
        self._outcomes: list[ImageOutcome | None] = [None] * len(order.images)
        self._todo: list[int] = []
        self._never_started: int | None = None
        """After a cancel: how many images the dispatcher never handed out (None
        until it has said)."""
        self._done = 0
        self._failed = 0
        self._cancelled = False
        self._ending: JobStatus | None = None
        """The final status, once sent to the store (reported when it is committed)."""
        self._crashed = False
        self._unsaved: list[tuple[int, ImageOutcome]] = []
        """Outcomes not yet told to the store: sent together once the inbox is empty."""

    def on_start(self) -> None:
        # pykka does not call on_failure when on_start raises; do it here so that
        # the job still ends (failed) instead of staying ongoing forever.
        try:
            self._begin()
        except Exception:
            self.on_failure(*sys.exc_info())
            raise

    def _begin(self) -> None:
        for index, outcome in self._preloaded:
            self._count(index, outcome)
        unknown_stores: list[tuple[int, ImageOutcome]] = []
        for index, spec in enumerate(self._images):
            if self._outcomes[index] is not None:
                continue
            if spec.store_id in self._store_master:
                self._todo.append(index)
            else:
                reason = (
                    f"store_id {spec.store_id} is not in the store master; "
                    "its images were not downloaded"
                )
                unknown_stores.append((index, ImageOutcome.failed(reason)))
        log_event(
            logger,
            logging.INFO,
            "job_started",
            job=self._job_id,
            images=len(self._images),
            already_done=len(self._preloaded),
            to_download=len(self._todo),
        )
        self._tell_events(
            JobStarted(self._job_id, self.actor_ref.actor_urn, len(self._images), len(self._todo))
        )
        self._record(unknown_stores)
        self._save()
        if self._todo:
            offer = OfferImages(self.actor_ref, self._images, tuple(self._todo))
            tell_quietly(self._dispatcher, offer)
        self._finish_if_done()

    def on_stop(self) -> None:
        # Stopped with the service: outcomes still waiting for an idle moment to go to
        # the store go now (the store stops after the jobs), or a restart would redo them.
        self._save()

    def on_receive(self, message: Any) -> Any:
        answer = self._handle(message)
        # Outcomes go to the store in one message per burst, not one per image: each
        # message to an idle actor wakes its thread, and wake-ups are what a busy 2-core
        # machine runs short of. The store batches its writes the same way.
        if self._unsaved and self.actor_inbox.empty():
            self._save()
        return answer

    def _handle(self, message: Any) -> Any:
        if isinstance(message, ImageDone):
            self._record([(message.index, message.outcome)])
            self._finish_if_done()
        elif isinstance(message, Batch):
            for each in message.messages:
                self._handle(each)
        elif isinstance(message, OfferWithdrawn):
            self._never_started = len(message.never_started)
            self._finish_if_done()
        elif isinstance(message, GetStatus):
            return self._status()
        elif isinstance(message, GetResults):
            return self._results()
        elif isinstance(message, CancelJob):
            return self._cancel()
        elif isinstance(message, JobFinished):
            # The store has committed the final status: now it may be reported.
            tell_quietly(self._manager, message)
            self.stop()
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
        self._crashed = True
        tell_quietly(self._dispatcher, WithdrawOffer(self.actor_ref))
        self._record(
            [(i, ImageOutcome.failed(reason)) for i, o in enumerate(self._outcomes) if o is None]
        )
        self._finish_if_done()

    def _cancel(self) -> CancelAnswer:
        """Withdraw the offer; images already handed out finish, then the job ends
        cancelled.

        Too late when the job has already ended: the answer then carries its final
        status, which is moments from being committed.
        """
        if self._ending is not None:
            return CancelAnswer(self._ending, cancelled=False)
        if self._cancelled:
            return CancelAnswer(self._status(), cancelled=False)
        self._cancelled = True
        if not tell_quietly(self._dispatcher, WithdrawOffer(self.actor_ref)):
            # No dispatcher (the service is stopping): nothing more will report.
            self._never_started = len(self._images) - self._done
        log_event(logger, logging.INFO, "job_cancelled", job=self._job_id, done=self._done)
        answer = CancelAnswer(self._status(), cancelled=True)
        self._finish_if_done()
        return answer

    def _record(self, outcomes: list[tuple[int, ImageOutcome]]) -> None:
        self._unsaved += [
            (index, outcome) for index, outcome in outcomes if self._count(index, outcome)
        ]

    def _save(self) -> None:
        if self._unsaved:
            tell_quietly(self._store, RecordOutcomes(self._job_id, tuple(self._unsaved)))
            self._unsaved = []

    def _count(self, index: int, outcome: ImageOutcome) -> bool:
        if self._outcomes[index] is not None:
            logger.warning("job %d: duplicate outcome for image %d ignored", self._job_id, index)
            return False
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
        return True

    def _finish_if_done(self) -> None:
        if self._ending is not None:
            return
        expected = len(self._images)
        if self._cancelled and not self._crashed:
            if self._never_started is None:
                return  # the dispatcher has not yet said what it never handed out
            expected -= self._never_started
        if self._done < expected:
            return
        final = self._ending = self._final_status()
        state = final.state.value
        log_event(
            logger,
            logging.INFO,
            "job_finished",
            job=self._job_id,
            status=state,
            images=len(self._images),
            done=self._done,
            failed=self._failed,
            seconds=(final.finished_at or self._submitted_at) - self._submitted_at,
        )
        # Metrics first: once the manager has the record, a waiter may scrape at once.
        urn = self.actor_ref.actor_urn
        self._tell_events(JobEnded(self._job_id, urn, state, len(self._images), self._failed))
        # After a crash (on_failure) this actor is stopping and cannot hear back: the
        # store then tells the manager directly.
        notify = self._manager if self._crashed else self.actor_ref
        self._save()  # the outcomes reach the store before the ending that depends on them
        if not tell_quietly(self._store, FinishJob(self._job_id, final, notify)):
            logger.error("job %d: the job store has stopped; its end is not durable", self._job_id)
            tell_quietly(self._manager, JobFinished(self._job_id, final))
            if not self._crashed:
                self.stop()

    def _tell_events(self, event: object) -> None:
        if self._events is not None:
            tell_quietly(self._events, event)

    def _progress(self) -> Progress:
        return Progress(len(self._images), self._done, self._failed)

    def _status(self) -> JobStatus:
        """Ongoing until the store has committed the end, however far the job has got."""
        return JobStatus(self._job_id, JobState.ONGOING, self._progress(), self._submitted_at)

    def _final_status(self) -> JobStatus:
        errors = summarize_failures(self._images, self._outcomes)
        if self._cancelled:
            state = JobState.CANCELLED
        else:
            state = JobState.FAILED if errors else JobState.COMPLETED
        return JobStatus(
            self._job_id,
            state,
            self._progress(),
            self._submitted_at,
            finished_at=self._clock(),
            errors=errors,
        )

    def _results(self) -> JobResults:
        return JobResults(self._status(), self._images, tuple(self._outcomes))
