"""What a PostgreSQL database did over a benchmark run: transactions, rows, WAL, and
which server processes served it; and what the server sustains (pgbench).

Transactions and rows are per database (``pg_stat_database``, ``pg_stat_user_tables``
of the scratch database); WAL is the server's (``pg_current_wal_lsn()``), so other
databases' writes on a shared server count in it too. Backends report their
counters at most once a second, so ``counters`` is read after they had time to.
"""

import shutil
import subprocess
from dataclasses import dataclass

import psycopg

__all__ = ["DbCounters", "backend_pids", "counters", "pgbench"]


@dataclass(frozen=True, slots=True)
class DbCounters:
    transactions: int
    """Commits and rollbacks of the database so far (every client's)."""
    rows: int
    """Rows inserted, updated and deleted in its tables so far."""
    wal_bytes: int
    """The server's WAL position, in bytes from 0/0."""

    def __sub__(self, other: "DbCounters") -> "DbCounters":
        return DbCounters(
            self.transactions - other.transactions,
            self.rows - other.rows,
            self.wal_bytes - other.wal_bytes,
        )


def counters(url: str) -> DbCounters:
    """The database's counters now (this call's own transactions are not in them)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        row = db.execute(
            "SELECT (SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "        WHERE datname = current_database()), "
            "(SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) "
            "        FROM pg_stat_user_tables), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
        ).fetchone()
    assert row is not None
    return DbCounters(int(row[0]), int(row[1]), int(row[2]))


def backend_pids(url: str) -> list[int]:
    """The server processes serving the database's other sessions (the nodes')."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(pid) for (pid,) in rows]


def pgbench(url: str, *, scale: int, clients: int, seconds: int) -> float | None:
    """TPC-B-like transactions per second of the server (``pgbench``, on the database
    at ``url``, which it fills); ``None`` when ``pgbench`` is not installed."""
    program = shutil.which("pgbench")
    if program is None:
        return None
    init = [program, "-i", "-q", "-s", str(scale), url]
    subprocess.run(init, check=True, capture_output=True, timeout=300)  # noqa: S603 (our argv)
    run = [program, "-c", str(clients), "-j", "2", "-T", str(seconds), "-n", url]
    out = subprocess.run(  # noqa: S603 (our argv)
        run, check=True, capture_output=True, text=True, timeout=seconds + 120
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("tps ="))
    return float(line.split()[2])
