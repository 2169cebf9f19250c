"""POST /api/retry: a failed job's failed images run again, measured ones stay as they are.

The image server here counts the requests per path, so a test can say which images
were downloaded again.
"""

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.testing.fakes import image_bytes

PNG = image_bytes(40, 30, "PNG")
STORE = "S00339218"


class CountingImages:
    """Serves ``/good.png`` always and ``/flaky.png`` once ``fixed`` is set (404 before);
    ``hits`` lists every path asked for (``list.append`` is atomic across threads)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.fixed = threading.Event()
        images = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                images.hits.append(self.path)
                path = self.path.split("?", 1)[0]
                ok = path == "/good.png" or (path == "/flaky.png" and images.fixed.is_set())
                self.send_response(200 if ok else 404)
                body = PNG if ok else b"missing"
                self.send_header("Content-Type", "image/png" if ok else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, path: str) -> int:
        return self.hits.count(path)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)
        self._server.server_close()


@pytest.fixture
def images() -> Iterator[CountingImages]:
    server = CountingImages()
    yield server
    server.stop()


class Api:
    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, job_id: int) -> requests.Response:
        return requests.post(self.url + path, params={"jobid": job_id}, timeout=10)

    def submit(self, payload: dict[str, Any]) -> int:
        response = requests.post(self.url + "/api/submit/", json=payload, timeout=10)
        assert response.status_code == 201, response.text
        job_id: int = response.json()["job_id"]
        return job_id

    def wait(self, job_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            body: dict[str, Any] = requests.get(
                self.url + "/api/status", params={"jobid": job_id}, timeout=10
            ).json()
            if body["status"] != "ongoing":
                return body
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still ongoing")

    def results(self, job_id: int) -> list[dict[str, Any]]:
        body = requests.get(self.url + "/api/results", params={"jobid": job_id}, timeout=10)
        images: list[dict[str, Any]] = body.json()["images"]
        return images


def serve(**settings: Any) -> Iterator[Api]:
    with retailpulse.start(gpu_slots=2, allow_private_urls=True, **settings) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield Api(server.url)
        finally:
            assert server.stop(timeout=5)


@pytest.fixture
def api() -> Iterator[Api]:
    yield from serve()


def visits(*entries: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "count": len(entries),
        "visits": [{"store_id": s, "image_url": urls, "visit_time": "t"} for s, urls in entries],
    }


def test_a_retry_downloads_only_the_failed_images_and_the_job_completes(
    api: Api, images: CountingImages
) -> None:
    good, flaky = images.base + "/good.png", images.base + "/flaky.png"
    job_id = api.submit(visits((STORE, [good, flaky, good + "?2"])))
    first = api.wait(job_id)
    images.fixed.set()

    answer = api.post("/api/retry", job_id)
    final = api.wait(job_id)

    assert (first["status"], first["attempts"]) == ("failed", 1)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ongoing"
    assert answer.json()["attempts"] == 2
    assert (final["status"], final["attempts"]) == ("completed", 2)
    assert final["progress"] == {"total": 3, "done": 3, "failed": 0}
    assert "error" not in final
    assert [image["status"] for image in api.results(job_id)] == ["measured"] * 3
    assert images.count("/flaky.png") == 2  # once per attempt
    assert images.count("/good.png") == 1  # measured the first time, never again
    assert images.count("/good.png?2") == 1


def test_a_retry_that_fails_again_is_failed_with_its_attempts_counted(
    api: Api, images: CountingImages
) -> None:
    job_id = api.submit(visits((STORE, [images.base + "/flaky.png"])))
    api.wait(job_id)
    api.post("/api/retry", job_id)
    api.wait(job_id)

    api.post("/api/retry", job_id)
    final = api.wait(job_id)

    assert (final["status"], final["attempts"]) == ("failed", 3)
    assert images.count("/flaky.png") == 3


def test_a_job_that_is_not_failed_is_409_saying_its_state(api: Api, images: CountingImages) -> None:
    job_id = api.submit(visits((STORE, [images.base + "/good.png"])))
    api.wait(job_id)

    response = api.post("/api/retry", job_id)

    assert response.status_code == 409
    assert response.json()["status"] == "completed"
    assert "only a failed job" in response.json()["error"]


def test_an_unknown_job_is_400_empty(api: Api) -> None:
    response = api.post("/api/retry", 999)

    assert (response.status_code, response.json()) == (400, {})


def test_a_store_unknown_at_first_is_checked_again_against_the_store_master(
    tmp_path: Path, images: CountingImages
) -> None:
    master = tmp_path / "stores.csv"
    master.write_text("AreaCode,StoreName,StoreID\n710006,OLD STORE,S1\n")
    data = tmp_path / "jobs.db"
    payload = visits(("S1", [images.base + "/good.png"]), ("S2", [images.base + "/good.png?b"]))
    for api in serve(data=data, store_master=master):
        job_id = api.submit(payload)
        failed = api.wait(job_id)
    # The store master now knows S2; the service restarts with it.
    master.write_text("AreaCode,StoreName,StoreID\n710006,OLD STORE,S1\n710007,NEW STORE,S2\n")
    for api in serve(data=data, store_master=master):
        assert api.post("/api/retry", job_id).status_code == 200
        final = api.wait(job_id)
        results = api.results(job_id)

    assert failed["error"][0]["store_id"] == "S2"
    assert final["status"] == "completed"
    assert [(r["store_id"], r["store_name"], r["status"]) for r in results] == [
        ("S1", "OLD STORE", "measured"),
        ("S2", "NEW STORE", "measured"),
    ]
    assert images.count("/good.png") == 1
    assert images.count("/good.png?b") == 1
