"""PostgreSQL for the cluster tests: a scratch database of their own per test."""

from collections.abc import Iterator

import pytest

from retailpulse.testing.postgres import require_server, scratch_database


@pytest.fixture
def cluster_db() -> Iterator[str]:
    """A new empty database on the shared test server, dropped after the test."""
    require_server()
    with scratch_database(prefix="rp_cluster") as url:
        yield url
