"""Faults in one image end as that image's failure: the job ends, the service stays healthy.

Each test runs the whole service over real waitress on 127.0.0.1 and real
downloads, meets one fault (a worker that raises, a server that never answers, a
server that resets connections), then checks the job's failure names the URL
and the cause, /healthz answers ok with a full pool, and a next job completes.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

import retailpulse
from retailpulse.config import ServiceConfig
from retailpulse.download import HttpFetcher
from retailpulse.http import HttpServer, create_app
from retailpulse.ports import Fetcher
from retailpulse.testing import FaultyServer, ImageServer, hang, reset

Poll = Callable[[str, int], dict[str, Any]]

WORKERS = 3

FAST_FAILURES: dict[str, Any] = {
    "gpu_slots": WORKERS,
    "allow_private_urls": True,
    "connect_timeout": 1.0,
    "read_timeout": 0.3,
    "download_timeout": 1.5,
    "retries": 2,
    "retry_backoff": 0.01,
    "min_sleep": 0.0,
    "max_sleep": 0.0,
}
"""Loopback allowed, short timeouts and pauses, no simulated GPU time."""


@contextmanager
def serve(fetcher_factory: Callable[[], Fetcher] | None = None) -> Iterator[str]:
    with retailpulse.start(fetcher_factory=fetcher_factory, **FAST_FAILURES) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield server.url
        finally:
            assert server.stop(timeout=5)


def submit(base_url: str, *urls: str) -> int:
    visit = {"store_id": "S00339218", "image_url": list(urls), "visit_time": "10:00"}
    response = requests.post(
        f"{base_url}/api/submit", json={"count": 1, "visits": [visit]}, timeout=5
    )
    assert response.status_code == 201, response.text
    job_id: int = response.json()["job_id"]
    return job_id


def image_errors(base_url: str, job_id: int) -> list[str | None]:
    response = requests.get(f"{base_url}/api/results", params={"jobid": job_id}, timeout=5)
    return [image["error"] for image in response.json()["images"]]


def assert_still_healthy(base_url: str, image_server: ImageServer, poll: Poll) -> None:
    """/healthz says ok with every worker there, and a new job completes."""
    health = requests.get(f"{base_url}/healthz", timeout=5)
    next_job = submit(base_url, image_server.url("/img/shelf.png"))

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert health.json()["workers"] == WORKERS
    assert poll(base_url, next_job)["status"] == "completed"


class ExplodingFetcher:
    """A real fetcher, except that a URL ending in ``/boom`` makes it raise a bug."""

    def __init__(self) -> None:
        self._inner = HttpFetcher(ServiceConfig(**FAST_FAILURES))

    def fetch(self, url: str) -> bytes:
        if url.endswith("/boom"):
            raise RuntimeError("simulated bug in the worker")
        return self._inner.fetch(url)


def test_a_worker_that_raises_fails_only_its_image(
    image_server: ImageServer, poll_until_done: Poll
) -> None:
    good, boom = image_server.url("/img/shelf.png"), image_server.url("/boom")
    with serve(ExplodingFetcher) as base_url:
        job_id = submit(base_url, good, boom, good)

        status = poll_until_done(base_url, job_id)
        errors = image_errors(base_url, job_id)

        assert status["status"] == "failed"
        assert status["progress"] == {"total": 3, "done": 3, "failed": 1}
        assert errors[0] is None
        assert errors[2] is None
        assert errors[1] is not None
        assert errors[1].startswith(f"{boom}: internal error while processing")
        assert "simulated bug in the worker" in errors[1]
        assert_still_healthy(base_url, image_server, poll_until_done)


def test_a_server_that_never_answers_fails_its_image_within_the_deadline(
    image_server: ImageServer, poll_until_done: Poll
) -> None:
    with FaultyServer(hang) as silent, serve() as base_url:
        job_id = submit(base_url, silent.url())

        status = poll_until_done(base_url, job_id)

        assert status["status"] == "failed"
        assert image_errors(base_url, job_id) == [
            f"{silent.url()}: the server did not answer within 0.3 s, also on retrying"
        ]
        assert silent.requests == 3  # the first try and two retries, all within 1.5 s
        assert_still_healthy(base_url, image_server, poll_until_done)


def test_a_server_that_resets_connections_fails_its_image_after_retrying(
    image_server: ImageServer, poll_until_done: Poll
) -> None:
    with FaultyServer(reset) as resetting, serve() as base_url:
        job_id = submit(base_url, resetting.url(), image_server.url("/img/shelf.png"))

        status = poll_until_done(base_url, job_id)

        assert status["status"] == "failed"
        assert status["error"] == [
            {
                "store_id": "S00339218",
                "error": "1 of 2 images failed: "
                f"{resetting.url()}: the server reset the connection, also on retrying",
            }
        ]
        assert resetting.requests == 3
        assert_still_healthy(base_url, image_server, poll_until_done)
