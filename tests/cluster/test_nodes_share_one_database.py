"""Real ``retailpulse serve`` nodes on one PostgreSQL database: any node reads any
job, concurrent submits get distinct ids, and a PostgreSQL restart mid-job costs
nothing. (Claims, takeover after a SIGKILL and cancel on every node need the
actors to run the claim protocol: issue 13's second half.)"""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from retailpulse.testing import ImageServer
from retailpulse.testing.nodes import Node
from retailpulse.testing.postgres import PrivatePostgres, private_server

FAST = ("--min-sleep", "0.01", "--max-sleep", "0.02")
STORE = "S00339218"


def payload(image_server: ImageServer, tag: str, count: int) -> dict[str, Any]:
    urls = [image_server.url(f"/img/shelf.png?job={tag}&n={n}") for n in range(count)]
    return {"count": 1, "visits": [{"store_id": STORE, "image_url": urls, "visit_time": "t"}]}


def test_a_job_submitted_to_one_node_is_read_from_another_at_once(
    cluster_db: str, nodes: Callable[..., Node], image_server: ImageServer
) -> None:
    first, second = nodes(cluster_db, *FAST), nodes(cluster_db, *FAST)

    job_id = first.submit(payload(image_server, "read", 40))
    seen_at_once = second.get("/api/status", jobid=job_id)
    final = first.wait_until_done(job_id)
    seen_after = second.get("/api/results", jobid=job_id)

    assert seen_at_once["job_id"] == job_id
    assert seen_at_once["progress"]["total"] == 40
    assert final["status"] == "completed"
    assert seen_after["status"] == "completed"
    assert len(seen_after["images"]) == 40
    assert [job["job_id"] for job in second.get("/api/jobs")["jobs"]] == [job_id]


def test_concurrent_submits_to_several_nodes_get_distinct_ids(
    cluster_db: str, nodes: Callable[..., Node], image_server: ImageServer
) -> None:
    started = [nodes(cluster_db, *FAST) for _ in range(3)]
    ids: list[int] = []
    gate = threading.Barrier(len(started))

    def submit_five(node: Node) -> None:
        gate.wait(timeout=10)
        for n in range(5):
            ids.append(node.submit(payload(image_server, f"{node.url}-{n}", 1)))

    threads = [threading.Thread(target=submit_five, args=(node,)) for node in started]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(ids) == len(set(ids)) == 15
    assert sorted(ids) == list(range(1, 16))


@pytest.fixture
def private_db() -> Iterator[PrivatePostgres]:
    with private_server() as server:
        yield server


def test_a_postgresql_restart_mid_job_loses_nothing_and_the_job_completes(
    private_db: PrivatePostgres, nodes: Callable[..., Node], image_server: ImageServer
) -> None:
    # 200 images, 8 at a time, 0.05 s each on the GPU: over a second of work.
    node = nodes(private_db.url, "--workers", "8", "--min-sleep", "0.05", "--max-sleep", "0.05")
    job_id = node.submit(payload(image_server, "restart", 200))

    before = node.wait_until(job_id, lambda status: status["progress"]["done"] >= 20)
    private_db.restart(down_for=1.0)
    final = node.wait_until_done(job_id, within=90)

    assert before["progress"]["done"] < 200, "the job ended before the restart: no test"

    assert final["status"] == "completed"
    assert final["progress"] == {"total": 200, "done": 200, "failed": 0}
    results = node.get("/api/results", jobid=job_id)
    assert sum(image["error"] is None for image in results["images"]) == 200


def test_while_postgresql_is_down_a_node_answers_503_with_retry_after_then_200(
    private_db: PrivatePostgres, nodes: Callable[..., Node], image_server: ImageServer
) -> None:
    node = nodes(private_db.url, *FAST)
    job_id = node.submit(payload(image_server, "down", 3))
    node.wait_until_done(job_id)

    private_db.stop("immediate")
    try:
        while_down = requests.get(f"{node.url}/api/status", params={"jobid": job_id}, timeout=10)
        submit_down = requests.post(
            f"{node.url}/api/submit", json=payload(image_server, "down2", 1), timeout=10
        )
    finally:
        private_db.start()
    deadline = time.monotonic() + 30
    while (
        back := requests.get(f"{node.url}/api/status", params={"jobid": job_id}, timeout=10)
    ).status_code != 200:
        assert time.monotonic() < deadline, back.text
        time.sleep(0.1)

    assert while_down.status_code == 503
    assert while_down.headers["Retry-After"]
    assert "error" in while_down.json()
    assert submit_down.status_code == 503
    assert back.json()["status"] == "completed"


def test_healthz_names_the_node_and_lists_the_live_nodes(
    cluster_db: str, nodes: Callable[..., Node]
) -> None:
    first, second = nodes(cluster_db, *FAST), nodes(cluster_db, *FAST)

    health = [node.get("/healthz") for node in (first, second)]

    assert health[0]["node"] != health[1]["node"]
    for seen in health:
        listed = {n["node_id"]: n for n in seen["nodes"]}
        assert set(listed) == {health[0]["node"], health[1]["node"]}
        assert all(n["gpu_slots"] == 64 for n in listed.values())
        assert all(n["last_heartbeat"].endswith("+00:00") for n in listed.values())
