"""A PostgreSQL database for the store contract suite: one per test run, emptied
before each test, dropped at the end (never the server's own ``test`` database)."""

import os
from collections.abc import Iterator

import pytest

from retailpulse.testing.postgres import reset_database, scratch_database, unavailable


def require_postgres() -> None:
    """Skip (or, under CI=true, fail) when the test server does not answer."""
    reason = unavailable()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _pg_database() -> Iterator[str]:
    require_postgres()
    with scratch_database() as url:
        yield url


@pytest.fixture
def pg_url(_pg_database: str) -> str:
    """The run's database, empty: each test starts with no schema at all."""
    reset_database(_pg_database)
    return _pg_database
