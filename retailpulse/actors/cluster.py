"""The cluster side of a node: it claims chunks from the shared job store, runs
them, keeps their leases alive, and stops work that was cancelled or taken over.

Used when the job store is shared (PostgreSQL). ``ClusterManager`` takes the
``JobManager``'s place: jobs are not handed to it at submit; it claims chunks of
any node's jobs for what its pipeline can start soon. One ``ChunkActor`` per
claimed chunk offers the chunk's images to the Dispatcher once and tells the job
store each outcome; the store decides a job's final status in the commit that
records its last outcome, whichever node that is, and tells this manager, which
wakes whoever waits for the job here.

Cancel: the node where it is asked stops its chunks of the job at once; every
other node learns it from its next heartbeat (once a second), whose answer names
the jobs of its chunks that have ended. That heartbeat is also how a node that
stalled past its lease learns that its chunk was taken over.
"""

import logging
import math
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    AwaitJob,
    Batch,
    Beat,
    BeatDone,
    CancelHere,
    CancelJob,
    ChunkDone,
    ChunksClaimed,
    ClaimChunks,
    FindJob,
    ImageDone,
    JobFinished,
    OfferImages,
    OfferWithdrawn,
    PollEnded,
    QueuedJobs,
    RecordChunkOutcomes,
    ReleaseNode,
    RunJob,
    StatusesPolled,
    WhichNode,
    WithdrawOffer,
)
from retailpulse.actors.refs import stop_and_wait, tell_quietly
from retailpulse.model import ImageOutcome, JobStatus
from retailpulse.ports import Clock
from retailpulse.stores.jobstore import CHUNK_SIZE, Chunk

__all__ = ["ChunkActor", "ChunkFactory", "ClusterManager", "ClusterTick", "chunk_factory"]

logger = logging.getLogger(__name__)

ChunkFactory = Callable[[Chunk, AnyRef], AnyRef]
"""Starts the actor that runs one claimed chunk, reporting to the given manager."""


class ClusterTick:
    """Ticker thread -> cluster manager: beat, claim, poll awaited jobs when due."""


def _tick(actor: pykka.ActorRef[Any], every: float, stopped: threading.Event) -> None:
    """The ticker's whole life; it touches no state (a timer is what pykka lacks)."""
    while not stopped.wait(every):
        if not tell_quietly(actor, ClusterTick()):
            return


class ChunkActor(pykka.ThreadingActor):
    """Runs one claimed chunk: offers its images to the Dispatcher once, tells the job
    store each outcome (in bursts), and tells the manager when all have reported.

    Images of stores the job did not know at submit fail at once, never downloaded;
    images that already have an outcome (``Chunk.done``, from a node that held the
    chunk before) are not offered at all.
    """

    use_daemon_thread = True

    def __init__(self, chunk: Chunk, *, manager: AnyRef, dispatcher: AnyRef, store: AnyRef) -> None:
        super().__init__()
        self._chunk = chunk
        self._manager = manager
        self._dispatcher = dispatcher
        self._store = store
        self._waiting = 0
        """Images offered whose outcome has not come back yet."""
        self._withdrawn = False
        self._finished = False
        self._unsaved: list[tuple[int, ImageOutcome]] = []

    def on_start(self) -> None:
        chunk = self._chunk
        offer: list[int] = []
        for index, spec in chunk.todo():
            if spec.store_id in chunk.stores:
                offer.append(index - chunk.first)
            else:
                reason = (
                    f"store_id {spec.store_id} is not in the store master; "
                    "its images were not downloaded"
                )
                self._unsaved.append((index, ImageOutcome.failed(reason)))
        self._waiting = len(offer)
        if offer:
            tell_quietly(self._dispatcher, OfferImages(self.actor_ref, chunk.images, tuple(offer)))
        self._save()
        self._finish_if_done()

    def on_receive(self, message: Any) -> Any:
        self._handle(message)
        if self._unsaved and self.actor_inbox.empty():
            self._save()
        self._finish_if_done()
        return None

    def _handle(self, message: Any) -> None:
        if isinstance(message, ImageDone):
            # The offer's indexes are the chunk's own (0 .. size - 1).
            self._unsaved.append((self._chunk.first + message.index, message.outcome))
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
        saved = {index for index, _ in self._unsaved}
        self._unsaved += [
            (index, ImageOutcome.failed(reason))
            for index, _ in self._chunk.todo()
            if index not in saved
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
            tell_quietly(self._manager, ChunkDone(self._chunk.job_id, self._chunk.number))
            self.stop()


class ClusterManager(pykka.ThreadingActor):
    """One node's share of the cluster's work: claims, leases, chunk actors, waiters.

    It holds at most ``ahead`` chunks at a time (enough to keep its GPU slots busy
    about twice over), so it never sits on work another node could start. Every
    ``heartbeat`` seconds it renews its leases (``lease`` seconds long); a node that
    dies stops renewing and its chunks go to the others when the leases run out.
    """

    use_daemon_thread = True

    def __init__(
        self,
        start_chunk: ChunkFactory,
        store: AnyRef,
        *,
        node: int,
        gpu_slots: int,
        clock: Clock,
        lease: float = 15.0,
        heartbeat: float = 1.0,
        stop_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self._start_chunk = start_chunk
        self._store = store
        self._node = node
        self._clock = clock
        self._lease = lease
        self._heartbeat = heartbeat
        self._stop_timeout = stop_timeout
        self._ahead = max(2, math.ceil(2 * gpu_slots / CHUNK_SIZE))
        self._chunks: dict[tuple[int, int], AnyRef] = {}
        self._claiming = False
        self._next_beat = 0.0
        self._next_poll = 0.0
        self._waiters: dict[int, list[pykka.Future[JobStatus | None]]] = {}
        self._ticker_stopped = threading.Event()

    @property
    def node(self) -> int:
        return self._node

    def on_start(self) -> None:
        threading.Thread(
            target=_tick,
            args=(self.actor_ref, min(0.25, self._heartbeat / 2), self._ticker_stopped),
            name="cluster-ticker",
            daemon=True,
        ).start()
        self._tick()

    def on_stop(self) -> None:
        self._ticker_stopped.set()
        stop_and_wait(list(self._chunks.values()), self._stop_timeout)
        # Its leases go at once: the other nodes need not wait for them to run out.
        tell_quietly(self._store, ReleaseNode(self._node))
        for futures in self._waiters.values():
            for future in futures:
                error = pykka.ActorDeadError(f"{self.actor_ref} stopped before the job finished")
                future.set_exception((pykka.ActorDeadError, error, None))
        self._waiters.clear()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, FindJob | CancelJob):
            return None  # reads and cancels go to the store: any node, any job
        if isinstance(message, QueuedJobs):
            return frozenset()
        if isinstance(message, WhichNode):
            return self._node
        if isinstance(message, JobFinished | StatusesPolled | AwaitJob):
            self._waiting_for(message)
        elif isinstance(message, ClusterTick | RunJob):
            self._tick()  # a new job: claim at once rather than at the next tick
        elif isinstance(message, ChunksClaimed):
            self._claimed(message.chunks)
        elif isinstance(message, ChunkDone):
            self._chunks.pop((message.job_id, message.number), None)
            self._claim()
        elif isinstance(message, BeatDone):
            self._stop_lost(message.beat.ended, message.beat.held)
        elif isinstance(message, CancelHere):
            self._stop_lost(frozenset({message.job_id}), None)
        else:
            return super().on_receive(message)
        return None

    def _waiting_for(self, message: JobFinished | StatusesPolled | AwaitJob) -> None:
        """Waiters for a job's end: woken by this node's commits (``JobFinished``) or,
        for jobs other nodes finish, by polling the store once a heartbeat."""
        if isinstance(message, JobFinished):
            self._wake(message.job_id, message.status)
        elif isinstance(message, StatusesPolled):
            for job_id, status in message.statuses:
                if status is None or status.terminal:
                    self._wake(job_id, status)
        else:
            self._waiters.setdefault(message.job_id, []).append(message.future)
            self._next_poll = 0.0  # it may have ended already: ask the store now
            self._tick()

    def _tick(self) -> None:
        now = self._clock()
        if now >= self._next_beat:
            self._next_beat = now + self._heartbeat
            tell_quietly(self._store, Beat(self._node, self._lease, self.actor_ref))
        if self._waiters and now >= self._next_poll:
            self._next_poll = now + self._heartbeat
            tell_quietly(self._store, PollEnded(tuple(self._waiters), self.actor_ref))
        self._claim()

    def _claim(self) -> None:
        room = self._ahead - len(self._chunks)
        if room > 0 and not self._claiming:
            self._claiming = True
            tell_quietly(self._store, ClaimChunks(self._node, room, self._lease, self.actor_ref))

    def _claimed(self, chunks: tuple[Chunk, ...]) -> None:
        self._claiming = False
        for chunk in chunks:
            key = (chunk.job_id, chunk.number)
            if key not in self._chunks:
                self._chunks[key] = self._start_chunk(chunk, self.actor_ref)
        if chunks:
            self._claim()  # there was work: see whether there is more room for it

    def _stop_lost(self, ended: frozenset[int], held: frozenset[tuple[int, int]] | None) -> None:
        """Stop the chunks of ended jobs, and those this node no longer holds."""
        for key, ref in list(self._chunks.items()):
            if key[0] in ended or (held is not None and key not in held):
                tell_quietly(ref, CancelJob(key[0]))

    def _wake(self, job_id: int, status: JobStatus | None) -> None:
        for future in self._waiters.pop(job_id, []):
            future.set(status)


def chunk_factory(dispatcher: AnyRef, store: AnyRef) -> ChunkFactory:
    """What ``start()`` gives the cluster manager to run one chunk (the chunk carries
    the job's known stores, as they were at submit)."""

    def start_chunk(chunk: Chunk, manager: AnyRef) -> AnyRef:
        return ChunkActor.start(chunk, manager=manager, dispatcher=dispatcher, store=store)

    return start_chunk
