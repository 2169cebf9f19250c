"""Idempotency-Key on POST /api/submit/, as Stripe's: replays, the 422, per-key scope."""

from pathlib import Path
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from tests.keyed import KeyedService


def submit(keyed: KeyedService, who: str, payload: Any, key: str) -> requests.Response:
    return keyed.call("POST", "/api/submit/", who, json=payload, headers={"Idempotency-Key": key})


def test_the_same_key_and_body_return_the_first_job_without_a_new_one(
    keyed: KeyedService, spec_payload: dict[str, Any]
) -> None:
    first = submit(keyed, "alice", spec_payload, "order-1")
    # The same document spelt differently is the same body.
    respelt = {"visits": spec_payload["visits"], "count": spec_payload["count"]}
    again = submit(keyed, "alice", respelt, "order-1")

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    jobs = keyed.call("GET", "/api/jobs", "ops").json()["jobs"]
    assert [job["job_id"] for job in jobs] == [first.json()["job_id"]]


def test_the_same_key_with_another_body_is_422_naming_the_header(
    keyed: KeyedService, spec_payload: dict[str, Any]
) -> None:
    submit(keyed, "alice", spec_payload, "order-1")
    other = {**spec_payload, "count": 1, "visits": spec_payload["visits"][:1]}

    response = submit(keyed, "alice", other, "order-1")

    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert "Idempotency-Key" in response.json()["error"]
    assert len(keyed.call("GET", "/api/jobs", "ops").json()["jobs"]) == 1


def test_keys_are_scoped_per_api_key(keyed: KeyedService, spec_payload: dict[str, Any]) -> None:
    alices = submit(keyed, "alice", spec_payload, "same").json()["job_id"]
    bobs = submit(keyed, "bob", spec_payload, "same").json()["job_id"]

    assert alices != bobs
    assert keyed.call("GET", "/api/status", "bob", params={"jobid": bobs}).status_code == 200


def test_a_submit_without_a_key_always_makes_a_new_job(
    keyed: KeyedService, spec_payload: dict[str, Any]
) -> None:
    assert keyed.submit("alice", spec_payload) != keyed.submit("alice", spec_payload)


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_400_naming_the_header(
    keyed: KeyedService, spec_payload: dict[str, Any], key: str
) -> None:
    response = keyed.call(
        "POST",
        "/api/submit/",
        "alice",
        json=spec_payload,
        headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")},
    )

    assert response.status_code == 400
    assert response.json()["field"] == "Idempotency-Key"


def test_a_replay_after_a_restart_returns_the_first_job(
    tmp_path: Path, spec_payload: dict[str, Any]
) -> None:
    data = tmp_path / "jobs.db"
    ids = []
    for _ in range(2):
        with retailpulse.start(gpu_slots=2, allow_private_urls=True, data=data) as system:
            server = HttpServer(create_app(system), "127.0.0.1", 0).start()
            try:
                response = requests.post(
                    server.url + "/api/submit/",
                    json=spec_payload,
                    headers={"Idempotency-Key": "nightly-2026-12-01"},
                    timeout=10,
                )
            finally:
                assert server.stop(timeout=5)
            assert response.status_code == 201
            ids.append(response.json()["job_id"])

    assert ids[0] == ids[1]
