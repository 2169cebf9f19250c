"""Dispatcher: owns the worker pool and shares it fairly between running jobs."""

import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    ImageDone,
    ImageMeasured,
    SlotFreed,
    WantWorkers,
    WithdrawDemand,
    WorkerGranted,
    WorkerIdle,
)
from retailpulse.actors.refs import stop_and_wait, tell_quietly
from retailpulse.model import ImageOutcome
from retailpulse.ports import Sleeper

__all__ = ["SLOT_LEAD", "Dispatcher", "GetPoolStats", "PoolStats", "WorkerFactory"]

logger = logging.getLogger(__name__)

WorkerFactory = Callable[[AnyRef], AnyRef]
"""Starts one worker that reports to the given dispatcher, and returns its ref."""

SLOT_LEAD = 0.02
"""How long before a GPU slot frees the dispatcher hears of it, in seconds: enough for
the message to arrive on a busy machine, so the next image starts the moment the slot
frees instead of one message's delay later (a few ms per image, lost on every slot)."""


@dataclass(frozen=True, slots=True)
class GetPoolStats:
    """Ask the dispatcher for a ``PoolStats``."""


@dataclass(frozen=True, slots=True)
class PoolStats:
    workers: int
    """Download workers (threads) in the pool."""
    idle: int
    """Download workers waiting for an image."""
    jobs_waiting: int
    """Jobs with images waiting to be handed out."""
    replaced: int
    """Workers that died and were replaced since start."""
    slots: int
    """Simulated GPU slots: how many images sleep their GPU time at once (``--workers``)."""
    free_slots: int
    """GPU slots with no image, or whose image leaves within ``SLOT_LEAD``."""
    ready: int
    """Images measured and waiting for a free GPU slot."""


@dataclass(frozen=True, slots=True)
class _Measured:
    """A measured image waiting for the GPU (the dispatcher's own record, never sent)."""

    job: AnyRef
    index: int
    outcome: ImageOutcome
    gpu_seconds: float


class Dispatcher(pykka.ThreadingActor):
    """Owns the pipeline: download workers, then simulated GPU slots; shares both fairly.

    An image is downloaded and measured by a worker thread, then spends its random
    time in one of ``slots`` GPU slots (``ServiceConfig.workers``), held by the
    ``Sleeper`` without a thread. Workers run ahead of the GPU by at most
    ``readahead`` images (downloading or measured and waiting), so when the GPU is
    the bottleneck a slot that frees is refilled at once from the ready queue (heard
    of ``SLOT_LEAD`` ahead, the next image starts the very moment the slot frees), and
    the GPU never waits for a download. Throughput then reaches ``slots`` divided by
    the mean GPU time, where a worker-per-slot design loses each download's time.
    Threads stay bounded by the worker count however many images are in flight.

    Fairness: jobs state how many images they still need (``WantWorkers``); each
    idle worker goes to the next job in a round-robin ring, one image per grant. A
    job of ten images behind two of five thousand therefore gets a third of the
    freed workers at once instead of waiting for the big ones to drain, and the
    ready queue it then waits in is at most ``readahead`` long. A queued image
    costs an integer here, not a message in some worker's inbox.

    pykka has no supervision: a worker that crashed still reports idle from its
    ``on_failure``, and the dispatcher replaces it with a fresh one.
    """

    use_daemon_thread = True

    def __init__(
        self,
        size: int,
        worker_factory: WorkerFactory,
        stop_timeout: float = 10.0,
        *,
        sleeper: Sleeper,
        slots: int | None = None,
        readahead: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        lead: float = SLOT_LEAD,
    ):
        super().__init__()
        self._size = size
        self._worker_factory = worker_factory
        self._stop_timeout = stop_timeout
        self._sleeper = sleeper
        self._slots = size if slots is None else slots
        self._clock = clock
        self._lead = lead
        self._free_at: list[float] = [float("-inf")] * self._slots
        """A heap: when each free GPU slot is (or will be) free, on ``clock``."""
        self._readahead = size if readahead is None else readahead
        self._pending = 0
        """Images granted and not yet on the GPU: downloading, or measured and ready."""
        self._ready: deque[_Measured] = deque()
        self._workers: list[AnyRef] = []
        self._idle: deque[AnyRef] = deque()
        self._ring: deque[AnyRef] = deque()
        self._wanted: dict[str, int] = {}
        self._replaced = 0

    def on_start(self) -> None:
        for _ in range(self._size):
            self._add_worker()

    def on_stop(self) -> None:
        stop_and_wait(self._workers, self._stop_timeout)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ImageMeasured):
            self._worker_idle(message.worker)
            self._ready.append(
                _Measured(message.job, message.index, message.outcome, message.gpu_seconds)
            )
            self._feed_gpu()
        elif isinstance(message, WorkerIdle):
            # The grant's image left the pipeline: failed, or declined by its job.
            self._worker_idle(message.worker)
            self._pending -= 1
        elif isinstance(message, SlotFreed):
            heapq.heappush(self._free_at, message.free_at)
            self._feed_gpu()
        elif isinstance(message, WantWorkers):
            self._want(message.job, message.count)
        elif isinstance(message, WithdrawDemand):
            self._withdraw(message.job)
        elif isinstance(message, GetPoolStats):
            return PoolStats(
                len(self._workers),
                len(self._idle),
                len(self._ring),
                self._replaced,
                self._slots,
                len(self._free_at),
                len(self._ready),
            )
        else:
            return super().on_receive(message)
        self._dispatch()
        return None

    def _add_worker(self) -> None:
        worker = self._worker_factory(self.actor_ref)
        self._workers.append(worker)
        self._idle.append(worker)

    def _worker_idle(self, worker: AnyRef) -> None:
        if worker.is_alive():
            self._idle.append(worker)
            return
        logger.warning("worker %s died; starting a replacement", worker)
        if worker in self._workers:
            self._workers.remove(worker)
        self._replaced += 1
        self._add_worker()

    def _feed_gpu(self) -> None:
        """Put ready images on free slots, each starting when its slot frees: at once,
        or (heard of ``lead`` early) right after the image before it, never later."""
        while self._ready and self._free_at:
            image = self._ready.popleft()
            now = self._clock()
            starts_in = max(heapq.heappop(self._free_at) - now, 0.0)
            leaves_in = starts_in + image.gpu_seconds
            self._pending -= 1
            self._sleeper.after(leaves_in, (image.job, ImageDone(image.index, image.outcome)))
            self._sleeper.after(
                max(leaves_in - self._lead, 0.0), (self.actor_ref, SlotFreed(now + leaves_in))
            )

    def _want(self, job: AnyRef, count: int) -> None:
        if count <= 0:
            return
        if job.actor_urn not in self._wanted:
            self._ring.append(job)
            self._wanted[job.actor_urn] = 0
        self._wanted[job.actor_urn] += count

    def _withdraw(self, job: AnyRef) -> None:
        """A cancelled job wants nothing more: drop its demand instead of granting it
        workers it would only hand back."""
        if self._wanted.pop(job.actor_urn, None) is not None:
            self._ring = deque(other for other in self._ring if other.actor_urn != job.actor_urn)

    def _dispatch(self) -> None:
        while self._idle and self._ring and self._pending < self._readahead:
            job = self._ring.popleft()
            worker = self._idle.popleft()
            if not tell_quietly(job, WorkerGranted(worker)):
                self._idle.appendleft(worker)
                del self._wanted[job.actor_urn]
                continue
            self._pending += 1
            self._wanted[job.actor_urn] -= 1
            if self._wanted[job.actor_urn] > 0:
                self._ring.append(job)
            else:
                del self._wanted[job.actor_urn]
