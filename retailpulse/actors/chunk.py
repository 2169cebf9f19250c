"""ChunkActor: runs one claimed chunk of a job on this node.

A job's images are stored in chunks (``CHUNK_SIZE``); the node's ``JobManager``
claims chunks from the job store and starts one ``ChunkActor`` for each. The
actor offers the chunk's images to the Dispatcher once, hears each outcome, and
tells the job store each burst of them; the store decides the job's final status
in the commit that records its last outcome, whichever chunk (or node) that is.
"""

import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    Batch,
    CancelJob,
    ChunkDone,
    ChunkDrained,
    ChunkEnded,
    ChunkStarted,
    ImageDone,
    OfferDrained,
    OfferImages,
    OfferWithdrawn,
    RecordChunkOutcomes,
    WithdrawOffer,
)
from retailpulse.actors.refs import tell_quietly
from retailpulse.logs import log_event
from retailpulse.model import ImageOutcome
from retailpulse.stores.jobstore import Chunk

__all__ = ["ChunkActor", "ChunkFactory", "chunk_factory"]

logger = logging.getLogger(__name__)

ChunkFactory = Callable[[Chunk, AnyRef], AnyRef]
"""Starts the actor that runs one claimed chunk, reporting to the given manager."""


class ChunkActor(pykka.ThreadingActor):
    """Runs one claimed chunk: offers its images to the Dispatcher once, tells the job
    store each outcome (in bursts), and tells the manager when all have reported.

    Images of stores the job did not know at submit fail at once, never downloaded;
    images that already have an outcome (``Chunk.done``: recorded before a restart,
    or by a node that held the chunk before) are not offered at all.
    """

    use_daemon_thread = True

    def __init__(
        self,
        chunk: Chunk,
        *,
        manager: AnyRef,
        dispatcher: AnyRef,
        store: AnyRef,
        events: AnyRef | None = None,
    ) -> None:
        super().__init__()
        self._chunk = chunk
        self._manager = manager
        self._dispatcher = dispatcher
        self._store = store
        self._events = events  # the metrics actor; None tells nobody
        self._waiting = 0
        """Images offered whose outcome has not come back yet."""
        self._withdrawn = False
        self._finished = False
        self._unsaved: list[tuple[int, ImageOutcome]] = []
        """Outcomes not yet told to the store: sent together once the inbox is empty."""
        self._reported: set[int] = set()
        """Indexes that have an outcome here (told to the store or about to be)."""

    def on_start(self) -> None:
        chunk = self._chunk
        todo = chunk.todo()
        offer = [index - chunk.first for index, spec in todo if spec.store_id in chunk.stores]
        self._waiting = len(offer)
        log_event(
            logger,
            logging.INFO,
            "chunk_started",
            job=chunk.job_id,
            chunk=chunk.number,
            images=len(chunk.images),
            already_done=len(chunk.images) - len(todo),
            to_download=len(offer),
        )
        self._tell_events(
            ChunkStarted(chunk.job_id, self.actor_ref.actor_urn, len(todo), len(offer))
        )
        for index, spec in todo:
            if spec.store_id not in chunk.stores:
                reason = (
                    f"store_id {spec.store_id} is not in the store master; "
                    "its images were not downloaded"
                )
                self._outcome(index, ImageOutcome.failed(reason))
        if offer:
            tell_quietly(self._dispatcher, OfferImages(self.actor_ref, chunk.images, tuple(offer)))
        self._save()
        self._finish_if_done()

    def on_stop(self) -> None:
        # Stopped with the service: outcomes still waiting for an idle moment go to the
        # store now (it stops after the chunks), or a restart would download them again.
        self._save()
        if not self._finished:
            self._tell_events(ChunkEnded(self._chunk.job_id, self.actor_ref.actor_urn))

    def on_receive(self, message: Any) -> Any:
        self._handle(message)
        # Outcomes go to the store in one message per burst, not one per image: each
        # message to an idle actor wakes its thread, and wake-ups are what a busy 2-core
        # machine runs short of. The store batches its writes the same way.
        if self._unsaved and self.actor_inbox.empty():
            self._save()
        self._finish_if_done()
        return None

    def _handle(self, message: Any) -> None:
        if isinstance(message, ImageDone):
            # The offer's indexes are the chunk's own (0 .. size - 1).
            self._outcome(self._chunk.first + message.index, message.outcome)
            self._waiting -= 1
        elif isinstance(message, Batch):
            for each in message.messages:
                self._handle(each)
        elif isinstance(message, CancelJob):
            if not self._withdrawn:
                self._withdrawn = True
                if not tell_quietly(self._dispatcher, WithdrawOffer(self.actor_ref)):
                    self._waiting = 0  # no dispatcher: nothing more will report
        elif isinstance(message, OfferWithdrawn):
            self._waiting -= len(message.never_started)
        elif isinstance(message, OfferDrained):
            tell_quietly(self._manager, ChunkDrained(self._chunk.job_id, self._chunk.number))

    def _outcome(self, index: int, outcome: ImageOutcome) -> None:
        spec = self._chunk.images[index - self._chunk.first]
        self._unsaved.append((index, outcome))
        self._reported.add(index)
        if outcome.error is not None:
            log_event(
                logger,
                logging.WARNING,
                "image_failed",
                job=self._chunk.job_id,
                store=spec.store_id,
                url=spec.url,
                reason=outcome.error,
            )

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """A bug here must not leave the chunk leased to a live node forever (its
        heartbeat would renew the lease): its images left fail, the chunk ends."""
        reason = f"internal error in job {self._chunk.job_id} ({exception_value!r})"
        tell_quietly(self._dispatcher, WithdrawOffer(self.actor_ref))
        self._unsaved += [
            (index, ImageOutcome.failed(reason))
            for index, _ in self._chunk.todo()
            if index not in self._reported
        ]
        self._waiting = 0
        self._finish_if_done()

    def _save(self) -> None:
        if self._unsaved:
            outcomes = tuple(self._unsaved)
            tell_quietly(
                self._store, RecordChunkOutcomes(self._chunk.job_id, outcomes, self._manager)
            )
            self._unsaved = []

    def _finish_if_done(self) -> None:
        if self._waiting <= 0 and not self._finished:
            self._finished = True
            self._save()
            self._tell_events(ChunkEnded(self._chunk.job_id, self.actor_ref.actor_urn))
            tell_quietly(self._manager, ChunkDone(self._chunk.job_id, self._chunk.number))
            self.stop()

    def _tell_events(self, event: object) -> None:
        if self._events is not None:
            tell_quietly(self._events, event)


def chunk_factory(dispatcher: AnyRef, store: AnyRef, events: AnyRef | None = None) -> ChunkFactory:
    """What ``start()`` gives the job manager to run one chunk (the chunk carries the
    job's known stores, as they were at submit)."""

    def start_chunk(chunk: Chunk, manager: AnyRef) -> AnyRef:
        return ChunkActor.start(
            chunk, manager=manager, dispatcher=dispatcher, store=store, events=events
        )

    return start_chunk
