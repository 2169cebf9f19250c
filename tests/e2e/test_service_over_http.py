"""End to end: real waitress on 127.0.0.1, real downloads from a local image server."""

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.testing import ImageServer

Poll = Callable[[str, int], dict[str, Any]]


@contextmanager
def _serve(**settings: Any) -> Iterator[str]:
    """Start the system and waitress on a free port; yield the base URL; stop both."""
    with retailpulse.start(**settings) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield server.url
        finally:
            assert server.stop(timeout=5)


@pytest.fixture
def service() -> Iterator[str]:
    """The whole service with real sleeps, private URLs allowed for the local image server."""
    with _serve(gpu_slots=8, allow_private_urls=True) as base_url:
        yield base_url


def _visit(store_id: str, *urls: str) -> dict[str, Any]:
    return {"store_id": store_id, "image_url": list(urls), "visit_time": "2026-11-29T10:00:00"}


def _submit(base_url: str, visits: list[dict[str, Any]]) -> int:
    response = requests.post(
        f"{base_url}/api/submit/", json={"count": len(visits), "visits": visits}, timeout=5
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["job_id"]
    assert isinstance(job_id, int)
    return job_id


def _results(base_url: str, job_id: int) -> dict[str, Any]:
    response = requests.get(f"{base_url}/api/results", params={"jobid": job_id}, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    return body


def test_spec_example_payload_completes_with_the_right_perimeters(
    service: str,
    spec_payload: dict[str, Any],
    poll_until_done: Poll,
    perimeter_of: Callable[[str], int],
) -> None:
    urls = spec_payload["visits"][0]["image_url"]
    response = requests.post(f"{service}/api/submit/", json=spec_payload, timeout=5)
    assert response.status_code == 201
    job_id = response.json()["job_id"]

    status = poll_until_done(service, job_id)

    assert status["status"] == "completed"
    assert status["job_id"] == job_id
    assert "error" not in status
    images = _results(service, job_id)["images"]
    assert [image["image_url"] for image in images] == [urls[0], urls[1], urls[1]]
    assert [image["perimeter"] for image in images] == [perimeter_of(u) for u in (*urls, urls[1])]
    assert all(image["error"] is None for image in images)


def test_broken_url_non_image_and_unknown_store_each_fail_only_their_store(
    service: str,
    image_server: ImageServer,
    poll_until_done: Poll,
    perimeter_of: Callable[[str], int],
) -> None:
    good = [image_server.url("/img/shelf.png"), image_server.url("/img/aisle.jpg")]
    broken = image_server.url("/broken.jpg")
    text = image_server.url("/notes.txt")
    visits = [
        _visit("S00339218", *good),
        _visit("S01408764", good[0], broken),
        _visit("S00339198", text),
        _visit("S99999999", good[1]),
        _visit("S01408764", broken),
        _visit("S00339204", image_server.url("/img/tiny.gif")),
    ]
    job_id = _submit(service, visits)

    status = poll_until_done(service, job_id)

    assert status["status"] == "failed"
    failed = [entry["store_id"] for entry in status["error"]]
    assert failed == ["S01408764", "S00339198", "S99999999"]
    reasons = {entry["store_id"]: entry["error"] for entry in status["error"]}
    assert "404" in reasons["S01408764"]
    assert broken in reasons["S01408764"]
    assert "not an image" in reasons["S00339198"]
    assert "store master" in reasons["S99999999"]
    images = _results(service, job_id)["images"]
    outcomes = [(i["store_id"], i["perimeter"], i["error"] is None) for i in images]
    assert outcomes == [
        ("S00339218", perimeter_of(good[0]), True),
        ("S00339218", perimeter_of(good[1]), True),
        ("S01408764", perimeter_of(good[0]), True),
        ("S01408764", None, False),
        ("S00339198", None, False),
        ("S99999999", None, False),
        ("S01408764", None, False),
        ("S00339204", perimeter_of("/img/tiny.gif"), True),
    ]


def test_several_concurrent_jobs_all_finish_with_their_own_results(
    service: str,
    image_server: ImageServer,
    poll_until_done: Poll,
    perimeter_of: Callable[[str], int],
) -> None:
    paths = ["/img/shelf.png", "/img/aisle.jpg", "/webp/gallery/2.jpg", "/img/tiny.gif"]
    # Job n holds n+1 visits, each with image paths[n % 4], so every job's answer differs.
    jobs = {
        n: [_visit("S00339218", image_server.url(paths[n % 4])) for _ in range(n + 1)]
        for n in range(6)
    }
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = dict(zip(jobs, pool.map(lambda n: _submit(service, jobs[n]), jobs), strict=True))
        finals = dict(
            zip(ids, pool.map(lambda n: poll_until_done(service, ids[n]), ids), strict=True)
        )

    assert len(set(ids.values())) == len(jobs)
    for n, job_id in ids.items():
        assert finals[n]["status"] == "completed"
        assert finals[n]["job_id"] == job_id
        images = _results(service, job_id)["images"]
        assert [i["perimeter"] for i in images] == [perimeter_of(paths[n % 4])] * (n + 1)


def test_status_reports_ongoing_with_progress_while_images_are_in_flight(
    service: str, image_server: ImageServer, poll_until_done: Poll
) -> None:
    visits = [_visit("S00339218", image_server.url("/img/shelf.png")) for _ in range(24)]
    job_id = _submit(service, visits)

    first = requests.get(f"{service}/api/status", params={"jobid": job_id}, timeout=5).json()
    final = poll_until_done(service, job_id)

    # 24 images, 8 workers, each image sleeps >= 0.1 s: the first look is mid-job.
    assert first["status"] == "ongoing"
    assert first["progress"]["total"] == 24
    assert first["progress"]["done"] < 24
    assert final["status"] == "completed"
    assert final["progress"] == {"total": 24, "done": 24, "failed": 0}


def test_private_addresses_are_refused_unless_allowed(
    image_server: ImageServer, poll_until_done: Poll
) -> None:
    with _serve(gpu_slots=2) as base_url:
        job_id = _submit(base_url, [_visit("S00339218", image_server.url("/img/shelf.png"))])
        status = poll_until_done(base_url, job_id)

        assert status["status"] == "failed"
        assert status["error"] == [
            {
                "store_id": "S00339218",
                "error": "its image was refused by the address guard, not a public address: "
                f"{image_server.url('/img/shelf.png')}; allow such URLs with --allow-private-urls",
            }
        ]


def test_unknown_job_is_a_400_with_an_empty_object(service: str) -> None:
    for path in ("/api/status", "/api/results"):
        response = requests.get(f"{service}{path}", params={"jobid": 424242}, timeout=5)
        assert response.status_code == 400
        assert response.content == b"{}"
