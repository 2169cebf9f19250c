"""The README's screenshots of the dashboard: not part of the suite (its name does not
match ``test_*``), run on purpose with ``make screenshots``, which is

    .venv/bin/python -m pytest tests/browser/make_screenshots.py

writes docs/dashboard-jobs.png and docs/dashboard-job.png (1280x800) from a live service
running a few realistic jobs.
"""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from retailpulse.testing import ImageServer

from .conftest import Tab, expect, served

DOCS = Path(__file__).resolve().parents[2] / "docs"
STORES = ["S00339198", "S00339204", "S00339215", "S00339218"]
IMAGES = ["/img/shelf.png", "/webp/gallery/2.jpg", "/webp/gallery/3.jpg", "/img/aisle.jpg"]


@pytest.fixture
def dashboard_url(image_server: ImageServer) -> Iterator[str]:
    """A service paced like the real one (0.1-0.4 s of GPU per image, 8 slots)."""
    with served(gpu_slots=8) as url:
        yield url


def _job(base: str, image_server: ImageServer, visits: list[tuple[str, list[str]]]) -> int:
    body = {
        "count": len(visits),
        "visits": [
            {
                "store_id": store,
                "image_url": [image_server.url(p) for p in paths],
                "visit_time": "2024-05-01T10:00:00Z",
            }
            for store, paths in visits
        ],
    }
    job_id: int = requests.post(f"{base}/api/submit/", json=body, timeout=5).json()["job_id"]
    return job_id


def test_write_the_dashboard_screenshots(
    tab: Tab, dashboard_url: str, image_server: ImageServer
) -> Any:
    base = dashboard_url
    for n in range(3):
        _job(base, image_server, [(s, IMAGES * (2 + n)) for s in STORES])
    failed = _job(
        base,
        image_server,
        [(STORES[0], IMAGES), ("S99999999", IMAGES[:2]), (STORES[1], [*IMAGES, "/missing.jpg"])],
    )
    cancelled = _job(base, image_server, [(STORES[2], IMAGES * 200)])
    time.sleep(1.0)
    requests.post(f"{base}/api/cancel", params={"jobid": cancelled}, timeout=5)
    time.sleep(6.0)
    _job(base, image_server, [(s, IMAGES * 150) for s in STORES])  # still running in the shots
    time.sleep(5.0)  # a few 5 s steps of the chart

    page = tab.open("#/")
    expect(page.locator("tbody tr")).to_have_count(6)
    time.sleep(1.5)
    page.screenshot(path=str(DOCS / "dashboard-jobs.png"))

    page = tab.open(f"#/jobs/{failed}")
    expect(page.locator("table.stores")).to_be_visible()
    page.screenshot(path=str(DOCS / "dashboard-job.png"))
    tab.assert_no_errors()
