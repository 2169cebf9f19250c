"""A ring buffer of images handled per time step, for the dashboard's throughput chart.

Fixed size (``steps + 1`` counters), so a service that runs for months keeps the same
few hundred bytes; a step that saw no image is simply a zero. Not thread-safe and
needs not be: the metrics actor owns it and touches it only on its own thread.
"""

from dataclasses import dataclass

__all__ = ["RateSeries", "ThroughputHistory"]


@dataclass(frozen=True, slots=True)
class RateSeries:
    """Images per second in consecutive complete steps, oldest first.

    ``end`` is the wall-clock time (Unix seconds) at which the last step ended; the
    step still under way is left out, since its partial count would read as a dip.
    """

    step: float
    end: float
    images_per_second: tuple[float, ...]
    failed_per_second: tuple[float, ...]


class ThroughputHistory:
    """Counts images (and failed images) per ``step`` seconds over the last ``steps`` steps."""

    def __init__(self, step: float = 5.0, steps: int = 120) -> None:
        if step <= 0 or steps < 1:
            raise ValueError("step must be positive and steps at least 1")
        self._step = step
        self._steps = steps
        # One slot more than reported: the step under way has its own.
        self._images = [0] * (steps + 1)
        self._failed = [0] * (steps + 1)
        self._head: int | None = None  # number of the newest step seen (time // step)

    def record(self, now: float, *, ok: bool) -> None:
        """One image got its outcome at wall-clock time ``now``."""
        slot = self._advance(now) % len(self._images)
        self._images[slot] += 1
        if not ok:
            self._failed[slot] += 1

    def series(self, now: float) -> RateSeries:
        """The complete steps before ``now``, oldest first, as rates per second."""
        head = self._advance(now)
        size = len(self._images)
        numbers = range(head - self._steps, head)  # every step but the one under way
        return RateSeries(
            step=self._step,
            end=head * self._step,
            images_per_second=tuple(self._images[n % size] / self._step for n in numbers),
            failed_per_second=tuple(self._failed[n % size] / self._step for n in numbers),
        )

    def _advance(self, now: float) -> int:
        """Move the head to the step holding ``now``, zeroing the steps passed over.

        A clock that steps back (NTP) keeps counting into the newest step rather
        than rewriting the past.
        """
        number = int(now // self._step)
        if self._head is None:
            self._head = number
            return number
        if number <= self._head:
            return self._head
        size = len(self._images)
        for n in range(max(self._head + 1, number - size + 1), number + 1):
            self._images[n % size] = 0
            self._failed[n % size] = 0
        self._head = number
        return number
