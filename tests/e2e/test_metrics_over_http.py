"""GET /metrics over real HTTP after a job of known images: names and values, parsed."""

from collections.abc import Callable
from typing import Any

import requests

import retailpulse
from retailpulse.testing import ImageServer, metric_value

Poll = Callable[[str, int], dict[str, Any]]

MEASURED = ("/webp/gallery/2.jpg", "/webp/gallery/3.jpg", "/img/shelf.png")


def test_metrics_after_a_known_job_count_its_images_bytes_and_status(
    service_url: str, image_server: ImageServer, poll_until_done: Poll
) -> None:
    visits = [
        {
            "store_id": "S00339218",
            "image_url": [image_server.url(p) for p in MEASURED],
            "visit_time": "t",
        },
        {"store_id": "S01408764", "image_url": [image_server.url("/broken")], "visit_time": "t"},
        {"store_id": "S99999999", "image_url": [image_server.url(MEASURED[0])], "visit_time": "t"},
    ]
    submitted = requests.post(
        f"{service_url}/api/submit", json={"count": 3, "visits": visits}, timeout=5
    )
    assert poll_until_done(service_url, submitted.json()["job_id"])["status"] == "failed"

    response = requests.get(f"{service_url}/metrics", timeout=5)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    page = response.text
    image_bytes = sum(len(image_server.routes[path].body) for path in MEASURED)
    assert metric_value(page, "retailpulse_jobs_submitted_total") == 1
    assert metric_value(page, "retailpulse_jobs", status="failed") == 1
    assert metric_value(page, "retailpulse_jobs", status="completed") == 0
    assert metric_value(page, "retailpulse_jobs", status="running") == 0
    assert metric_value(page, "retailpulse_jobs", status="queued") == 0
    assert metric_value(page, "retailpulse_images_processed_total", outcome="measured") == 3
    assert metric_value(page, "retailpulse_images_processed_total", outcome="failed") == 1
    assert metric_value(page, "retailpulse_images_skipped_total") == 1
    assert metric_value(page, "retailpulse_images_pending") == 0
    assert metric_value(page, "retailpulse_download_seconds_count") == 4
    assert metric_value(page, "retailpulse_download_bytes_count") == 3
    assert metric_value(page, "retailpulse_download_bytes_sum") == image_bytes
    assert metric_value(page, "retailpulse_image_processing_seconds_count") == 4
    # Three measured images each slept at least the minimum simulated GPU time.
    assert metric_value(page, "retailpulse_image_processing_seconds_sum") >= 3 * 0.1
    # A worker reports itself idle just after reporting its image, so only the sum is fixed.
    busy = metric_value(page, "retailpulse_workers", state="busy")
    assert busy + metric_value(page, "retailpulse_workers", state="idle") == 4


def test_metrics_of_two_services_in_one_process_do_not_mix(
    service_url: str, spec_payload: dict[str, Any], poll_until_done: Poll
) -> None:
    with retailpulse.start(gpu_slots=1) as other:
        submitted = requests.post(f"{service_url}/api/submit", json=spec_payload, timeout=5)
        poll_until_done(service_url, submitted.json()["job_id"])

        assert metric_value(other.metrics(), "retailpulse_jobs_submitted_total") == 0
    page = requests.get(f"{service_url}/metrics", timeout=5).text
    assert metric_value(page, "retailpulse_jobs", status="completed") == 1
