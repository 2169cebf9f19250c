"""JobStoreActor: the one thread that touches the job store (and its database)."""

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pykka

from retailpulse.actors.messages import (
    Beat,
    BeatDone,
    CancelAnswer,
    CancelStored,
    ChunksClaimed,
    ClaimChunks,
    CountOngoing,
    DeliveriesDue,
    DeliveryTick,
    FindDueDeliveries,
    JobFinished,
    ListJobs,
    ListNodes,
    ListOwnedJobs,
    PollEnded,
    ReadFigures,
    ReadImagePage,
    ReadJobMeta,
    ReadResults,
    ReadStatus,
    RecordChunkOutcomes,
    RecordDelivery,
    RegisterNode,
    ReleaseNode,
    ReopenFailed,
    StatusesPolled,
    SubmitJob,
    Submitted,
    WatchDeliveries,
)
from retailpulse.actors.refs import tell_quietly
from retailpulse.model import JobOrder, StoreInfo
from retailpulse.ports import Clock
from retailpulse.stores.jobstore import (
    Creation,
    JobStore,
    JobStoreError,
    OutcomeRecord,
)
from retailpulse.stores.master import Store
from retailpulse.submission import ImageSpec

__all__ = ["JobStoreActor", "Purge", "StoreFactory", "Tick"]

logger = logging.getLogger(__name__)

StoreFactory = Callable[[], JobStore]
"""Opens the store; called on the actor's own thread (sqlite3 connections are per thread)."""

MAX_BATCH = 5_000
"""Most outcomes written in one transaction; a bound on how long one commit takes."""

COMMIT_DELAY = 0.02
"""Seconds outcomes may wait in the buffer for more before they are committed when the
inbox runs empty. A node's chunks send their outcomes in many small bursts: committing
each burst alone cost about 50 transactions per 1,000 images on PostgreSQL (and as many
fsyncs on SQLite); waiting this long gathers a few bursts into one commit. Nobody reads
a stale state for it: every read commits the buffer first."""

PURGE_CHUNK = 20
"""Most jobs deleted in one go, so a purge never holds up writes for long."""


class Purge:
    """Job store -> itself: delete the next chunk of expired jobs."""


class Tick:
    """Ticker thread -> job store: retry a failed write, purge if due, even when idle."""


def _tick(actor: pykka.ActorRef[Any], every: float, stopped: threading.Event) -> None:
    """The ticker's whole life: tell ``Tick`` every ``every`` seconds until stopped.

    It touches no state; a timer is the one thing a pykka actor lacks.
    """
    while not stopped.wait(every):
        if not tell_quietly(actor, Tick()):
            return


class JobStoreActor(pykka.ThreadingActor):
    """Owns a ``JobStore``: everyone else tells it what happened, or asks it to read.

    Outcomes are buffered and committed ``commit_delay`` after the inbox runs empty,
    before any read, or when the buffer reaches ``max_batch``: one outcome alone is
    committed within milliseconds, while a flood of outcomes is committed a few
    thousand per transaction, which is what keeps thousands of results a second down
    to a few commits. The commit that records a job's last outcome decides its end
    (in the store), and only then is the end announced (``JobFinished``), so a
    terminal status is always durable.

    Expired finished jobs are purged at start and then every ``purge_interval``
    seconds, in chunks. A small ticker thread tells it ``Tick`` every ``tick``
    seconds, so a failed write is retried and purging happens even when idle.
    """

    use_daemon_thread = True

    def __init__(
        self,
        store_factory: StoreFactory,
        *,
        clock: Clock,
        retention: float,
        purge_interval: float = 60.0,
        max_batch: int = MAX_BATCH,
        tick: float = 1.0,
        commit_delay: float = COMMIT_DELAY,
        store_master: Mapping[str, Store] | None = None,
    ) -> None:
        super().__init__()
        self._store_master: Mapping[str, Store] = store_master or {}
        """Read at each submit, so a job keeps its stores' names as they were then."""
        self._store_factory = store_factory
        self._clock = clock
        self._retention = retention
        self._purge_interval = purge_interval
        self._commit_delay = commit_delay
        self._commit_due = False
        """A ``Tick`` is on its way to commit the buffer (``commit_delay`` after it began)."""
        self._max_batch = max_batch
        self._store: JobStore | None = None
        self._open_error: JobStoreError | None = None
        self._outcomes: list[OutcomeRecord] = []
        self._notify: Any = None
        """Who hears of jobs the chunks' outcomes ended (the job manager)."""
        self._next_purge = 0.0
        self._tick = tick
        self._ticker_stopped = threading.Event()
        self._delivery_watcher: pykka.ActorRef[Any] | None = None

    def on_start(self) -> None:
        # An unusable store is reported to whoever asks first (System.start does),
        # with the store's own message, instead of a dead actor and a traceback.
        try:
            self._store = self._store_factory()
        except JobStoreError as exc:
            self._open_error = exc
            return
        threading.Thread(
            target=_tick,
            args=(self.actor_ref, self._tick, self._ticker_stopped),
            name="job-store-ticker",
            daemon=True,
        ).start()

    def on_stop(self) -> None:
        self._ticker_stopped.set()
        if self._store is not None:
            self._flush()
            self._store.close()

    def on_receive(self, message: Any) -> Any:
        store = self._ready()
        if isinstance(message, RecordChunkOutcomes):
            self._outcomes.extend(OutcomeRecord(message.job_id, i, o) for i, o in message.outcomes)
            self._notify = message.notify
        elif isinstance(message, ClaimChunks | Beat | PollEnded | ReleaseNode):
            self._flush()
            self._cluster(store, message)
        elif isinstance(message, Tick):
            self._commit_due = False
            self._flush()
        elif isinstance(message, WatchDeliveries):
            self._delivery_watcher = message.watcher
        elif isinstance(message, RecordDelivery):
            self._keep_delivery(store, message)
        elif isinstance(message, FindDueDeliveries):
            self._flush()
            self._tell_due(store, message)
        else:
            # Everything else reads, or stores a new job: first commit the buffer,
            # so that a reader sees every write told before its question.
            self._flush()
            self._purge_when_due(store, isinstance(message, Purge))
            return None if isinstance(message, Purge) else self._answer(store, message)
        if len(self._outcomes) >= self._max_batch:
            self._flush()
        elif self._outcomes and self.actor_inbox.empty():
            self._commit_soon()
        self._purge_when_due(store, False)
        return None

    def _commit_soon(self) -> None:
        """Commit the buffer ``commit_delay`` from now (at once when it is 0), unless a
        commit is due already. A one-shot timer thread tells ``Tick``: pykka has no
        timers, and the actor must not sleep."""
        if self._commit_delay <= 0:
            self._flush()
        elif not self._commit_due:
            self._commit_due = True
            timer = threading.Timer(self._commit_delay, tell_quietly, (self.actor_ref, Tick()))
            timer.daemon = True
            timer.start()

    def _answer(self, store: JobStore, message: Any) -> Any:
        if isinstance(message, SubmitJob):
            return self._submit(store, message)
        if isinstance(
            message, ReadStatus | ReadResults | ReadImagePage | ReadFigures | ReadJobMeta
        ):
            return _read_job(store, message)
        if isinstance(message, ListJobs | ListOwnedJobs):
            owner = message.owner if isinstance(message, ListOwnedJobs) else None
            return store.list_jobs(message.limit, message.before, owner=owner)
        if isinstance(message, ReopenFailed):
            # The whole master: the store keeps the stores the job uses.
            master = self._store_master
            stores = {sid: StoreInfo(s.store_name, s.area_code) for sid, s in master.items()}
            return store.reopen_failed(message.job_id, stores)
        return self._answer_more(store, message)

    def _answer_more(self, store: JobStore, message: Any) -> Any:
        """The cluster protocol's asked requests."""
        if not isinstance(message, RegisterNode | CancelStored | ListNodes | CountOngoing):
            return super().on_receive(message)
        if isinstance(message, CountOngoing):
            return store.count_ongoing()
        if isinstance(message, RegisterNode):
            return store.register_node(message.name, message.gpu_slots, self._clock())
        if isinstance(message, ListNodes):
            return tuple(store.live_nodes(self._clock(), message.within))
        found = store.cancel_job(message.job_id, self._clock())
        if found is None:
            return None
        status, cancelled = found
        if cancelled and self._delivery_watcher is not None:
            tell_quietly(self._delivery_watcher, DeliveryTick())
        return CancelAnswer(status, cancelled=cancelled)

    def _cluster(
        self, store: JobStore, message: ClaimChunks | Beat | PollEnded | ReleaseNode
    ) -> None:
        """The cluster protocol's told requests: each is answered by a told reply, and
        a database that is away means an empty or no reply (the asker tries again)."""
        try:
            if isinstance(message, ClaimChunks):
                chunks = store.claim_chunks(
                    message.node,
                    message.limit,
                    message.lease_s,
                    self._clock(),
                    new_jobs_only=message.new_jobs_only,
                )
                tell_quietly(message.reply_to, ChunksClaimed(tuple(chunks)))
            elif isinstance(message, Beat):
                beat = store.heartbeat(message.node, message.lease_s, self._clock())
                tell_quietly(message.reply_to, BeatDone(beat))
            elif isinstance(message, PollEnded):
                polled = tuple((j, store.job_status(j)) for j in message.job_ids)
                tell_quietly(message.reply_to, StatusesPolled(polled))
            else:
                store.release_node(message.node)
        except JobStoreError:
            logger.warning("job store: %s failed", type(message).__name__, exc_info=True)
            if isinstance(message, ClaimChunks):
                tell_quietly(message.reply_to, ChunksClaimed(()))

    def _submit(self, store: JobStore, message: SubmitJob) -> Submitted:
        submitted_at = self._clock()
        stores = self._stores_of(message.images)
        extra = {"owner": message.owner, "callback_url": message.callback_url}
        if message.claim is None:
            creation = Creation(store.create_job(message.images, submitted_at, stores, **extra))
        else:
            creation = store.create_job_once(
                message.claim, message.images, submitted_at, stores, **extra
            )
        if creation.replayed or creation.conflict:
            return Submitted(creation, None)
        return Submitted(creation, JobOrder(creation.job_id, message.images, submitted_at))

    def _tell_due(self, store: JobStore, message: FindDueDeliveries) -> None:
        """Claim due deliveries for the webhook actor: on a shared database, claiming
        (not just reading) them is what keeps two nodes from sending one webhook."""
        try:
            due = tuple(store.claim_deliveries(message.now, message.limit, message.claim_s))
        except JobStoreError:
            logger.exception("claiming due webhook deliveries failed")
            due = ()
        tell_quietly(message.reply_to, DeliveriesDue(due))

    def _keep_delivery(self, store: JobStore, message: RecordDelivery) -> None:
        try:
            store.record_delivery(message.attempt)
        except JobStoreError:
            # The delivery stays as it was: at worst it is sent once more.
            logger.exception("recording a webhook delivery failed")

    def _stores_of(self, images: Sequence[ImageSpec]) -> dict[str, StoreInfo]:
        master = self._store_master
        return {
            sid: StoreInfo(master[sid].store_name, master[sid].area_code)
            for sid in {spec.store_id for spec in images}
            if sid in master
        }

    def _ready(self) -> JobStore:
        if self._store is None:
            assert self._open_error is not None
            raise self._open_error
        return self._store

    def _flush(self) -> None:
        """Commit the chunks' outcomes; the jobs that ended in that commit (their last
        outcome was in it) are announced to the job manager."""
        if not self._outcomes or self._store is None:
            return
        try:
            ended = self._store.record_outcomes(self._outcomes, self._clock())
        except JobStoreError:
            # Kept and retried (idempotent): the node holds its outcomes while the
            # database is away.
            logger.warning("job store: recording %d outcomes failed", len(self._outcomes))
            return
        self._outcomes = []
        for status in ended:
            if self._notify is not None:
                tell_quietly(self._notify, JobFinished(status.job_id, status))
        if ended and self._delivery_watcher is not None:
            tell_quietly(self._delivery_watcher, DeliveryTick())

    def _purge_when_due(self, store: JobStore, now_anyway: bool) -> None:
        now = self._clock()
        if now < self._next_purge and not now_anyway:
            return
        self._next_purge = now + self._purge_interval
        try:
            purged = store.purge(now - self._retention, PURGE_CHUNK)
        except JobStoreError:
            logger.exception("purging expired jobs failed")
            return
        if purged:
            logger.info("purged %d jobs finished over %.0f s ago", purged, self._retention)
        if purged == PURGE_CHUNK:
            tell_quietly(self.actor_ref, Purge())  # more to do, after what is queued now


def _read_job(
    store: JobStore,
    message: ReadStatus | ReadResults | ReadImagePage | ReadFigures | ReadJobMeta,
) -> Any:
    """One job's status, results, page of images, figures or meta (``None``: no such job)."""
    if isinstance(message, ReadJobMeta):
        return store.job_meta(message.job_id)
    if isinstance(message, ReadStatus):
        return store.job_status(message.job_id)
    if isinstance(message, ReadResults):
        return store.job_results(message.job_id)
    if isinstance(message, ReadImagePage):
        return store.image_page(
            message.job_id, message.after, message.limit, failed_only=message.failed_only
        )
    if message.by == "area":
        return store.area_figures(message.job_id)
    return store.store_figures(message.job_id)
