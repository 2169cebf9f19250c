"""When a download is tried again: urllib3's ``Retry``, bounded by the image's deadline.

Transient failures (a refused or timed-out connection, a connection reset, a
read timeout before the answer, HTTP 429/502/503/504) are retried with
exponential backoff and jitter; every other answer, 404 and the rest of 4xx
included, is final at once. urllib3 does the retrying inside the connection pool
(mounted through ``requests.adapters.HTTPAdapter``), so the pool, not a loop of
ours, decides when a connection may be reused.

One thing urllib3 cannot know is the total deadline of a download: no retry
starts after it, and when the pause before the next attempt would reach it, the
download gives up at once instead of sleeping to no purpose. A server's
``Retry-After`` is honoured (it asks politely for a pause) but capped at the
backoff maximum, and by the deadline like any pause, so it cannot hold a worker.
"""

import time
from types import TracebackType
from typing import Any, Self

from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from retailpulse.config import ServiceConfig

__all__ = ["RETRY_STATUSES", "DeadlineRetry", "DeadlineTimeout", "download_retry"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Answers that say "not now" rather than "no"."""


class DeadlineRetry(Retry):
    """A ``Retry`` that gives up once a ``time.monotonic()`` deadline has passed."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})
    """urllib3 would also retry a 413 that carries ``Retry-After``; a 4xx other
    than 429 is final here, whatever its headers say."""

    deadline: float | None = None

    def until(self, deadline: float) -> Self:
        """This policy, for one download that must end by ``deadline``."""
        retry = self.new()
        retry.deadline = deadline
        return retry

    def new(self, **kw: Any) -> Self:
        # urllib3 makes a new Retry for every attempt; the deadline must travel with it.
        retry = super().new(**kw)
        retry.deadline = self.deadline
        return retry

    def time_left(self) -> float:
        if self.deadline is None:
            return float("inf")
        return max(0.0, self.deadline - time.monotonic())

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or self.time_left() <= 0

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """Count one more attempt; give up now when the pause before the next one
        would reach the deadline, rather than sleep and then have no time left."""
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if retry.planned_pause(response) >= retry.time_left():
            reason = error or ResponseError("no time left for another attempt")
            raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
        return retry

    def planned_pause(self, response: BaseHTTPResponse | None) -> float:
        """How long ``sleep(response)`` will wait, leaving out the random jitter."""
        if self.respect_retry_after_header and response is not None:
            asked = self.get_retry_after(response)
            if asked:
                return asked
        return self.new(backoff_jitter=0.0).get_backoff_time()

    def get_backoff_time(self) -> float:
        return min(super().get_backoff_time(), self.time_left())

    def get_retry_after(self, response: BaseHTTPResponse) -> float | None:
        asked = super().get_retry_after(response)
        return None if asked is None else min(asked, self.backoff_max, self.time_left())


class DeadlineTimeout(Timeout):
    """Connect and read timeouts that never reach past a deadline.

    A plain ``(connect, read)`` pair is fixed when the download starts, so an
    attempt retried late could still wait a whole read timeout after the deadline.
    urllib3 clones the timeout for every attempt, retries included; each clone here
    carries the time left as its ``total``, which caps that attempt's connect and
    read timeouts (urllib3's own arithmetic), so a late retry gets only what remains.
    """

    def __init__(self, connect: float, read: float, deadline: float) -> None:
        super().__init__(connect=connect, read=read)
        self._limits = (connect, read)
        self.deadline = deadline

    def clone(self) -> Timeout:
        connect, read = self._limits
        left = max(self.deadline - time.monotonic(), _LEAST_ATTEMPT)
        return Timeout(connect=connect, read=read, total=left)


_LEAST_ATTEMPT = 0.001
"""An attempt's least time: urllib3 refuses a timeout of 0 (the retry policy ends the
download at the deadline anyway)."""


def download_retry(config: ServiceConfig) -> DeadlineRetry:
    """The retry policy of ``config``: ``retries`` more attempts at most, for GET only."""
    return DeadlineRetry(
        total=config.retries,
        allowed_methods=frozenset({"GET"}),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=config.retry_backoff,
        backoff_jitter=config.retry_backoff,
        backoff_max=config.retry_backoff_max,
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=True,
    )
