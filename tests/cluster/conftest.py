"""The cluster tests' tools: a scratch PostgreSQL database per test, and real
``retailpulse serve`` processes (nodes) on it, each bounded and stopped by the test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from retailpulse.testing.nodes import Node
from retailpulse.testing.postgres import require_server, scratch_database


@pytest.fixture
def cluster_db() -> Iterator[str]:
    """A new empty database on the shared test server, dropped after the test."""
    require_server()
    with scratch_database(prefix="rp_cluster") as url:
        yield url


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Start ``retailpulse serve`` nodes: ``nodes(url, *args)``; all stopped after the test."""
    started: list[Node] = []

    def start(data: str, *args: str) -> Node:
        started.append(Node(data, tmp_path / f"node-{len(started)}.log", *args))
        return started[-1]

    yield start
    for node in started:
        node.stop()
