"""The ``retailpulse serve`` command as a user runs it: a real process, real signals."""

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.cli.serve import client_url
from retailpulse.testing import ImageServer
from tests.serving import Served

Poll = Callable[[str, int], dict[str, Any]]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_serves_jobs_and_exits_cleanly_on_a_signal(
    served: Callable[..., Served],
    spec_payload: dict[str, Any],
    poll_until_done: Poll,
    signum: int,
) -> None:
    server = served("--allow-private-urls", "--workers", "4")
    base_url = server.url()

    response = requests.post(f"{base_url}/api/submit", json=spec_payload, timeout=5)
    status = poll_until_done(base_url, response.json()["job_id"])
    started = time.monotonic()
    code = server.stop(signum)

    assert status["status"] == "completed"
    assert code == 0
    assert time.monotonic() - started < 10


def test_serve_stops_within_bounds_while_a_job_is_in_flight(
    served: Callable[..., Served], image_server: ImageServer
) -> None:
    server = served("--allow-private-urls", "--workers", "2")
    base_url = server.url()
    visits = [
        {
            "store_id": "S00339218",
            "image_url": [image_server.url("/img/shelf.png")],
            "visit_time": "t",
        }
        for _ in range(50)
    ]
    response = requests.post(
        f"{base_url}/api/submit", json={"count": 50, "visits": visits}, timeout=5
    )
    assert response.status_code == 201

    started = time.monotonic()
    code = server.stop(signal.SIGTERM)

    assert code == 0
    assert time.monotonic() - started < 10
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/healthz", timeout=2)


def test_serve_with_a_missing_store_master_says_so_and_exits_2(
    served: Callable[..., Served], tmp_path: Any
) -> None:
    server = served("--store-master", str(tmp_path / "nope.csv"))

    code = server.process.wait(timeout=15)

    assert code == 2
    assert server.process.stderr is not None
    assert "nope.csv" in server.process.stderr.read()


def test_serve_refuses_a_worker_count_below_one(served: Callable[..., Served]) -> None:
    server = served("--workers", "0")

    code = server.process.wait(timeout=15)

    assert code == 2
    assert server.process.stderr is not None
    assert "--workers" in server.process.stderr.read()


def test_serve_refuses_a_shortest_sleep_over_the_longest(served: Callable[..., Served]) -> None:
    server = served("--min-sleep", "0.5", "--max-sleep", "0.2")

    code = server.process.wait(timeout=15)

    assert code == 2
    assert server.process.stderr is not None
    assert "--min-sleep" in server.process.stderr.read()


def test_version_prints_the_package_version() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "retailpulse", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    assert run.stdout.strip() == f"retailpulse {retailpulse.__version__}"


def test_serve_on_a_port_already_in_use_says_so_and_exits_1(
    served: Callable[..., Served],
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        server = served("--port", port)

        code = server.process.wait(timeout=15)

    assert code == 1
    assert server.process.stderr is not None
    assert f"cannot listen on 127.0.0.1:{port}" in server.process.stderr.read()


def test_serve_with_json_logs_writes_one_object_per_line_with_the_job_events(
    served: Callable[..., Served], spec_payload: dict[str, Any], poll_until_done: Poll
) -> None:
    server = served("--allow-private-urls", "--workers", "2", "--log-format", "json")
    base_url = server.url()
    job_id = requests.post(f"{base_url}/api/submit", json=spec_payload, timeout=5).json()["job_id"]
    poll_until_done(base_url, job_id)
    assert server.stop(signal.SIGTERM) == 0

    assert server.process.stderr is not None
    lines = [json.loads(line) for line in server.process.stderr.read().splitlines()]
    events = {line["event"]: line for line in lines if "event" in line}
    assert events["job_submitted"]["job"] == job_id
    assert events["chunk_started"]["job"] == job_id
    assert events["job_finished"]["job"] == job_id
    assert events["job_finished"]["status"] == "completed"
    assert all({"time", "level", "logger"} <= line.keys() for line in lines)


def test_serve_applies_its_limit_options(
    served: Callable[..., Served], spec_payload: dict[str, Any]
) -> None:
    server = served("--max-images-per-job", "2", "--max-body-bytes", "4096")
    base_url = server.url()

    too_many = requests.post(f"{base_url}/api/submit", json=spec_payload, timeout=5)
    too_big = requests.post(f"{base_url}/api/submit", data=b" " * 5000, timeout=5)
    code = server.stop(signal.SIGTERM)

    assert too_many.status_code == 413
    assert too_many.json() == {
        "error": "visits hold 3 images in all; a job may hold at most 2",
        "field": "visits",
    }
    assert too_big.status_code == 413
    assert too_big.json() == {"error": "body too large: body must be at most 4096 bytes"}
    assert code == 0


def test_an_old_max_active_jobs_option_still_starts_and_says_it_has_no_effect(
    served: Callable[..., Served],
) -> None:
    server = served("--max-active-jobs", "4")
    health = requests.get(f"{server.url()}/healthz", timeout=5)
    code = server.stop(signal.SIGTERM)

    assert health.status_code == 200
    assert code == 0
    assert server.process.stderr is not None
    assert "--max-active-jobs no longer has an effect" in server.process.stderr.read()


def _data_in_a_missing_folder(tmp_path: Path) -> str:
    return str(tmp_path / "no" / "such" / "x.db")


def _data_naming_a_folder(tmp_path: Path) -> str:
    (tmp_path / "somedir").mkdir()
    return "somedir"


def _data_naming_a_text_file(tmp_path: Path) -> str:
    (tmp_path / "notdb.db").write_text("these are notes, not a database\n" * 200)
    return "notdb.db"


@pytest.mark.parametrize(
    ("unusable", "reason"),
    [
        (_data_in_a_missing_folder, "no folder"),
        (_data_naming_a_folder, "is a folder"),
        (_data_naming_a_text_file, "not a database"),
    ],
)
def test_serve_with_an_unusable_data_file_prints_one_line_exits_2_and_leaves_no_lock_file(
    served: Callable[..., Served],
    tmp_path: Path,
    unusable: Callable[[Path], str],
    reason: str,
) -> None:
    data = unusable(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    server = served("--data", data)

    code = server.process.wait(timeout=15)

    assert server.process.stderr is not None
    lines = server.process.stderr.read().splitlines()
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"retailpulse: {data}: ")
    assert reason in lines[0]
    assert sorted(tmp_path.rglob("*")) == before  # no .lock file, no database made


def test_a_second_serve_on_the_same_data_file_prints_one_line_and_exits_2(
    served: Callable[..., Served], tmp_path: Path
) -> None:
    first = served("--data", "jobs.db")
    first_url = first.url()
    second = served("--data", "jobs.db")

    code = second.process.wait(timeout=15)

    assert second.process.stderr is not None
    lines = second.process.stderr.read().splitlines()
    assert code == 2
    assert lines == [
        "retailpulse: jobs.db: another process is using this job store (it holds jobs.db.lock)"
    ]
    assert requests.get(f"{first_url}/healthz", timeout=5).status_code == 200
    assert first.stop(signal.SIGTERM) == 0


def test_serve_refuses_an_empty_store_master_unless_allowed(
    served: Callable[..., Served], tmp_path: Path
) -> None:
    (tmp_path / "empty.csv").write_text("StoreID,StoreName,AreaCode\n")

    refused = served("--in-memory", "--store-master", "empty.csv")
    code = refused.process.wait(timeout=15)
    allowed = served("--in-memory", "--store-master", "empty.csv", "--allow-empty-store-master")
    line = allowed._lines.get(timeout=15)

    assert refused.process.stderr is not None
    assert code == 2
    assert refused.process.stderr.read().splitlines() == [
        "retailpulse: empty.csv: no stores in it, so every job would fail "
        "(--allow-empty-store-master starts anyway)"
    ]
    assert "(0 stores, " in line
    assert allowed.stop(signal.SIGTERM) == 0


def test_serve_warns_at_start_of_duplicated_store_ids(
    served: Callable[..., Served], tmp_path: Path
) -> None:
    (tmp_path / "dup.csv").write_text("StoreID,StoreName\nS1,A\nS1,B\n")

    server = served("--in-memory", "--store-master", "dup.csv")
    line = server._lines.get(timeout=15)
    server.stop(signal.SIGTERM)

    assert server.process.stderr is not None
    assert "(1 store, " in line
    assert (
        "WARNING retailpulse.stores.master: store master dup.csv: "
        "1 row with a duplicated store id" in server.process.stderr.read()
    )


def test_serve_prints_the_line_that_points_the_client_commands_at_it(
    served: Callable[..., Served],
) -> None:
    server = served("--in-memory")
    url = server.url()
    line = server._lines.get(timeout=15)
    server.stop(signal.SIGTERM)

    assert line == f"export RETAILPULSE_URL={url}\n"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("0.0.0.0", "http://127.0.0.1:9000"),
        ("::", "http://[::1]:9000"),
        ("127.0.0.1", "http://127.0.0.1:9000"),
        ("::1", "http://[::1]:9000"),
    ],
)
def test_the_client_url_of_a_wildcard_address_is_loopback(host: str, url: str) -> None:
    assert client_url(host, 9000) == url
