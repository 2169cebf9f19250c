"""Dispatcher: owns the worker pool and shares it fairly between running jobs."""

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from retailpulse.actors.messages import AnyRef, SlotFreed, WantWorkers, WorkerGranted, WorkerIdle
from retailpulse.actors.refs import stop_and_wait, tell_quietly

__all__ = ["Dispatcher", "GetPoolStats", "PoolStats", "WorkerFactory"]

logger = logging.getLogger(__name__)

WorkerFactory = Callable[[AnyRef], AnyRef]
"""Starts one worker that reports to the given dispatcher, and returns its ref."""


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
    """Jobs with images waiting for a slot."""
    replaced: int
    """Workers that died and were replaced since start."""
    slots: int
    """Images that may be in flight at once (downloading or on the simulated GPU)."""
    free_slots: int
    """Slots not granted: fewer than ``slots`` while images download or sit on the GPU."""


class Dispatcher(pykka.ThreadingActor):
    """Hands idle workers to jobs in round-robin order, one image per grant.

    A grant needs an idle download worker and a free image slot. The slots
    (``ServiceConfig.workers``) bound the images in flight; the worker threads
    (``ServiceConfig.downloaders``) only download and measure, and are freed before
    the simulated GPU time, so a few of them keep many slots busy.

    Jobs state how many images they still need (``WantWorkers``); each idle worker
    goes to the next job in the ring. A job of ten images behind two of five
    thousand therefore gets a third of the freed workers at once instead of waiting
    for the big ones to drain. Threads stay bounded however many images are queued,
    and a queued image costs an integer here, not a message in some worker's inbox.

    pykka has no supervision: a worker that crashed still reports idle from its
    ``on_failure``, and the dispatcher replaces it with a fresh one.
    """

    use_daemon_thread = True

    def __init__(
        self,
        size: int,
        worker_factory: WorkerFactory,
        stop_timeout: float = 10.0,
        slots: int | None = None,
    ):
        super().__init__()
        self._size = size
        self._slots = size if slots is None else slots
        self._free_slots = self._slots
        self._worker_factory = worker_factory
        self._stop_timeout = stop_timeout
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
        if isinstance(message, WorkerIdle):
            self._worker_idle(message.worker)
            self._free_slots += message.frees_slot
        elif isinstance(message, SlotFreed):
            self._free_slots += 1
        elif isinstance(message, WantWorkers):
            self._want(message.job, message.count)
        elif isinstance(message, GetPoolStats):
            return PoolStats(
                len(self._workers),
                len(self._idle),
                len(self._ring),
                self._replaced,
                self._slots,
                self._free_slots,
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

    def _want(self, job: AnyRef, count: int) -> None:
        if count <= 0:
            return
        if job.actor_urn not in self._wanted:
            self._ring.append(job)
            self._wanted[job.actor_urn] = 0
        self._wanted[job.actor_urn] += count

    def _dispatch(self) -> None:
        while self._idle and self._ring and self._free_slots > 0:
            job = self._ring.popleft()
            worker = self._idle.popleft()
            if not tell_quietly(job, WorkerGranted(worker)):
                self._idle.appendleft(worker)
                del self._wanted[job.actor_urn]
                continue
            self._free_slots -= 1
            self._wanted[job.actor_urn] -= 1
            if self._wanted[job.actor_urn] > 0:
                self._ring.append(job)
            else:
                del self._wanted[job.actor_urn]
