"""Fixtures shared by the whole suite: a real local image server and actor cleanup."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pykka
import pytest
import requests
from hypothesis import HealthCheck, Phase, settings

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.testing import SAMPLE_IMAGES, ImageServer, sample_routes
from tests.keyed import KeyedService, keyed_service
from tests.serving import Served, serve_processes

settings.register_profile(
    "retailpulse",
    max_examples=200,
    deadline=None,  # a shared 2-core machine makes per-example timing meaningless
    database=None,  # no .hypothesis/ folder in the work tree; failures print their seed
    # Every phase but "explain", which reruns a failure hundreds of times to annotate it.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
)
settings.load_profile("retailpulse")
"""Property tests run 200 generated inputs each unless they say otherwise; pytest
``--hypothesis-show-statistics`` prints how many each test really ran."""

SIZES = {
    **SAMPLE_IMAGES,
    "/img/aisle.jpg": (1024, 768, "JPEG"),
    "/img/tiny.gif": (3, 7, "GIF"),
}
"""Images the local server serves: path -> (width, height, format)."""


@pytest.fixture(autouse=True)
def _stop_stray_actors() -> Iterator[None]:
    """Last resort: whatever a test left running is stopped before the next one."""
    yield
    pykka.ActorRegistry.stop_all(block=True, timeout=10)


@pytest.fixture(scope="session")
def image_server() -> Iterator[ImageServer]:
    """A real HTTP server on 127.0.0.1 with images of known sizes, a text file and no /broken."""
    with ImageServer(sample_routes(SIZES)) as server:
        yield server


@pytest.fixture(scope="session")
def perimeter_of() -> Callable[[str], int]:
    """The perimeter 2*(w+h) that the image at a URL (or path) of ``image_server`` must get."""

    def perimeter(url_or_path: str) -> int:
        width, height, _ = SIZES[urlsplit(url_or_path).path]
        return 2 * (width + height)

    return perimeter


@pytest.fixture
def poll_until_done() -> Callable[[str, int], dict[str, Any]]:
    """Poll ``/api/status`` like a client would, until the job ends (at most 20 s)."""

    def poll(base_url: str, job_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            response = requests.get(f"{base_url}/api/status", params={"jobid": job_id}, timeout=5)
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] != "ongoing":
                return body
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still ongoing after 20 s")

    return poll


@pytest.fixture
def service_url() -> Iterator[str]:
    """A live service on real waitress that may download from the local image server."""
    with retailpulse.start(gpu_slots=4, allow_private_urls=True) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield server.url
        finally:
            assert server.stop(timeout=5)


@pytest.fixture
def spec_payload(image_server: ImageServer) -> dict[str, Any]:
    """The spec's own example payload, its gstatic image paths served by ``image_server``."""
    urls = [image_server.url("/webp/gallery/2.jpg"), image_server.url("/webp/gallery/3.jpg")]
    return {
        "count": 2,
        "visits": [
            {"store_id": "S00339218", "image_url": urls, "visit_time": "time of store visit"},
            {"store_id": "S01408764", "image_url": urls[1:], "visit_time": "time of store visit"},
        ],
    }


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[KeyedService]:
    """A live service on real waitress with API keys: alice, bob (users) and ops (admin)."""
    yield from keyed_service(tmp_path)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """``served(*args)`` starts ``retailpulse serve --port 0 *args`` in ``tmp_path``."""
    yield from serve_processes(tmp_path)
