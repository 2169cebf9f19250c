"""JobManager: this node's share of the work: claims, leases, chunk actors, waiters.

Every store runs the same protocol (``retailpulse.stores.jobstore``): jobs are not
handed to a node at submit; each node's manager claims chunks of any job for what
its pipeline can start soon, and runs one ``ChunkActor`` per chunk. The store
decides a job's final status in the commit that records its last outcome, and
tells the manager of the node that made that commit, which wakes whoever waits
for the job here. With SQLite or memory there is one node; with PostgreSQL many.

Cancel: the node where it is asked stops its chunks of the job at once; every
other node learns it from its next heartbeat (once a second), whose answer names
the jobs of its chunks that have ended. That heartbeat is also how a node that
stalled past its lease learns that its chunk was taken over.
"""

import logging
import math
import threading
from typing import Any

import pykka

from retailpulse.actors.chunk import ChunkFactory
from retailpulse.actors.messages import (
    AnyRef,
    AwaitJob,
    Beat,
    BeatDone,
    CancelHere,
    CancelJob,
    ChunkDone,
    ChunkDrained,
    ChunksClaimed,
    ClaimChunks,
    JobEnded,
    JobFinished,
    PollEnded,
    ReleaseNode,
    RunJob,
    StatusesPolled,
    WhichNode,
    WithdrawOffer,
)
from retailpulse.actors.refs import stop_and_wait, tell_quietly
from retailpulse.logs import log_event
from retailpulse.model import JobStatus
from retailpulse.ports import Clock
from retailpulse.stores.jobstore import CHUNK_SIZE, Chunk

__all__ = ["JobManager", "ManagerTick"]

logger = logging.getLogger(__name__)


class ManagerTick:
    """Ticker thread -> job manager: beat, claim, poll awaited jobs when due."""


def _tick(actor: pykka.ActorRef[Any], every: float, stopped: threading.Event) -> None:
    """The ticker's whole life; it touches no state (a timer is what pykka lacks)."""
    while not stopped.wait(every):
        if not tell_quietly(actor, ManagerTick()):
            return


class JobManager(pykka.ThreadingActor):
    """One node's share of the work: claims, leases, chunk actors, waiters.

    It holds ``ahead`` chunks with images still to hand out (enough to keep its GPU
    slots busy about twice over), so it never sits on work another node could start;
    a chunk whose images are all in work (``ChunkDrained``) makes room for the next
    (up to ``ahead`` such chunks). When they are
    all taken it still looks, when a job is submitted here and once a heartbeat, for
    jobs no node has started, and takes their first chunks (up to ``ahead`` more):
    a small job submitted behind big ones starts at once, its images taking turns
    with theirs at the dispatcher, instead of waiting for one of their chunks to end.
    Every ``heartbeat`` seconds it renews its leases (``lease`` seconds long); a node
    that dies stops renewing and its chunks go to the others when the leases run out.
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
        events: AnyRef | None = None,
        dispatcher: AnyRef | None = None,
    ) -> None:
        super().__init__()
        self._events = events  # the metrics actor; None tells nobody
        self._dispatcher = dispatcher
        self._start_chunk = start_chunk
        self._store = store
        self._node = node
        self._clock = clock
        self._lease = lease
        self._heartbeat = heartbeat
        self._stop_timeout = stop_timeout
        self._ahead = max(2, math.ceil(2 * gpu_slots / CHUNK_SIZE))
        self._chunks: dict[tuple[int, int], AnyRef] = {}
        self._drained: set[tuple[int, int]] = set()
        """Chunks whose every image is in work or done: they no longer take up room."""
        self._claiming = False
        self._look_for_new = False
        """Whether to look for jobs nobody has started when there is no room."""
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
            name="job-manager-ticker",
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
        if isinstance(message, WhichNode):
            return self._node
        if isinstance(message, JobFinished | StatusesPolled | AwaitJob):
            self._waiting_for(message)
        elif isinstance(message, RunJob):
            self._look_for_new = True  # a new job: claim at once rather than at the next tick
            self._tick()
        elif isinstance(message, ManagerTick):
            self._tick()
        elif isinstance(message, ChunksClaimed):
            self._claimed(message.chunks)
        elif isinstance(message, ChunkDrained):
            if (message.job_id, message.number) in self._chunks:
                self._drained.add((message.job_id, message.number))
            self._claim()
        elif isinstance(message, ChunkDone):
            self._chunks.pop((message.job_id, message.number), None)
            self._drained.discard((message.job_id, message.number))
            self._claim()
        elif isinstance(message, BeatDone):
            self._stop_lost(message.beat.ended, message.beat.held)
        elif isinstance(message, CancelHere):
            self._stop_lost(frozenset({message.job_id}), None)
            if message.status is not None:
                self._ended(message.status)
        else:
            return super().on_receive(message)
        return None

    def _waiting_for(self, message: JobFinished | StatusesPolled | AwaitJob) -> None:
        """Waiters for a job's end: woken by this node's commits (``JobFinished``) or,
        for jobs other nodes finish, by polling the store once a heartbeat."""
        if isinstance(message, JobFinished):
            self._ended(message.status)
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
            self._look_for_new = True  # jobs submitted to other nodes
            tell_quietly(self._store, Beat(self._node, self._lease, self.actor_ref))
        if self._waiters and now >= self._next_poll:
            self._next_poll = now + self._heartbeat
            tell_quietly(self._store, PollEnded(tuple(self._waiters), self.actor_ref))
        self._claim()

    def _claim(self) -> None:
        if self._claiming:
            return  # one claim at a time: its answer says whether to ask again
        # A chunk whose images are all in work is about to end: its room goes to the
        # next one now, or the GPU slots would idle through its last images' GPU time.
        # At most ``ahead`` of them count so: a flood of one-image jobs must not start
        # a chunk actor (a thread) for every image in work.
        filling = len(self._chunks) - min(len(self._drained), self._ahead)
        room = self._ahead - filling
        extra = 2 * self._ahead - filling
        if room > 0:
            claim = ClaimChunks(self._node, room, self._lease, self.actor_ref)
        elif self._look_for_new and extra > 0:
            self._look_for_new = False
            limit = min(self._ahead, extra)
            claim = ClaimChunks(self._node, limit, self._lease, self.actor_ref, new_jobs_only=True)
        else:
            return
        self._claiming = tell_quietly(self._store, claim)

    def _claimed(self, chunks: tuple[Chunk, ...]) -> None:
        self._claiming = False
        for chunk in chunks:
            key = (chunk.job_id, chunk.number)
            if key not in self._chunks:
                self._chunks[key] = self._start_chunk(chunk, self.actor_ref)
        if chunks:
            self._claim()  # there was work: see whether there is more room for it

    def _stop_lost(self, ended: frozenset[int], held: frozenset[tuple[int, int]] | None) -> None:
        """Stop the chunks of ended jobs, and those this node no longer holds.

        The dispatcher is told to withdraw their offers now, not only by each chunk
        when it reads its ``CancelJob``: one message fewer before the dispatcher hands
        out no more of their images (the chunk's own withdrawal then finds nothing
        left, or covers an offer it made after this one arrived)."""
        for key, ref in list(self._chunks.items()):
            if key[0] in ended or (held is not None and key not in held):
                if self._dispatcher is not None:
                    tell_quietly(self._dispatcher, WithdrawOffer(ref))
                tell_quietly(ref, CancelJob(key[0]))

    def _ended(self, status: JobStatus) -> None:
        """A job's end was committed by this node (its last outcome, or a cancel asked
        here): said once, here, in the log and the metrics, and its waiters woken."""
        seconds = (status.finished_at or status.submitted_at) - status.submitted_at
        log_event(
            logger,
            logging.INFO,
            "job_finished",
            job=status.job_id,
            status=status.state.value,
            images=status.progress.total,
            done=status.progress.done,
            failed=status.progress.failed,
            seconds=seconds,
        )
        if self._events is not None:
            tell_quietly(self._events, JobEnded(status.job_id, status.state.value))
        self._wake(status.job_id, status)

    def _wake(self, job_id: int, status: JobStatus | None) -> None:
        for future in self._waiters.pop(job_id, []):
            future.set(status)
