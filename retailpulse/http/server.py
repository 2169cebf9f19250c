"""A waitress server that can be stopped from code, gracefully and within a deadline.

Waitress has no programmatic stop. Its event loop runs until its socket map is
empty, and it offers a trigger that runs a callable on the loop thread. We use that
trigger so the loop's own thread does all closing (no race with a running
``select``): first the listening socket goes (no new connections), then in-flight
requests get a bounded time to finish, then every channel is closed, the loop
returns, and the task threads are shut down.

What the server grants each client (connections, deadlines, body size, threads for
costly requests) is ``HttpLimits``; how it is enforced is in ``guards``.
"""

import logging
import resource
import threading
import time
from dataclasses import replace
from typing import Any, Self
from wsgiref.types import WSGIApplication

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.task import ThreadedTaskDispatcher

from retailpulse.http.guards import GuardedServer, HttpLimits
from retailpulse.lifecycle import Service

__all__ = ["HttpLimits", "HttpServer"]

FD_RESERVE = 256
"""File descriptors kept for everything but client connections: downloads, the job
store, spooled request bodies, logs."""

logger = logging.getLogger(__name__)


STARTUP_TIMEOUT = 5.0
"""Longest wait for the pools' threads to start; past it the server starts anyway."""


def _wait_until_idle(pool: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while pool.active_count > 0 and time.monotonic() < deadline:
        time.sleep(0.001)


class HttpServer(Service):
    """Serve a WSGI app with waitress on a background thread until ``stop()``."""

    def __init__(
        self,
        app: WSGIApplication,
        host: str = "127.0.0.1",
        port: int = 8080,
        threads: int | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        limits = limits or HttpLimits()
        if threads is not None:
            limits = replace(limits, threads=threads)
        self.limits = limits
        adj = _adjustments(host, port, limits)
        if len(adj.listen) != 1:
            raise ValueError(f"host {host!r} resolves to several addresses; pass one address")
        light, heavy = ThreadedTaskDispatcher(), ThreadedTaskDispatcher()
        # The stubs of waitress describe its internals loosely; we use a few of them.
        self._server: Any = GuardedServer(
            app, map={}, dispatcher=light, adj=adj, limits=limits, heavy=heavy
        )
        light.set_thread_count(limits.threads)
        heavy.set_thread_count(limits.heavy_threads)
        self._thread = threading.Thread(target=self._run, name="waitress-loop", daemon=True)
        self._stopped = threading.Event()

    @property
    def host(self) -> str:
        return str(self._server.effective_host)

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Self:
        """Serve from a background thread; the socket is already listening.

        Requests are taken only once every pool thread is waiting for work: waitress
        counts a thread as busy from its creation until it first waits, and the heavy
        pool's admission (``GuardedServer.add_task``) reads that count, so a request in
        the first moments of a loaded machine would otherwise be refused with a 503
        by a pool that is in fact idle.
        """
        for pool in self._pools():
            _wait_until_idle(pool, STARTUP_TIMEOUT)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop accepting, let in-flight requests finish, close everything.

        Returns True when the server stopped within ``timeout`` seconds.
        """
        if not self._thread.is_alive():
            self._server.close()
            return True
        deadline = time.monotonic() + timeout
        reachable = self._on_loop(lambda: wasyncore.dispatcher.close(self._server))
        if reachable:
            while time.monotonic() < deadline and self._busy():
                time.sleep(0.01)
            reachable = self._on_loop(lambda: wasyncore.close_all(self._server._map))
        if not reachable:
            # The loop cannot be reached; close from here. Its select() may then fail
            # on a closed socket, which ends the loop just the same.
            wasyncore.close_all(self._server._map, ignore_all=True)
        stopped = self._stopped.wait(max(0.0, deadline - time.monotonic()))
        for pool in self._pools():
            pool.shutdown(timeout=max(0.1, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        if not stopped:
            logger.warning("the HTTP server did not stop within %.1f s", timeout)
        return stopped

    def _on_loop(self, thunk: Any) -> bool:
        """Run ``thunk`` on the loop thread; False if the loop's trigger is gone.

        A stop must never raise (a service that cannot stop cleanly would exit
        non-zero and lose its log of what it was doing), so a trigger that fails
        to wake the loop is logged and reported, not propagated.
        """
        try:
            self._server.trigger.pull_trigger(thunk)
        except OSError as exc:
            logger.warning("cannot wake the HTTP loop (%s); closing from this thread", exc)
            return False
        return True

    def _busy(self) -> bool:
        """Whether any request is queued, running, or still being written out."""
        if any(pool.queue or pool.active_count for pool in self._pools()):
            return True
        channels = list(self._server.active_channels.values())
        return any(ch.requests or ch.total_outbufs_len for ch in channels)

    def _pools(self) -> tuple[Any, Any]:
        return self._server.task_dispatcher, self._server.heavy_dispatcher


def _adjustments(host: str, port: int, limits: HttpLimits) -> Any:
    """Waitress's settings for ``limits``.

    The loop's timeout is set afterwards, as a float that waitress's parser would
    round to whole seconds: it is how often the loop wakes to check deadlines.
    """
    adj = Adjustments(
        host=host,
        port=port,
        threads=limits.threads,
        ident="retailpulse",
        # waitress counts its listening socket and its wake-up pipe as connections
        connection_limit=_connection_limit(limits.connection_limit) + 2,
        asyncore_use_poll=True,  # select() cannot watch descriptors past FD_SETSIZE (1024)
        max_request_body_size=limits.max_body_bytes + 1,  # waitress refuses >= this value
        max_request_header_size=limits.max_head_bytes,
        inbuf_overflow=64 * 1024,  # a body past this waits in a temp file, not in memory
        cleanup_interval=1,
        channel_timeout=max(1, round(limits.idle_timeout)),
    )
    adj.asyncore_loop_timeout = limits.sweep_interval  # type: ignore[assignment]
    return adj


def _connection_limit(wanted: int) -> int:
    """``wanted``, or fewer if the process may not open that many files.

    The soft limit is raised towards the hard one first (as Go's runtime does at
    start-up): 1,024 by default on many systems is below a thousand connections.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + FD_RESERVE
    if soft != resource.RLIM_INFINITY and soft < need:
        target = need if hard == resource.RLIM_INFINITY else min(need, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            logger.warning("cannot raise the open-file limit to %d: %s", target, exc)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    usable = max(16, soft - FD_RESERVE)
    logger.warning(
        "serving at most %d connections, not %d: the process may open %d files",
        usable,
        wanted,
        soft,
    )
    return usable
