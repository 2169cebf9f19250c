"""A webhook receiver on 127.0.0.1 for the tests of completion webhooks: it answers each
POST with the next scripted status (then 200), after ``hold`` seconds, and queues what
arrived, for one service (tests/http) or several nodes (tests/cluster)."""

import json
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["Received", "WebhookReceiver"]


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class WebhookReceiver:
    """Answers each POST with the next of ``statuses`` (then 200) once ``hold`` seconds
    have passed (a slow receiver), and queues it as it arrives."""

    def __init__(self, *statuses: int, hold: float = 0.0) -> None:
        self.statuses: deque[int] = deque(statuses)
        self.received: queue.Queue[Received] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.put(Received(headers, body))
                time.sleep(hold)  # the slow receiver under test, not a wait for a result
                status = receiver.statuses.popleft() if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/retail"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()

    def next(self, timeout: float = 20.0) -> Received:
        return self.received.get(timeout=timeout)

    def nothing_more(self, within: float) -> bool:
        try:
            self.received.get(timeout=within)
        except queue.Empty:
            return True
        return False

    def until_quiet(self, expected: int, quiet: float, within: float) -> list[Received]:
        """Every POST until at least ``expected`` came and then none for ``quiet`` s."""
        deadline = time.monotonic() + within
        seen: list[Received] = []
        while time.monotonic() < deadline:
            try:
                seen.append(self.received.get(timeout=quiet))
            except queue.Empty:
                if len(seen) >= expected:
                    return seen
        raise AssertionError(f"{len(seen)} webhooks in {within} s, still arriving: {seen}")
