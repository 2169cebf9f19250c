"""Waitress, hardened against hostile clients: the pieces ``HttpServer`` plugs into it.

Waitress holds every connection in one event loop and hands a request to a task
thread only once its head and body have arrived. That is the right shape against
slow clients, but its defaults leave four gaps, closed here by subclassing the
classes it lets a server replace (``channel_class``, ``parser_class``,
``error_task_class``, ``add_task``, ``maintenance``):

- **Connections.** ``connection_limit`` is raised (poll(), not select(), so past
  ``FD_SETSIZE``), and a connection that has not sent a whole request head within
  ``head_timeout`` (or a whole request within ``request_timeout``) is closed, so
  idle or trickling sockets cannot fill it.
- **Bodies.** A declared ``Content-Length`` over the limit is refused before a byte
  of the body is read, never with ``100 Continue``; a chunked body as soon as it
  passes the limit.
- **Fairness.** Requests that cost much (results, big submits) run on a separate,
  small pool with a bounded queue; past it they get 503 with ``Retry-After``. The
  ordinary pool stays free for status polls and health checks.
- **Errors.** Waitress's own protocol errors answer JSON like the app does.

All the state added here (two timestamps per connection) is read and written on
the event loop's thread only: ``received`` and ``maintenance`` both run there.
The pools are waitress's own ``ThreadedTaskDispatcher``; we only choose which one
gets a request.
"""

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask
from waitress.utilities import Error

__all__ = [
    "GuardedServer",
    "HttpLimits",
    "ServiceUnavailableError",
]

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP server grants its clients; every field bounds a way to exhaust it.

    ``threads`` answer ordinary requests; ``heavy_threads`` answer the costly ones
    (``/api/results``, submits over ``heavy_body_bytes``, 256 KiB), at most ``heavy_queue``
    more of them wait, and the rest get 503. ``connection_limit`` open sockets are
    served (more wait in the kernel's backlog); ``head_timeout`` seconds to send a
    request head, ``request_timeout`` for the whole request, ``idle_timeout`` for a
    kept-alive connection between requests.
    """

    threads: int = 8
    heavy_threads: int = 2
    heavy_queue: int = 16
    connection_limit: int = 1000
    head_timeout: float = 10.0
    request_timeout: float = 120.0
    idle_timeout: float = 60.0
    max_body_bytes: int = 32 * MIB
    max_head_bytes: int = 64 * KIB
    heavy_body_bytes: int = 256 * KIB

    def __post_init__(self) -> None:
        for name in ("threads", "heavy_threads", "connection_limit", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.heavy_queue < 0:
            raise ValueError("heavy_queue must be 0 or more")
        for name in ("head_timeout", "request_timeout", "idle_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be above 0 seconds")
        if self.max_head_bytes < 1024:
            raise ValueError("max_head_bytes must be at least 1024")

    @property
    def sweep_interval(self) -> float:
        """How often connections are checked against their deadlines (seconds)."""
        return max(0.05, min(1.0, self.head_timeout / 4, self.idle_timeout / 4))


HEAVY_PATHS = ("/api/results",)
"""GET paths whose answers grow with a job's size (100,000 images: tens of MB)."""


class ServiceUnavailableError(Error):
    """Too many costly requests already running or waiting."""

    code = 503
    reason = "Service Unavailable"


class BoundedParser(HTTPRequestParser):
    """Waitress's parser, which never invites a body it is going to refuse.

    Waitress itself answers 413 for a declared length over ``max_request_body_size``
    before reading the body (and a chunked body once it passes it), but it still
    sends ``100 Continue`` first when the client asked for one.
    """

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.error is not None:
            self.expect_continue = False
        return consumed


class JsonErrorTask(ErrorTask):
    """Waitress's own errors (400, 413, 431, 501, 503) as ``{"error": ...}`` JSON."""

    def execute(self) -> None:
        # The stubs of waitress type these loosely (a request, a sequence of headers).
        error: Error = getattr(self.request, "error")  # noqa: B009
        adj = self.channel.server.adj
        headers: list[tuple[str, str]] = self.response_headers  # type: ignore[assignment]
        self.status = f"{error.code} {error.reason}"
        headers.append(("Content-Type", "application/json"))
        if error.code == ServiceUnavailableError.code:
            headers.append(("Retry-After", "1"))
        body = json.dumps({"error": _message(error, adj)}).encode()
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


def _message(error: Error, adj: Any) -> str:
    """A short sentence for each error; waitress's own bodies quote its internals."""
    if error.code == 413:
        return f"body too large: body must be at most {adj.max_request_body_size - 1} bytes"
    if error.code == 431:
        return f"request head too large: it must be under {adj.max_request_header_size} bytes"
    return f"{error.reason.lower()}: {str(error.body)[:200]}"


class GuardedChannel(HTTPChannel):
    """A connection that remembers since when it has been sending the current request."""

    parser_class = BoundedParser
    error_task_class = JsonErrorTask

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_started: float | None = time.monotonic()
        """When the request now being received began (the connection's opening for the
        first one); None while no request is being received."""

    def received(self, data: bytes) -> bool:
        accepted: bool = super().received(data)
        if self.request is None or self.request.completed:
            self.request_started = None  # nothing half-received; idle_timeout applies
        elif self.request_started is None:
            self.request_started = time.monotonic()  # the first bytes of a new request
        return accepted

    def overdue(self, now: float, limits: HttpLimits) -> str | None:
        """Why this connection must be closed now, or None."""
        if self.request_started is None or self.will_close:
            return None
        elapsed = now - self.request_started
        head_done = self.request is not None and self.request.headers_finished
        if not head_done and elapsed > limits.head_timeout:
            return f"no complete request head within {limits.head_timeout:g} s"
        if elapsed > limits.request_timeout:
            return f"no complete request within {limits.request_timeout:g} s"
        return None


class GuardedServer(TcpWSGIServer):
    """Waitress's TCP server with deadlines per connection and two task pools."""

    channel_class = GuardedChannel

    def __init__(self, *args: Any, limits: HttpLimits, heavy: Any, **kwargs: Any) -> None:
        self.limits = limits
        self.heavy_dispatcher = heavy
        self._next_sweep = 0.0
        super().__init__(*args, **kwargs)

    def readable(self) -> bool:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + self.limits.sweep_interval
            self._close_overdue(now)
        return bool(super().readable())

    def _close_overdue(self, now: float) -> None:
        channels: dict[int, GuardedChannel] = self.active_channels  # type: ignore[assignment]
        for channel in list(channels.values()):
            reason = channel.overdue(now, self.limits)
            if reason is not None:
                logger.info("closing the connection from %s: %s", _peer(channel), reason)
                channel.will_close = True  # the loop closes it on its next pass

    def add_task(self, channel: Any) -> None:
        """Send a costly request to the heavy pool, or a 503 when that is full."""
        request = channel.requests[0]
        if request.error is not None or not self._is_heavy(request):
            self.task_dispatcher.add_task(channel)
            return
        heavy = self.heavy_dispatcher
        # Read without waitress's lock: an estimate, off by one at worst, which a bound
        # on memory and fairness tolerates.
        in_flight = len(heavy.queue) + heavy.active_count
        if in_flight >= self.limits.heavy_threads + self.limits.heavy_queue:
            request.error = ServiceUnavailableError("too many large requests at once; retry soon")
            self.task_dispatcher.add_task(channel)
            return
        heavy.add_task(channel)

    def _is_heavy(self, request: Any) -> bool:
        path = request.path.rstrip("/")
        if request.command in ("GET", "HEAD"):
            return path in HEAVY_PATHS
        body = request.body_rcv  # a chunked body's length is known once it has arrived
        return body is not None and len(body) > self.limits.heavy_body_bytes


def _peer(channel: Any) -> str:
    addr = channel.addr
    return f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else str(addr)
