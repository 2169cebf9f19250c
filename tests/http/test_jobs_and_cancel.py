"""GET /api/jobs and POST /api/cancel through falcon's TestClient over real actors."""

import threading
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

import retailpulse
from retailpulse.http import create_app
from retailpulse.system import System
from retailpulse.testing import GatedFetcher, InstantGpu, wait_until

GOOD = "https://img.example.test/good.png"
STORE = "S00339218"
WAIT = 5.0


class Api:
    def __init__(self, system: System, gate: threading.Event, fetcher: GatedFetcher) -> None:
        self.system = system
        self.gate = gate
        self.fetcher = fetcher
        self.client = falcon.testing.TestClient(create_app(system))

    def submit(self, images: int = 1) -> int:
        payload = {
            "count": 1,
            "visits": [{"store_id": STORE, "image_url": [GOOD] * images, "visit_time": "t"}],
        }
        result = self.client.simulate_post("/api/submit", json=payload)
        assert result.status_code == 201, result.text
        job_id: int = result.json["job_id"]
        return job_id

    def claimed(self, *job_ids: int) -> None:
        """Wait until the node has claimed a chunk of each (none of them is queued)."""
        wait_until(
            lambda: not any(self.system.status(job_id)["queued"] for job_id in job_ids),
            f"jobs {job_ids} claimed",
        )

    def jobs(self, **params: str) -> falcon.testing.Result:
        return self.client.simulate_get("/api/jobs", params=params)

    def cancel(self, jobid: object) -> falcon.testing.Result:
        return self.client.simulate_post("/api/cancel", params={"jobid": str(jobid)})


@pytest.fixture
def api() -> Iterator[Api]:
    gate = threading.Event()
    gate.set()
    fetcher = GatedFetcher({GOOD: (30, 20)}, gate, WAIT)
    system = retailpulse.start(gpu_slots=2, fetcher_factory=lambda: fetcher, gpu=InstantGpu())
    try:
        yield Api(system, gate, fetcher)
    finally:
        gate.set()
        system.stop()


def ids(body: dict[str, Any]) -> list[int]:
    return [job["job_id"] for job in body["jobs"]]


# --- GET /api/jobs -------------------------------------------------------------------


def test_jobs_are_listed_newest_first_page_by_page_until_next_is_null(api: Api) -> None:
    submitted = [api.submit() for _ in range(7)]
    for job_id in submitted:
        api.system.wait(job_id, timeout=WAIT)

    pages = []
    params = {"limit": "3"}
    while True:
        result = api.jobs(**params)
        assert result.status_code == 200
        pages.append(ids(result.json))
        if result.json["next"] is None:
            break
        params["after"] = str(result.json["next"])

    assert pages == [submitted[6:3:-1], submitted[3:0:-1], submitted[0:1]]


def test_a_page_holds_status_documents_with_progress_and_queued(api: Api) -> None:
    """Two GPU slots: the node holds two chunks, two more of jobs nobody had started, and
    two whose image is in work (two downloaders, held at the gate): a seventh job waits."""
    api.gate.clear()
    running = [api.submit() for _ in range(6)]
    api.claimed(*running)
    waiting = api.submit(images=2)

    body = api.jobs().json

    assert body["next"] is None
    assert ids(body) == [waiting, *running[::-1]]
    assert body["jobs"][0]["status"] == "ongoing"
    assert body["jobs"][0]["queued"] is True
    assert body["jobs"][0]["progress"] == {"total": 2, "done": 0, "failed": 0}
    assert body["jobs"][-1]["queued"] is False
    assert body["jobs"][-1]["progress"]["total"] == 1
    api.gate.set()
    for job_id in (waiting, *running):
        api.system.wait(job_id, timeout=WAIT)
    assert [job["status"] for job in api.jobs().json["jobs"]] == ["completed"] * 7


def test_limit_defaults_to_fifty(api: Api) -> None:
    for _ in range(51):
        api.submit()

    body = api.jobs().json

    assert len(body["jobs"]) == 50
    assert body["next"] == ids(body)[-1] == 2


def test_no_jobs_is_an_empty_page(api: Api) -> None:
    assert api.jobs().json == {"jobs": [], "next": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"after": "0"}, "after"),
        ({"after": "x"}, "after"),
        ({"after": "9" * 40}, "after"),
    ],
)
def test_a_bad_limit_or_after_is_400_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    result = api.jobs(**params)

    assert result.status_code == 400
    assert result.json["field"] == field
    assert field in result.json["error"]


# --- POST /api/cancel ----------------------------------------------------------------


def test_cancelling_a_running_job_ends_it_at_once_and_starts_none_of_its_other_images(
    api: Api,
) -> None:
    api.gate.clear()
    job_id = api.submit(images=10)
    wait_until(lambda: len(api.fetcher.waiting) == 2, "both workers are downloading")

    result = api.cancel(job_id)
    # The node withdraws the job's offer from the dispatcher a moment after the answer.
    wait_until(lambda: api.system.pool_stats().jobs_waiting == 0, "the offer withdrawn")
    api.gate.set()

    assert result.status_code == 200
    assert result.json["cancelled"] is True
    assert result.json["job_id"] == job_id
    assert result.json["status"] == "cancelled"
    final = api.system.wait(job_id, timeout=WAIT)
    assert final == api.system.status(job_id)
    assert final["status"] == "cancelled"
    assert "error" not in final
    # The two in flight finish, but a cancelled job's outcomes after its end are not kept.
    wait_until(lambda: api.system.pool_stats().idle == 2, "both workers idle again")
    assert len(api.fetcher.waiting) == 2
    assert api.system.status(job_id)["progress"] == {"total": 10, "done": 0, "failed": 0}
    images = api.client.simulate_get("/api/results", params={"jobid": str(job_id)}).json["images"]
    assert [image["perimeter"] for image in images] == [None] * 10


def test_cancelling_a_queued_job_ends_it_without_running_it(api: Api) -> None:
    api.gate.clear()
    running = [api.submit() for _ in range(6)]  # all the room there is (see above)
    api.claimed(*running)
    waiting = api.submit(images=3)

    result = api.cancel(waiting)

    assert result.status_code == 200
    assert result.json["cancelled"] is True
    assert result.json["status"] == "cancelled"
    assert api.system.wait(waiting, timeout=WAIT)["progress"]["done"] == 0
    api.gate.set()
    for job_id in running:
        assert api.system.wait(job_id, timeout=WAIT)["status"] == "completed"
    assert len(api.fetcher.waiting) == 6  # nothing of the cancelled job was downloaded


def test_cancelling_a_finished_job_is_a_no_op_that_says_so(api: Api) -> None:
    job_id = api.submit()
    api.system.wait(job_id, timeout=WAIT)

    result = api.cancel(job_id)

    assert result.status_code == 200
    assert result.json["cancelled"] is False
    assert result.json["status"] == "completed"
    assert api.system.status(job_id)["status"] == "completed"


def test_cancelling_twice_reports_the_second_as_a_no_op(api: Api) -> None:
    api.gate.clear()
    job_id = api.submit(images=3)

    first, second = api.cancel(job_id), api.cancel(job_id)
    api.gate.set()

    assert first.json["cancelled"] is True
    assert second.json["cancelled"] is False
    assert api.system.wait(job_id, timeout=WAIT)["status"] == "cancelled"


@pytest.mark.parametrize("jobid", ["999", "0", "abc", "-1", ""])
def test_cancelling_an_unknown_job_is_400_with_an_empty_object(api: Api, jobid: str) -> None:
    api.submit()

    result = api.cancel(jobid)

    assert result.status_code == 400
    assert result.json == {}


def test_cancel_must_be_posted(api: Api) -> None:
    job_id = api.submit()

    result = api.client.simulate_get("/api/cancel", params={"jobid": str(job_id)})

    assert result.status_code == 405
