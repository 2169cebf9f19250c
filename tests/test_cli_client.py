"""``retailpulse submit | status | results`` against a live service on 127.0.0.1."""

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import retailpulse
from retailpulse.cli import main
from retailpulse.cli.client import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from retailpulse.errors import UnknownJobError
from retailpulse.http import HttpServer, create_app
from retailpulse.system import System
from retailpulse.testing import ImageServer

Write = Callable[[Any], str]


@pytest.fixture
def write(tmp_path: Path) -> Write:
    """Write a payload to a JSON file and return its path."""

    def write(payload: Any) -> str:
        path = tmp_path / f"payload{len(list(tmp_path.iterdir()))}.json"
        path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
        return str(path)

    return write


@pytest.fixture
def failing_payload(image_server: ImageServer) -> dict[str, Any]:
    """One good image, one store not in the store master, one URL that answers 404."""
    return {
        "count": 3,
        "visits": [
            {
                "store_id": "S00339218",
                "image_url": [image_server.url("/img/shelf.png")],
                "visit_time": "t",
            },
            {
                "store_id": "S99999999",
                "image_url": [image_server.url("/img/shelf.png")],
                "visit_time": "t",
            },
            {
                "store_id": "S01408764",
                "image_url": [image_server.url("/broken")],
                "visit_time": "t",
            },
        ],
    }


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_submit_prints_only_the_job_id_so_scripts_can_capture_it(
    service_url: str, write: Write, spec_payload: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "submit", write(spec_payload), "--url", service_url)

    assert code == EXIT_OK
    assert out == "1\n"


def test_submit_wait_shows_progress_then_a_table_of_perimeters_and_exits_0(
    service_url: str,
    write: Write,
    spec_payload: dict[str, Any],
    perimeter_of: Callable[[str], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "submit", write(spec_payload), "--wait", "--progress", "--url", service_url
    )

    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0].startswith("job 1 completed in ")
    assert lines[0].endswith(": 3 images, 3 measured, 0 failed")
    rows = [line.split() for line in lines[3:]]
    urls = [*spec_payload["visits"][0]["image_url"], *spec_payload["visits"][1]["image_url"]]
    assert [row[2] for row in rows] == [str(perimeter_of(u)) for u in urls]
    assert [row[3] for row in rows] == urls
    assert "failed stores" not in out
    assert "job 1: 100%" in err
    assert "3/3" in err


def test_submit_wait_draws_no_progress_bar_into_a_redirected_stderr(
    service_url: str, write: Write, spec_payload: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "submit", write(spec_payload), "--wait", "--url", service_url)

    assert code == EXIT_OK
    assert "job 1 completed in " in out
    assert err == f"submitted job 1 to {service_url}\n"


def test_submit_wait_on_a_failing_job_reports_each_failed_store_and_exits_1(
    service_url: str,
    write: Write,
    failing_payload: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "submit", write(failing_payload), "--wait", "--quiet", "--url", service_url
    )

    assert code == EXIT_FAILED
    assert ": 3 images, 1 measured, 2 failed" in out.splitlines()[0]
    report = out.split("failed stores (2), from GET /api/status:\n")[1].splitlines()
    assert report[0].startswith("  S99999999: store_id S99999999 is not in the store master")
    assert report[1].startswith("  S01408764: ")
    assert "404" in report[1]


def test_status_prints_the_status_document_as_json(
    service_url: str,
    write: Write,
    failing_payload: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "submit", write(failing_payload), "--wait", "--quiet", "--url", service_url)

    code, out, _ = run(capsys, "status", "1", "--url", service_url)

    assert code == EXIT_OK
    status = json.loads(out)
    assert (status["job_id"], status["status"]) == (1, "failed")
    assert [e["store_id"] for e in status["error"]] == ["S99999999", "S01408764"]


def test_results_csv_has_a_header_and_one_row_per_image_in_order(
    service_url: str,
    write: Write,
    failing_payload: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "submit", write(failing_payload), "--wait", "--quiet", "--url", service_url)

    code, out, _ = run(capsys, "results", "1", "--csv", "--url", service_url)

    assert code == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["store_id"] for r in rows] == ["S00339218", "S99999999", "S01408764"]
    assert (rows[0]["width"], rows[0]["height"], rows[0]["perimeter"]) == ("640", "480", "2240")
    assert rows[0]["error"] == ""
    assert rows[1]["perimeter"] == ""
    assert "not in the store master" in rows[1]["error"]


def test_results_without_csv_is_the_results_document(
    service_url: str, write: Write, spec_payload: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "submit", write(spec_payload), "--wait", "--quiet", "--url", service_url)

    code, out, _ = run(capsys, "results", "1", "--url", service_url)

    assert code == EXIT_OK
    assert [image["perimeter"] for image in json.loads(out)["images"]] == [1836, 4000, 4000]


def test_the_url_comes_from_the_environment_when_not_given(
    service_url: str,
    write: Write,
    spec_payload: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RETAILPULSE_URL", service_url)

    code, out, _ = run(capsys, "submit", write(spec_payload))

    assert (code, out) == (EXIT_OK, "1\n")


def test_a_rejected_payload_names_the_field_and_exits_2(
    service_url: str, write: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "submit", write({"count": 1}), "--url", service_url)

    assert code == EXIT_USAGE
    assert out == ""
    assert "rejected the payload" in err
    assert "visits" in err


def test_a_file_that_is_not_json_is_rejected_by_the_service_with_exit_2(
    service_url: str, write: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "submit", write("{not json"), "--url", service_url)

    assert code == EXIT_USAGE
    assert "body" in err


def test_a_missing_file_exits_2_naming_it(
    service_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.json")

    code, _, err = run(capsys, "submit", missing, "--url", service_url)

    assert code == EXIT_USAGE
    assert missing in err


def test_an_unknown_job_exits_2(service_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "42", "--url", service_url)

    assert code == EXIT_USAGE
    assert "no job 42" in err


def test_an_unreachable_service_exits_3_with_advice(
    write: Write, spec_payload: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    code, _, err = run(capsys, "submit", write(spec_payload), "--url", f"http://127.0.0.1:{port}")

    assert code == EXIT_UNREACHABLE
    assert f"cannot reach the service at http://127.0.0.1:{port}" in err
    assert "RETAILPULSE_URL" in err


def test_wait_with_a_timeout_exits_4_while_the_job_goes_on(
    image_server: ImageServer, write: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = {
        "count": 1,
        "visits": [
            {
                "store_id": "S00339218",
                "image_url": [image_server.url("/img/shelf.png")],
                "visit_time": "t",
            }
        ],
    }
    with retailpulse.start(
        gpu_slots=1, allow_private_urls=True, min_sleep=1, max_sleep=1
    ) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            code, _, err = run(
                capsys, "submit", write(payload), "--wait", "--timeout", "0.3", "--url", server.url
            )
            status = system.status(1)["status"]
        finally:
            assert server.stop(timeout=5)

    assert code == EXIT_TIMEOUT
    assert "still running after 0.3 s" in err
    assert status == "ongoing"


def test_results_ndjson_is_one_image_per_line_with_its_store(
    service_url: str,
    write: Write,
    failing_payload: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "submit", write(failing_payload), "--wait", "--quiet", "--url", service_url)

    code, out, _ = run(capsys, "results", "1", "--ndjson", "--url", service_url)

    assert code == EXIT_OK
    images = [json.loads(line) for line in out.splitlines()]
    assert [(i["store_id"], i["status"]) for i in images] == [
        ("S00339218", "measured"),
        ("S99999999", "failed"),
        ("S01408764", "failed"),
    ]
    assert images[0]["store_name"] == "BHARAT STORE"
    assert images[1]["store_name"] is None


def test_results_csv_of_an_unknown_job_exits_2(
    service_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "results", "42", "--csv", "--url", service_url)

    assert code == EXIT_USAGE
    assert out == ""
    assert "no job 42" in err


def test_stores_prints_a_table_per_store_and_per_area(
    service_url: str,
    write: Write,
    failing_payload: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    run(capsys, "submit", write(failing_payload), "--wait", "--quiet", "--url", service_url)

    code, out, _ = run(capsys, "stores", "1", "--url", service_url)
    area_code, by_area, _ = run(capsys, "stores", "1", "--by", "area", "--url", service_url)

    assert (code, area_code) == (EXIT_OK, EXIT_OK)
    header, *rows = out.splitlines()
    assert header.split() == [
        "store_id", "store_name", "area_code", "images", "measured", "failed", "min", "mean", "max"
    ]  # fmt: skip
    assert rows[0].startswith("S00339218  BHARAT STORE")
    assert rows[0].split()[-6:] == ["1", "1", "0", "2240", "2240.0", "2240"]
    assert rows[1].split() == ["S99999999", "-", "-", "1", "0", "1", "-", "-", "-"]
    area_header, *area_rows = by_area.splitlines()
    assert area_header.split()[:2] == ["area_code", "stores"]
    assert area_rows[0].split()[:5] == ["710006", "2", "2", "1", "1"]  # both known stores
    assert sum(int(row.split()[2]) for row in area_rows) == 3  # every image in some area


def _one_image(image_server: ImageServer, images: int = 1) -> dict[str, Any]:
    urls = [image_server.url("/img/shelf.png")] * images
    return {
        "count": 1,
        "visits": [{"store_id": "S00339218", "image_url": urls, "visit_time": "t"}],
    }


def _wait_for_job_1(system: System) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            system.status(1)
            return
        except UnknownJobError:
            time.sleep(0.01)


def test_submit_wait_follows_the_job_through_a_restart_of_the_service(
    image_server: ImageServer, write: Write, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "jobs.db"
    settings: dict[str, Any] = {"gpu_slots": 1, "allow_private_urls": True}
    first = retailpulse.start(data=data, min_sleep=0.3, max_sleep=0.3, **settings)
    first_server = HttpServer(create_app(first), "127.0.0.1", 0).start()
    url, port = first_server.url, first_server.port
    later: list[Any] = []

    def restart() -> None:
        """Stop the service while the job runs, then start it again on the same file."""
        _wait_for_job_1(first)
        first_server.stop(timeout=5)
        first.stop()
        time.sleep(0.5)  # long enough for several failed polls
        system = retailpulse.start(data=data, min_sleep=0, max_sleep=0, **settings)
        later.append(system)
        later.append(HttpServer(create_app(system), "127.0.0.1", port).start())

    restarter = threading.Thread(target=restart)
    restarter.start()
    try:
        code, out, err = run(
            capsys,
            "submit",
            write(_one_image(image_server, 3)),
            "--wait",
            "--interval",
            "0.05",
            "--url",
            url,
        )
    finally:
        restarter.join(timeout=20)
        if later:
            later[1].stop(timeout=5)
            later[0].stop()

    assert code == EXIT_OK
    assert out.startswith("job 1 completed in ")
    assert "3 images, 3 measured, 0 failed" in out
    assert "retailpulse: lost the service (cannot reach the service at " in err
    assert "it may be restarting, so polling it for up to 60 s more" in err
    assert f"retailpulse: reached {url} again; still following job 1" in err


def test_submit_wait_gives_up_with_exit_3_on_a_service_gone_for_good(
    image_server: ImageServer, write: Write, capsys: pytest.CaptureFixture[str]
) -> None:
    system = retailpulse.start(gpu_slots=1, allow_private_urls=True, min_sleep=5, max_sleep=5)
    server = HttpServer(create_app(system), "127.0.0.1", 0).start()

    def stop_the_server_once_the_job_exists() -> None:
        _wait_for_job_1(system)
        server.stop(timeout=5)

    stopper = threading.Thread(target=stop_the_server_once_the_job_exists)
    stopper.start()
    try:
        code, _, err = run(
            capsys,
            "submit",
            write(_one_image(image_server)),
            "--wait",
            "--quiet",
            "--interval",
            "0.05",
            "--reconnect-for",
            "0.3",
            "--url",
            server.url,
        )
    finally:
        stopper.join(timeout=20)
        system.stop()

    assert code == EXIT_UNREACHABLE
    lines = err.splitlines()
    assert lines[1].startswith("retailpulse: lost the service (cannot reach the service at ")
    assert lines[1].endswith("so polling it for up to 0.3 s more")
    assert lines[2].startswith(f"retailpulse: cannot reach the service at {server.url}")
    assert len(lines) == 3
