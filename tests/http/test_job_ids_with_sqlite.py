"""Job ids over HTTP with the SQLite store, whose integers stop at 2**63 - 1.

The other HTTP tests use the memory store, where any Python int is just a key that
is not there; SQLite raises OverflowError on a larger one, so the id guard is what
keeps an absurd id a 400 ``{}`` instead of a 500.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app

ABSURD_IDS = ["9" * 40, str(2**63), "9" * 19]


@pytest.fixture
def sqlite_service(tmp_path: Path) -> Iterator[str]:
    with retailpulse.start(data=tmp_path / "jobs.db") as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield server.url
        finally:
            assert server.stop(timeout=5)


@pytest.mark.parametrize("job_id", ABSURD_IDS)
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/status"), ("GET", "/api/results"), ("POST", "/api/cancel")]
)
def test_an_id_too_large_for_sqlite_is_an_unknown_job(
    sqlite_service: str, method: str, path: str, job_id: str
) -> None:
    response = requests.request(
        method, f"{sqlite_service}{path}", params={"jobid": job_id}, timeout=5
    )

    assert response.status_code == 400
    assert response.json() == {}


def test_the_largest_id_sqlite_holds_is_an_unknown_job_too(sqlite_service: str) -> None:
    response = requests.get(
        f"{sqlite_service}/api/status", params={"jobid": str(2**63 - 1)}, timeout=5
    )

    assert response.status_code == 400
    assert response.json() == {}
