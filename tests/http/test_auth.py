"""API keys over real HTTP: 401s, private jobs on every endpoint, the admin key."""

from typing import Any

import pytest

from retailpulse.keys import revoke_key
from tests.keyed import KeyedService

JOB_ENDPOINTS = [
    ("GET", "/api/status", {}),
    ("GET", "/api/results", {}),
    ("GET", "/api/results", {"format": "csv"}),
    ("GET", "/api/results", {"limit": "1"}),
    ("GET", "/api/stores", {}),
    ("GET", "/api/stores", {"by": "area"}),
    ("POST", "/api/cancel", {}),
    ("POST", "/api/retry", {}),
]
"""Every endpoint about one job, with the query each is asked with (and ``jobid``)."""


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/submit/"),
        ("GET", "/api/status?jobid=1"),
        ("GET", "/api/results?jobid=1"),
        ("GET", "/api/stores?jobid=1"),
        ("POST", "/api/cancel?jobid=1"),
        ("POST", "/api/retry?jobid=1"),
        ("GET", "/api/jobs"),
        ("GET", "/api/service"),
        ("GET", "/api/no-such-thing"),
        ("GET", "/metrics"),
    ],
)
def test_a_request_without_a_key_is_401_with_a_bearer_challenge(
    keyed: KeyedService, method: str, path: str
) -> None:
    response = keyed.call(method, path, None)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="retailpulse"'
    assert response.headers["Content-Type"].startswith("application/json")
    assert "API key" in response.json()["error"]


@pytest.mark.parametrize("header", ["Bearer rp_not-a-key", "Bearer ", "Basic YWxpY2U6eA==", "rp_x"])
def test_a_wrong_key_is_401_invalid_token_and_never_echoed(
    keyed: KeyedService, header: str
) -> None:
    response = keyed.call("GET", "/api/jobs", None, headers={"Authorization": header})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="retailpulse", error="invalid_token"'
    )
    assert "rp_" not in response.text


@pytest.mark.parametrize("path", ["/healthz", "/openapi.json", "/", "/ui/app.js"])
def test_health_the_api_description_and_the_dashboard_files_stay_open(
    keyed: KeyedService, path: str
) -> None:
    assert keyed.call("GET", path, None).status_code == 200


def test_metrics_and_the_api_answer_a_valid_key(keyed: KeyedService) -> None:
    assert keyed.call("GET", "/metrics", "bob").status_code == 200
    assert keyed.call("GET", "/api/jobs", "alice").json() == {"jobs": [], "next": None}


def test_another_keys_job_does_not_exist_on_any_endpoint(
    keyed: KeyedService, spec_payload: dict[str, Any]
) -> None:
    job_id = keyed.submit("alice", spec_payload)
    keyed.wait("alice", job_id)

    for method, path, query in JOB_ENDPOINTS:
        response = keyed.call(method, path, "bob", params={"jobid": job_id, **query})
        assert (response.status_code, response.json()) == (400, {}), (method, path, query)
        mine = keyed.call(method, path, "alice", params={"jobid": job_id, **query})
        assert mine.status_code in {200, 409}, (method, path, query, mine.text)


def test_jobs_lists_only_the_callers_own_and_the_admin_sees_all(
    keyed: KeyedService, spec_payload: dict[str, Any]
) -> None:
    alices = keyed.submit("alice", spec_payload)
    bobs = keyed.submit("bob", spec_payload)

    def listed(who: str) -> list[int]:
        return [job["job_id"] for job in keyed.call("GET", "/api/jobs", who).json()["jobs"]]

    assert listed("alice") == [alices]
    assert listed("bob") == [bobs]
    assert listed("ops") == [bobs, alices]


def test_the_admin_key_reads_and_cancels_any_job(
    keyed: KeyedService, spec_payload: dict[str, Any]
) -> None:
    job_id = keyed.submit("alice", spec_payload)

    cancel = keyed.call("POST", "/api/cancel", "ops", params={"jobid": job_id})
    status = keyed.call("GET", "/api/status", "ops", params={"jobid": job_id})

    assert cancel.status_code == 200
    assert cancel.json()["job_id"] == job_id
    assert status.status_code == 200
    assert keyed.wait("alice", job_id)["status"] in {"cancelled", "completed"}


def test_a_revoked_key_is_refused_once_the_key_file_is_reloaded(keyed: KeyedService) -> None:
    revoke_key(keyed.key_file, "bob")
    assert keyed.system.keys is not None

    before = keyed.call("GET", "/api/jobs", "bob")
    keyed.system.keys.reload()
    after = keyed.call("GET", "/api/jobs", "bob")

    assert before.status_code == 200
    assert after.status_code == 401
    assert keyed.call("GET", "/api/jobs", "alice").status_code == 200
