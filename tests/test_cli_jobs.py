"""``retailpulse jobs`` and ``retailpulse cancel`` against a live service on 127.0.0.1."""

import json
from collections.abc import Iterator
from typing import Any

import pytest

import retailpulse
from retailpulse.cli import main
from retailpulse.cli.client import EXIT_OK, EXIT_USAGE
from retailpulse.http import HttpServer, create_app
from retailpulse.system import System
from retailpulse.testing import ImageServer


@pytest.fixture
def slow_service() -> Iterator[tuple[System, str]]:
    """One GPU slot and 5 s per image: a job stays running while a test looks at it."""
    with retailpulse.start(
        gpu_slots=1, allow_private_urls=True, min_sleep=5, max_sleep=5, stop_timeout=1
    ) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield system, server.url
        finally:
            assert server.stop(timeout=5)


def submit(system: System, image_server: ImageServer, store_id: str = "S00339218") -> int:
    url = image_server.url("/img/shelf.png")
    payload = {
        "count": 1,
        "visits": [{"store_id": store_id, "image_url": [url], "visit_time": "t"}],
    }
    return system.submit(payload)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cancel_cancels_a_running_job_and_prints_its_status(
    slow_service: tuple[System, str], image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    system, url = slow_service
    job_id = submit(system, image_server)

    code, out, err = run(capsys, "cancel", str(job_id), "--url", url)

    answer = json.loads(out)
    assert code == EXIT_OK
    assert answer["job_id"] == job_id
    assert answer["cancelled"] is True
    assert err == ""


def test_cancel_of_an_ended_job_changes_nothing_and_says_so(
    slow_service: tuple[System, str], image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    system, url = slow_service
    job_id = submit(system, image_server, store_id="S99999999")  # not in the master: fails at once
    system.wait(job_id, timeout=10)

    code, out, err = run(capsys, "cancel", str(job_id), "--url", url)

    assert code == EXIT_OK
    assert json.loads(out)["cancelled"] is False
    assert json.loads(out)["status"] == "failed"
    assert err == f"job {job_id} was not running (it is failed): nothing changed\n"


def test_cancel_of_an_unknown_job_exits_2(
    slow_service: tuple[System, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = slow_service

    code, out, err = run(capsys, "cancel", "99", "--url", url)

    assert code == EXIT_USAGE
    assert out == ""
    assert err == f"retailpulse: the service at {url} has no job 99\n"


def test_jobs_lists_the_newest_first_and_points_to_the_next_page(
    slow_service: tuple[System, str], image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    system, url = slow_service
    ids = [submit(system, image_server, store_id="S99999999") for _ in range(3)]
    for job_id in ids:
        system.wait(job_id, timeout=10)

    code, out, err = run(capsys, "jobs", "--limit", "2", "--url", url)
    _, rest, rest_err = run(capsys, "jobs", "--after", str(ids[1]), "--url", url)

    rows = [line.split() for line in out.splitlines()]
    assert code == EXIT_OK
    assert rows[0] == ["job_id", "status", "done", "failed", "submitted_at"]
    assert [(r[0], r[1], r[2], r[3]) for r in rows[1:]] == [
        (str(ids[2]), "failed", "1/1", "1"),
        (str(ids[1]), "failed", "1/1", "1"),
    ]
    assert err == f"more: retailpulse jobs --after {ids[1]}\n"
    assert [line.split()[0] for line in rest.splitlines()[1:]] == [str(ids[0])]
    assert rest_err == ""


def test_jobs_json_prints_the_page_as_the_api_gives_it(
    slow_service: tuple[System, str], image_server: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    system, url = slow_service
    job_id = submit(system, image_server)

    code, out, _ = run(capsys, "jobs", "--json", "--url", url)

    page: dict[str, Any] = json.loads(out)
    assert code == EXIT_OK
    assert [job["job_id"] for job in page["jobs"]] == [job_id]
    assert page["jobs"][0]["status"] == "ongoing"
    assert page["next"] is None


def test_jobs_on_an_empty_service_says_so(
    slow_service: tuple[System, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = slow_service

    assert run(capsys, "jobs", "--url", url) == (EXIT_OK, "", "no jobs\n")
