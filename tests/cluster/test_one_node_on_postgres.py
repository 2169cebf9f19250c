"""One service node whose jobs live in PostgreSQL: the whole job path, and a
restart that finds every job where it was."""

from typing import Any

import retailpulse
from retailpulse.testing import ImageServer

SETTINGS: dict[str, Any] = {"gpu_slots": 4, "allow_private_urls": True, "min_sleep": 0.0}
SETTINGS["max_sleep"] = 0.0


def payload(image_server: ImageServer, count: int) -> dict[str, Any]:
    urls = [image_server.url("/img/shelf.png")] * count + [image_server.url("/broken")]
    return {
        "count": 2,
        "visits": [
            {"store_id": "S00339218", "image_url": urls[:-1], "visit_time": "t"},
            {"store_id": "S01408764", "image_url": urls[-1:], "visit_time": "t"},
        ],
    }


def test_a_job_in_postgresql_completes_and_outlives_a_restart(
    cluster_db: str, image_server: ImageServer
) -> None:
    with retailpulse.start(data=cluster_db, **SETTINGS) as system:
        job_id = system.submit(payload(image_server, 70))
        final = system.wait(job_id, timeout=30)

    with retailpulse.start(data=cluster_db, **SETTINGS) as again:
        after = again.status(job_id)
        next_id = again.submit(payload(image_server, 1))
        results = again.results(job_id)

    assert final["status"] == "failed"
    assert [e["store_id"] for e in final["error"]] == ["S01408764"]
    assert final["progress"] == {"total": 71, "done": 71, "failed": 1}
    assert after == final
    assert next_id == job_id + 1
    assert [image["error"] is None for image in results["images"]] == [True] * 70 + [False]
