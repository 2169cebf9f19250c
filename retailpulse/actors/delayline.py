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

from retailpulse.actors.refs import deliver
from retailpulse.ports import Delivery

__all__ = ["DelayLine"]

logger = logging.getLogger(__name__)

_STOP = object()

SLACK = 0.002
"""How late a delivery may be, in seconds, so that one wake-up delivers every message
due in that window: each wake-up costs a turn at the GIL, and with two deliveries per
image (its slot's early release and its end) they would otherwise come one by one."""

Monotonic = Callable[[], float]


class DelayLine:
    """Delivers messages to actors after a delay; implements the ``Sleeper`` port."""

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
            while pending and pending[0][0] <= now:
                deliver(heapq.heappop(pending)[2])
