"""The side effects an actor may have, as small protocols with production defaults.

Every actor receives these instead of reaching for ``requests``, ``time`` or
``random`` itself, which is what lets a unit test drive one actor with fakes:
no network, no real sleep, repeatable randomness.
"""

import random
import time
from collections.abc import Callable
from typing import Any, Protocol

from pykka import ActorRef

__all__ = [
    "Clock",
    "FetchError",
    "Fetcher",
    "FetcherFactory",
    "RandomSource",
    "SimulatedGpu",
    "default_clock",
    "default_random",
]


class FetchError(Exception):
    """A download failed; the message names the URL and the cause in plain words.

    It lives beside the ``Fetcher`` port because it is part of that contract: a
    worker catches it from any fetcher, real or fake, and every other exception is
    a bug (the worker dies, is replaced, and the image fails as an internal error).
    """


class Fetcher(Protocol):
    """Downloads one URL and returns its body, or raises ``FetchError``."""

    def fetch(self, url: str) -> bytes: ...


FetcherFactory = Callable[[], Fetcher]
"""Makes one fetcher per worker, so each worker keeps its own connection pool."""

Delivery = tuple[ActorRef[Any], object]
"""A message and the actor to tell it to."""


class SimulatedGpu(Protocol):
    """The simulated GPU: holds an image for ``seconds``, then delivers the messages.

    It must not block the caller: a worker hands the image over and is free to
    download the next one while the "GPU" works, so the number of images in flight
    is not tied to the number of threads (see ``retailpulse.actors.delayline``).
    ``now`` is the time base ``after`` counts on: the dispatcher plans each GPU
    slot's exact start on it, so a fake GPU that skips the waiting also skips the
    time.
    """

    def after(self, seconds: float, *deliveries: Delivery) -> None: ...

    def now(self) -> float: ...


Clock = Callable[[], float]
"""Wall-clock seconds since the epoch, for the timestamps a job reports."""


class RandomSource(Protocol):
    """The one method of ``random.Random`` the workers need."""

    def uniform(self, a: float, b: float, /) -> float: ...


default_clock: Clock = time.time


def default_random() -> RandomSource:
    """A fresh generator per worker, so workers never share mutable state."""
    return random.Random()  # noqa: S311 - simulated GPU time, not cryptography
