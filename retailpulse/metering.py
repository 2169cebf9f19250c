"""A fetcher decorator that reports every download to the metrics actor.

Timing downloads here, around the injected fetcher, keeps the worker unaware of
metrics: it still calls ``fetch`` and nothing else, and a test fetcher gets
metered exactly like the real one.
"""

import time
from collections.abc import Callable

from retailpulse.actors.events import ImageDownloaded
from retailpulse.actors.messages import AnyRef
from retailpulse.actors.refs import tell_quietly
from retailpulse.ports import Fetcher

__all__ = ["MeteredFetcher"]


class MeteredFetcher:
    """Wraps a ``Fetcher``; tells ``events`` an ``ImageDownloaded`` after each attempt.

    It runs on the worker's thread and only ``tell``s, so it never waits for the
    metrics actor. ``timer`` is injectable for tests; it measures durations, not dates.
    """

    def __init__(
        self, inner: Fetcher, events: AnyRef, timer: Callable[[], float] = time.perf_counter
    ) -> None:
        self._inner = inner
        self._events = events
        self._timer = timer

    def fetch(self, url: str) -> bytes:
        started = self._timer()
        size: int | None = None
        try:
            body = self._inner.fetch(url)
            size = len(body)
            return body
        finally:
            tell_quietly(self._events, ImageDownloaded(self._timer() - started, size))
