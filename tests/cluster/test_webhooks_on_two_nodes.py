"""Two real ``retailpulse serve`` nodes on one PostgreSQL database, both sending
completion webhooks: each delivery is claimed in the database, so each webhook
reaches the receiver once, however the two nodes' looks at the store interleave."""

import base64
import json
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from retailpulse.testing import ImageServer
from retailpulse.testing.nodes import Node

SECRET = "whsec_" + base64.b64encode(b"retail-pulse-cluster-webhook-key!").decode()
FAST = ("--min-sleep", "0.01", "--max-sleep", "0.02", "--webhook-secret", SECRET)
STORE = "S00339218"
JOBS = 6
HOLD = 0.5
"""Seconds the receiver holds each answer: a send long enough that the other node's
once-a-second look at the store comes while it is in flight."""
QUIET = 2.5
"""Seconds without a POST after which no second send is still coming: a look at the
store every second, plus the hold, plus slack."""


class SlowReceiver:
    """Answers every POST 200 after ``HOLD`` seconds; notes each one's webhook-id and
    job on arrival."""

    def __init__(self) -> None:
        self.arrived: queue.Queue[tuple[str, int]] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.arrived.put((self.headers["webhook-id"], json.loads(body)["job_id"]))
                time.sleep(HOLD)  # the slow receiver under test, not a wait for a result
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"

    def __enter__(self) -> "SlowReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()

    def until_quiet(self, expected: int, within: float = 60.0) -> list[tuple[str, int]]:
        """Every POST until at least ``expected`` came and then none for ``QUIET`` s."""
        deadline = time.monotonic() + within
        seen: list[tuple[str, int]] = []
        while time.monotonic() < deadline:
            try:
                seen.append(self.arrived.get(timeout=QUIET))
            except queue.Empty:
                if len(seen) >= expected:
                    return seen
        raise AssertionError(f"{len(seen)} webhooks in {within} s, still arriving: {seen}")


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    with SlowReceiver() as started:
        yield started


def payload(image_server: ImageServer, n: int, callback_url: str) -> dict[str, Any]:
    url = image_server.url(f"/img/shelf.png?webhook-job={n}")
    return {
        "count": 1,
        "visits": [{"store_id": STORE, "image_url": [url], "visit_time": "t"}],
        "callback_url": callback_url,
    }


def test_two_nodes_on_one_database_send_each_webhook_exactly_once(
    cluster_db: str,
    nodes: Callable[..., Node],
    image_server: ImageServer,
    receiver: SlowReceiver,
) -> None:
    pair = [nodes(cluster_db, *FAST), nodes(cluster_db, *FAST)]

    job_ids = [pair[n % 2].submit(payload(image_server, n, receiver.url)) for n in range(JOBS)]
    arrived = receiver.until_quiet(JOBS)
    states = [pair[0].get("/api/status", jobid=job_id)["webhook"] for job_id in job_ids]

    sends = Counter(webhook_id for webhook_id, _ in arrived)
    assert sorted(sends.values()) == [1] * JOBS, sends
    assert sorted(job for _, job in arrived) == sorted(job_ids)
    assert [(s["state"], s["attempts"]) for s in states] == [("delivered", 1)] * JOBS
