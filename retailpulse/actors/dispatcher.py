"""Dispatcher: owns the worker pool and shares it fairly between running jobs."""

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from retailpulse.actors.messages import AnyRef, WantWorkers, WorkerGranted, WorkerIdle
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
    idle: int
    jobs_waiting: int
    replaced: int


class Dispatcher(pykka.ThreadingActor):
    """Hands idle workers to jobs in round-robin order, one image per grant.

    Jobs state how many images they still need (``WantWorkers``); each idle worker
    goes to the next job in the ring. A job of ten images behind two of five
    thousand therefore gets a third of the freed workers at once instead of waiting
    for the big ones to drain. The pool size is the service's total image
    concurrency, so threads stay bounded however many images are queued, and a
    queued image costs an integer here, not a message in some worker's inbox.

    pykka has no supervision: a worker that crashed still reports idle from its
    ``on_failure``, and the dispatcher replaces it with a fresh one.
    """

    use_daemon_thread = True

    def __init__(self, size: int, worker_factory: WorkerFactory, stop_timeout: float = 10.0):
        super().__init__()
        self._size = size
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
        elif isinstance(message, WantWorkers):
            self._want(message.job, message.count)
        elif isinstance(message, GetPoolStats):
            return PoolStats(len(self._workers), len(self._idle), len(self._ring), self._replaced)
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
        while self._idle and self._ring:
            job = self._ring.popleft()
            worker = self._idle.popleft()
            if not tell_quietly(job, WorkerGranted(worker)):
                self._idle.appendleft(worker)
                del self._wanted[job.actor_urn]
                continue
            self._wanted[job.actor_urn] -= 1
            if self._wanted[job.actor_urn] > 0:
                self._ring.append(job)
            else:
                del self._wanted[job.actor_urn]
