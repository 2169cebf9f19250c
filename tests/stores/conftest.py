"""A PostgreSQL database for the store contract suite: one per test run, emptied
before each test, dropped at the end (never the server's own ``test`` database)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from retailpulse.stores import JobStore
from retailpulse.testing.jobstores import Stores
from retailpulse.testing.postgres import require_server, reset_database, scratch_database


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    require_server()
    with scratch_database() as url:
        yield url


@pytest.fixture
def pg_url(_pg_database: str) -> str:
    """The run's database, empty: each test starts with no schema at all."""
    reset_database(_pg_database)
    return _pg_database


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    opened = Stores(request.param, tmp_path / "jobs.db", url)
    yield opened
    opened.current.close()


@pytest.fixture
def store(stores: Stores) -> JobStore:
    return stores.current
