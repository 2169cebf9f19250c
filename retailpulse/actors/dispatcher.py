"""Dispatcher: owns the worker pool and the simulated GPU slots, shared fairly between jobs."""

import heapq
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    Batch,
    GetPoolStats,
    GpuStarting,
    ImageDone,
    ImageMeasured,
    OfferDrained,
    OfferImages,
    OfferWithdrawn,
    PoolStats,
    ProcessImage,
    WithdrawOffer,
    WorkerIdle,
)
from retailpulse.actors.refs import stop_and_wait, tell_quietly
from retailpulse.ports import SimulatedGpu
from retailpulse.submission import ImageSpec

__all__ = ["SLOT_LEAD", "Dispatcher", "WorkerFactory"]

logger = logging.getLogger(__name__)

WorkerFactory = Callable[[AnyRef], AnyRef]
"""Starts one worker that reports to the given dispatcher, and returns its ref."""

SLOT_LEAD = 0.05
"""How long before an image waiting for the GPU starts its readahead room is given
back, in seconds: the next download then has this long (plus the time the images
waiting before it take) to be measured by the moment its slot frees, even on a
machine so busy that this process waits tens of milliseconds for a core. Early
costs nothing: the image waits for its slot, whose start time is exact anyway."""


@dataclass(slots=True)
class _Offer:
    """One job's offer as the dispatcher tracks it (its own record, never sent)."""

    job: AnyRef
    images: tuple[ImageSpec, ...]
    todo: tuple[int, ...]
    cursor: int = 0


class Dispatcher(pykka.ThreadingActor):
    """Owns the pipeline: download workers, then simulated GPU slots; shares both fairly.

    A job offers its images once (``OfferImages``: its immutable image specs and the
    indices still to do). The dispatcher keeps a cursor per job in a round-robin
    ring and sends ``ProcessImage`` straight to an idle worker; the job hears only
    outcomes. A queued image costs an integer here, not a message in an inbox.

    A worker downloads and measures its image and hands it back (``ImageMeasured``,
    which also says it is idle). The image then takes the GPU slot that frees
    first: it starts at that exact moment (or now, if a slot is free) and the GPU
    port tells the job ``ImageDone`` when its random time is up. Slots are a heap of
    the moments they free, so no message is needed when a slot frees.

    Workers run ahead of the GPU by at most ``readahead`` images (downloading, or
    measured and waiting for their slot), so when the GPU is the bottleneck the
    next image is ready when a slot frees, and a small job arriving behind big ones
    waits behind at most ``readahead`` images. When that bound is what holds work
    back, the dispatcher asks the GPU port to wake it (``GpuStarting``) ``lead``
    seconds before the first waiting image starts: one wake-up at a time.

    Fairness: each idle worker goes to the next job in the ring, one image each. A
    job of ten images behind two of five thousand therefore gets a third of the
    workers at once instead of waiting for the big ones to drain.

    pykka has no supervision: a worker that crashed still reports idle from its
    ``on_failure`` (having failed its image with the reason), and a worker found dead
    when handed an image is replaced and the image goes to another worker.
    """

    use_daemon_thread = True

    def __init__(
        self,
        size: int,
        worker_factory: WorkerFactory,
        stop_timeout: float = 10.0,
        *,
        gpu: SimulatedGpu,
        slots: int | None = None,
        readahead: int | None = None,
        clock: Callable[[], float] | None = None,
        lead: float = SLOT_LEAD,
    ):
        super().__init__()
        self._size = size
        self._worker_factory = worker_factory
        self._stop_timeout = stop_timeout
        self._gpu = gpu
        self._slots = size if slots is None else slots
        self._clock = gpu.now if clock is None else clock
        """The GPU's time base, on which slots free (a test may give its own)."""
        self._lead = lead
        self._free_at: list[float] = [float("-inf")] * self._slots
        """A heap: when each GPU slot frees (past for a free slot), on ``clock``."""
        self._waiting: list[float] = []
        """A heap: when each measured image still waiting for its slot starts."""
        self._wake_at: float | None = None
        """The start a ``GpuStarting`` is on its way for, if any."""
        self._readahead = size if readahead is None else readahead
        self._downloading = 0
        """Images handed to workers and not back yet."""
        self._workers: list[AnyRef] = []
        self._idle: deque[AnyRef] = deque()
        self._offers: dict[str, _Offer] = {}
        self._ring: deque[str] = deque()
        """The URNs of jobs with images to hand out, in turn."""
        self._replaced = 0

    def on_start(self) -> None:
        for _ in range(self._size):
            self._add_worker()

    def on_stop(self) -> None:
        stop_and_wait(self._workers, self._stop_timeout)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, GetPoolStats):
            return self._stats()
        if isinstance(message, Batch):
            for each in message.messages:
                self._handle(each)
        else:
            self._handle(message)
        self._dispatch()
        return None

    def _handle(self, message: Any) -> None:
        if isinstance(message, ImageMeasured):
            self._downloading -= 1
            self._worker_idle(message.worker)
            self._to_gpu(message)
        elif isinstance(message, WorkerIdle):
            self._downloading -= 1
            self._worker_idle(message.worker)
        elif isinstance(message, GpuStarting):
            self._wake_at = None
        elif isinstance(message, OfferImages):
            self._offer(message)
        elif isinstance(message, WithdrawOffer):
            self._withdraw(message.job)
        else:
            super().on_receive(message)

    def _stats(self) -> PoolStats:
        now = self._clock()
        return PoolStats(
            len(self._workers),
            len(self._idle),
            len(self._ring),
            self._replaced,
            self._slots,
            sum(1 for free_at in self._free_at if free_at <= now),
            sum(1 for starts in self._waiting if starts > now),
        )

    def _add_worker(self) -> None:
        worker = self._worker_factory(self.actor_ref)
        self._workers.append(worker)
        self._idle.append(worker)

    def _worker_idle(self, worker: AnyRef) -> None:
        if worker.is_alive():
            self._idle.append(worker)
        else:
            self._replace(worker)

    def _replace(self, worker: AnyRef) -> None:
        logger.warning("worker %s died; starting a replacement", worker)
        if worker in self._workers:
            self._workers.remove(worker)
        self._replaced += 1
        self._add_worker()

    def _to_gpu(self, image: ImageMeasured) -> None:
        """Give the image the slot that frees first: it starts the moment that slot
        frees (or now), and the GPU port tells its job when its time is up."""
        now = self._clock()
        starts = max(heapq.heappop(self._free_at), now)
        leaves = starts + image.gpu_seconds
        heapq.heappush(self._free_at, leaves)
        if starts > now:
            heapq.heappush(self._waiting, starts)
        self._gpu.after(
            leaves - now, *image.reports, (image.job, ImageDone(image.index, image.outcome))
        )

    def _offer(self, offer: OfferImages) -> None:
        urn = offer.job.actor_urn
        if not offer.todo or urn in self._offers:
            return  # nothing to do; a job offers once
        self._offers[urn] = _Offer(offer.job, offer.images, offer.todo)
        self._ring.append(urn)

    def _withdraw(self, job: AnyRef) -> None:
        """A cancelled job wants nothing more: drop its offer and tell it which of its
        images were never handed out (the others will still report)."""
        offer = self._offers.pop(job.actor_urn, None)
        never_started = () if offer is None else offer.todo[offer.cursor :]
        if offer is not None:
            self._ring.remove(job.actor_urn)
        tell_quietly(job, OfferWithdrawn(never_started))

    def _room(self) -> bool:
        """Whether the readahead lets another download start; images whose start is
        within ``lead`` count as started."""
        soon = self._clock() + self._lead
        while self._waiting and self._waiting[0] <= soon:
            heapq.heappop(self._waiting)
        return self._downloading + len(self._waiting) < self._readahead

    def _dispatch(self) -> None:
        while self._idle and self._ring and self._room():
            urn = self._ring.popleft()
            offer = self._offers[urn]
            if not offer.job.is_alive():  # a job that died takes no more workers
                del self._offers[urn]
                continue
            index = offer.todo[offer.cursor]
            worker = self._idle.popleft()
            if not tell_quietly(worker, ProcessImage(offer.job, index, offer.images[index].url)):
                self._replace(worker)  # died between images: the image goes to the next one
                self._ring.appendleft(urn)
                continue
            self._downloading += 1
            offer.cursor += 1
            if offer.cursor < len(offer.todo):
                self._ring.append(urn)
            else:
                del self._offers[urn]
                tell_quietly(offer.job, OfferDrained())
        if self._idle and self._ring and self._waiting and self._wake_at is None:
            # Held back by the readahead only: wake up when the first waiting image starts.
            self._wake_at = self._waiting[0]
            self._gpu.after(
                max(self._wake_at - self._lead - self._clock(), 0.0),
                (self.actor_ref, GpuStarting()),
            )
