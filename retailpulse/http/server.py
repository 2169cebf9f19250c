"""A waitress server that can be stopped from code, gracefully and within a deadline.

Waitress has no programmatic stop. Its event loop runs until its socket map is
empty, and it offers a trigger that runs a callable on the loop thread. We use that
trigger so the loop's own thread does all closing (no race with a running
``select``): first the listening socket goes (no new connections), then in-flight
requests get a bounded time to finish, then every channel is closed, the loop
returns, and the task threads are shut down.
"""

import logging
import threading
import time
from typing import Any, Self
from wsgiref.types import WSGIApplication

from waitress import wasyncore
from waitress.server import create_server

from retailpulse.lifecycle import Service

__all__ = ["HttpServer"]

logger = logging.getLogger(__name__)


class HttpServer(Service):
    """Serve a WSGI app with waitress on a background thread until ``stop()``."""

    def __init__(
        self, app: WSGIApplication, host: str = "127.0.0.1", port: int = 8080, threads: int = 8
    ) -> None:
        # The stubs of waitress describe its internals loosely; we use a few of them.
        self._server: Any = create_server(
            app, host=host, port=port, threads=threads, ident="retailpulse"
        )
        if not hasattr(self._server, "trigger"):
            raise ValueError(f"host {host!r} resolves to several addresses; pass one address")
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
        """Serve from a background thread; the socket is already listening."""
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
        self._server.task_dispatcher.shutdown(timeout=max(0.1, deadline - time.monotonic()))
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
        dispatcher = self._server.task_dispatcher
        if dispatcher.queue or dispatcher.active_count:
            return True
        channels = list(self._server.active_channels.values())
        return any(ch.requests or ch.total_outbufs_len for ch in channels)
