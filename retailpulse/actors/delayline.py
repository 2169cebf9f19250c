"""DelayLine: the simulated GPU, holding images for their random time without a thread each.

Why not sleep in the worker? Then every image in flight pins a thread for its
0.1-0.4 s, and a pool of W = 1024 means 1024 threads. They mostly sleep, but each
of them wakes up several times per image (socket reads, its inbox, the end of its
sleep) and must win the GIL every time; with hundreds of threads contending the
process spends more time in futex calls and context switches than in Python
(measured: 3x the system time of W = 256, and half the throughput). Holding the
sleeping images in one heap instead keeps the thread count at the number of
downloaders, whatever the number of images in flight.

pykka has no timers, so this is the one actor not built on ``pykka.ThreadingActor``:
it has its own thread and inbox (a ``queue.SimpleQueue``, whose timed ``get`` is
the receive-with-timeout pykka lacks). Its heap is touched only by that thread;
everything else only sends it messages, like any actor.
"""

import heapq
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Self

from retailpulse.actors.messages import AnyRef, Batch
from retailpulse.actors.refs import deliver
from retailpulse.ports import Delivery

__all__ = ["DelayLine"]

logger = logging.getLogger(__name__)

_STOP = object()

SLACK = 0.005
"""How late a delivery may be, in seconds, so that one wake-up delivers every message
due in that window, and each actor gets them as one ``Batch``: each wake-up costs a
turn at the GIL. Late costs no throughput: the dispatcher plans every GPU slot's start
on the clock, not on these deliveries, so a job only hears of its images up to this
much later (and the dispatcher's readahead wake-up comes ``SLOT_LEAD`` early anyway)."""

Monotonic = Callable[[], float]


class DelayLine:
    """Delivers messages to actors after a delay; implements the ``SimulatedGpu`` port."""

    def __init__(self, monotonic: Monotonic = time.monotonic, slack: float = SLACK) -> None:
        self._monotonic = monotonic
        self._slack = slack
        self._inbox: queue.SimpleQueue[tuple[float, tuple[Delivery, ...]] | object] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name="DelayLine", daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def now(self) -> float:
        """The clock ``after`` counts on (``time.monotonic`` unless given another)."""
        return self._monotonic()

    def after(self, seconds: float, *deliveries: Delivery) -> None:
        """Tell each ``(ref, message)`` after ``seconds``; returns at once."""
        self._inbox.put((self._monotonic() + max(seconds, 0.0), deliveries))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread; deliveries still pending are dropped (their actors are
        being stopped too)."""
        if self._thread.is_alive():
            self._inbox.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        pending: list[tuple[float, int, tuple[Delivery, ...]]] = []
        order = itertools.count()  # ties keep the order of arrival, never compare messages
        while True:
            timeout = None
            if pending:
                timeout = max(pending[0][0] + self._slack - self._monotonic(), 0.0)
            try:
                item = self._inbox.get(timeout=timeout)
            except queue.Empty:
                item = None
            if item is _STOP:
                if pending:
                    logger.debug("delay line stopped with %d deliveries pending", len(pending))
                return
            if isinstance(item, tuple):
                due, deliveries = item
                heapq.heappush(pending, (due, next(order), deliveries))
            now = self._monotonic()
            ripe: list[Delivery] = []
            while pending and pending[0][0] <= now:
                ripe += heapq.heappop(pending)[2]
            if ripe:
                deliver(_batched(ripe))


def _batched(deliveries: list[Delivery]) -> list[Delivery]:
    """One delivery per actor, in order of first appearance: several messages for the
    same actor go as one ``Batch``, in their order."""
    by_ref: dict[str, tuple[AnyRef, list[object]]] = {}
    for ref, message in deliveries:
        by_ref.setdefault(ref.actor_urn, (ref, []))[1].append(message)
    return [
        (ref, messages[0] if len(messages) == 1 else Batch(tuple(messages)))
        for ref, messages in by_ref.values()
    ]
