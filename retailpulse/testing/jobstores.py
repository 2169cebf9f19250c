"""The job store under test, by kind: the contract suite opens each of the three
the same way, and can close and reopen it (a restart) or open a second one on the
same data (a second node)."""

from pathlib import Path

from retailpulse.stores import JobStore, MemoryJobStore, SqliteJobStore
from retailpulse.stores.postgres import PostgresJobStore

__all__ = ["KINDS", "Stores"]

KINDS = ("memory", "sqlite", "postgres")


class Stores:
    """Opens the store under test; ``reopen()`` closes it and opens it again (a restart)."""

    def __init__(self, kind: str, path: Path, url: str = "") -> None:
        self.kind = kind
        self.path = path
        self.url = url
        self.current: JobStore = self._open()

    def _open(self) -> JobStore:
        if self.kind == "postgres":
            return PostgresJobStore(self.url)
        return MemoryJobStore() if self.kind == "memory" else SqliteJobStore(self.path)

    def another(self) -> JobStore:
        """A second store on the same data, as a second node opens it (shared stores
        only; a one-node store hands back itself)."""
        return PostgresJobStore(self.url) if self.kind == "postgres" else self.current

    def reopen(self) -> JobStore:
        if self.kind == "memory":
            return self.current  # a memory store lives as long as its object
        self.current.close()
        self.current = self._open()
        return self.current
