"""Costly requests run on their own few threads: heavy readers cannot starve a status poll.

A stand-in app over real waitress holds every ``/api/results`` request until the
test opens a gate, as a reader of a 100,000-image job holds a thread for seconds;
the tests then check who is still answered, who waits and who is told to retry.
"""

import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from waitress.task import ThreadedTaskDispatcher

from retailpulse.http import HttpLimits, HttpServer

WAIT = 5.0


class GatedApp:
    """Answers ``/api/results`` once ``gate`` opens, everything else at once."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.holding = threading.Semaphore(0)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/api/results":
            self.holding.release()
            self.gate.wait(WAIT * 4)
        environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    def wait_holding(self, count: int) -> None:
        for _ in range(count):
            assert self.holding.acquire(timeout=WAIT), "the heavy requests did not start"


@contextmanager
def gated_server(**limits: Any) -> Iterator[tuple[GatedApp, str, ThreadPoolExecutor]]:
    app = GatedApp()
    server = HttpServer(app, "127.0.0.1", 0, limits=HttpLimits(**limits)).start()
    with ThreadPoolExecutor(max_workers=32) as clients:
        try:
            yield app, server.url, clients
        finally:
            app.gate.set()
            assert server.stop(timeout=10)


def read_results(clients: ThreadPoolExecutor, base_url: str) -> "Future[requests.Response]":
    return clients.submit(requests.get, f"{base_url}/api/results", timeout=WAIT * 4)


def test_a_status_poll_is_answered_while_eight_readers_hold_results() -> None:
    with gated_server(threads=8, heavy_threads=2) as (app, base_url, clients):
        readers = [read_results(clients, base_url) for _ in range(8)]
        app.wait_holding(2)
        time.sleep(0.3)  # the other six reach the server (with eight threads: all held)

        status = requests.get(f"{base_url}/api/status", timeout=WAIT)

        assert status.status_code == 200
        app.gate.set()
        assert [r.result().status_code for r in readers] == [200] * 8


def test_costly_requests_past_the_queue_get_503_with_retry_after() -> None:
    with gated_server(heavy_threads=1, heavy_queue=1) as (app, base_url, clients):
        running = read_results(clients, base_url)
        app.wait_holding(1)
        others = [read_results(clients, base_url) for _ in range(3)]  # one waits, two refused
        refused = [f.result() for f in _first(others, 2)]

        assert [r.status_code for r in refused] == [503, 503]
        assert all(r.headers["Retry-After"] == "1" for r in refused)
        assert all("retry" in r.json()["error"] for r in refused)
        app.gate.set()
        assert running.result().status_code == 200
        assert sorted(f.result().status_code for f in others) == [200, 503, 503]


def _first(futures: "list[Future[requests.Response]]", count: int) -> "list[Future[Any]]":
    """The first ``count`` of ``futures`` to finish (the gate still closed)."""
    finished = []
    for future in as_completed(futures, timeout=WAIT):
        finished.append(future)
        if len(finished) == count:
            return finished
    raise AssertionError("fewer requests finished than expected")


def test_a_big_submit_waits_for_the_heavy_pool_and_a_small_one_does_not() -> None:
    with gated_server(heavy_threads=1, heavy_queue=0, heavy_body_bytes=1024) as (
        app,
        base_url,
        clients,
    ):
        running = read_results(clients, base_url)
        app.wait_holding(1)

        small = requests.post(f"{base_url}/api/submit", data=b"x" * 1000, timeout=WAIT)
        big = requests.post(f"{base_url}/api/submit", data=b"x" * 2000, timeout=WAIT)

        assert (small.status_code, big.status_code) == (200, 503)
        app.gate.set()
        assert running.result().status_code == 200


def test_a_costly_request_right_after_start_is_served_though_the_pool_threads_start_late(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """waitress counts a pool thread busy until it first waits for work; on a loaded
    machine that is a while, and the heavy pool must not refuse requests meanwhile."""
    starting = ThreadedTaskDispatcher.start_new_thread

    def start_late(self: ThreadedTaskDispatcher, target: Any, thread_no: int) -> None:
        def late(number: int) -> None:
            time.sleep(0.3)
            target(number)

        starting(self, late, thread_no)

    monkeypatch.setattr(ThreadedTaskDispatcher, "start_new_thread", start_late)
    with gated_server(heavy_threads=1, heavy_queue=0) as (app, base_url, clients):
        reader = read_results(clients, base_url)
        app.wait_holding(1)
        app.gate.set()

        assert reader.result().status_code == 200
