"""SqliteJobStore: jobs in one SQLite file (standard library ``sqlite3``, WAL mode).

Chosen because it needs no server: the data is one file next to the service.
WAL mode lets a backup tool read the file while the service writes it, and makes
a commit one append to the log. ``synchronous=FULL`` (the default here) syncs
that log on every commit, so a committed job or outcome survives a power cut as
well as a killed process; the job store actor batches outcomes into few commits,
which keeps that affordable (measured figures: docs/durable-jobs.md).

A lock on ``<file>.lock`` keeps a second service process off the same file: opening
it drops every lease found in it (see ``_forget_nodes``), which would take a live
process's chunks from it. A failed open removes the lock file it made.
"""

import fcntl
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from retailpulse.model import (
    AreaFigures,
    ImageOutcome,
    ImagePage,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    StoreError,
    StoreFigures,
    StoreInfo,
)
from retailpulse.stores import rows as decode
from retailpulse.stores.jobstore import (
    CHUNK_SIZE,
    RENEW_WITHIN,
    Chunk,
    Creation,
    Delivery,
    DeliveryAttempt,
    Heartbeat,
    IdempotencyClaim,
    JobMeta,
    JobStoreError,
    NodeInfo,
    OutcomeRecord,
    decide_ending,
)
from retailpulse.submission import ImageSpec

__all__ = ["SqliteJobStore"]

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
    submitted_at REAL NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'ongoing',
    finished_at REAL,
    errors TEXT
);
CREATE INDEX IF NOT EXISTS jobs_ongoing ON jobs(id) WHERE state = 'ongoing';
CREATE INDEX IF NOT EXISTS jobs_finished_at ON jobs(finished_at) WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS images (
    job_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    store_id TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (job_id, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes (
    job_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    error TEXT,
    PRIMARY KEY (job_id, idx)  -- one outcome per image, whatever is written twice
) WITHOUT ROWID;
"""

_MIGRATIONS: dict[int, str] = {
    2: """
    -- The job's stores as the store master had them at submit time (known stores only).
    CREATE TABLE IF NOT EXISTS job_stores (
        job_id INTEGER NOT NULL,
        store_id TEXT NOT NULL,
        store_name TEXT NOT NULL,
        area_code TEXT NOT NULL,
        PRIMARY KEY (job_id, store_id)
    ) WITHOUT ROWID;
    -- Pages of failed images only, without a scan over the measured ones.
    CREATE INDEX IF NOT EXISTS outcomes_failed ON outcomes(job_id, idx) WHERE error IS NOT NULL;
    """,
    3: """
    -- Private jobs (the API key's name), completion webhooks, retries of failed images.
    ALTER TABLE jobs ADD COLUMN owner TEXT;
    ALTER TABLE jobs ADD COLUMN callback_url TEXT;
    ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
    CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, id) WHERE owner IS NOT NULL;
    -- Idempotency-Key of a submit, per API key ('' when the service is open).
    CREATE TABLE IF NOT EXISTS idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at REAL NOT NULL,
        job_id INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS idempotency_job ON idempotency(job_id);
    -- The webhook of a job's last ending: written with the ending, so none is lost.
    CREATE TABLE IF NOT EXISTS webhooks (
        job_id INTEGER PRIMARY KEY,
        webhook_id TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        ended_at REAL NOT NULL,
        next_at REAL
    );
    CREATE INDEX IF NOT EXISTS webhooks_due ON webhooks(next_at) WHERE state = 'pending';
    """,
    4: f"""
    -- The cluster protocol, run here for one node: chunks with leases, a node registry.
    ALTER TABLE jobs ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS chunks (
        job_id INTEGER NOT NULL,
        number INTEGER NOT NULL,
        first INTEGER NOT NULL,
        size INTEGER NOT NULL,
        pending INTEGER NOT NULL,
        node INTEGER,
        lease_until REAL,
        PRIMARY KEY (job_id, number)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS chunks_open ON chunks(job_id, number) WHERE pending > 0;
    CREATE TABLE IF NOT EXISTS nodes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        gpu_slots INTEGER NOT NULL,
        started_at REAL NOT NULL,
        last_heartbeat REAL NOT NULL
    );
    -- Jobs stored before chunks existed get theirs, counting the outcomes they have
    -- (finished ones too: a failed job reopened for a retry is claimed chunk by chunk).
    INSERT INTO chunks (job_id, number, first, size, pending)
    SELECT i.job_id, i.idx / {CHUNK_SIZE}, MIN(i.idx), COUNT(*), COUNT(*) - COUNT(o.idx)
    FROM images AS i
    LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
    GROUP BY i.job_id, i.idx / {CHUNK_SIZE};
    """,  # noqa: S608 (CHUNK_SIZE is this module's own int, not input)
}
"""Version 1 is ``_SCHEMA``; entry N brings a file of version N - 1 to N, in one
transaction. Jobs stored by version 1 have no store names: their results say
``null``, as for an unknown store, since how the store was then is not known."""

_IMAGE_PAGE = """
SELECT i.idx, i.store_id, i.url, s.store_name, s.area_code, o.idx, o.width, o.height, o.error
FROM images AS i
LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
LEFT JOIN job_stores AS s ON s.job_id = i.job_id AND s.store_id = i.store_id
WHERE i.job_id = ? AND i.idx >= ? ORDER BY i.idx LIMIT ?
"""
_FAILED_PAGE = """
SELECT o.idx, i.store_id, i.url, s.store_name, s.area_code, o.idx, o.width, o.height, o.error
FROM outcomes AS o INDEXED BY outcomes_failed
JOIN images AS i ON i.job_id = o.job_id AND i.idx = o.idx
LEFT JOIN job_stores AS s ON s.job_id = i.job_id AND s.store_id = i.store_id
WHERE o.job_id = ? AND o.idx >= ? AND o.error IS NOT NULL ORDER BY o.idx LIMIT ?
"""
_PER_STORE = """
WITH per_store AS (
    SELECT i.store_id AS store_id, MIN(i.idx) AS first, COUNT(*) AS images,
        COUNT(o.width) AS measured, COUNT(o.error) AS failed,
        MIN(2 * (o.width + o.height)) AS low,
        SUM(2 * (o.width + o.height)) AS total,
        MAX(2 * (o.width + o.height)) AS high
    FROM images AS i LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
    WHERE i.job_id = :job GROUP BY i.store_id
)
"""
_STORE_FIGURES = (
    _PER_STORE
    + """SELECT p.store_id, s.store_name, s.area_code,
    p.images, p.measured, p.failed, p.low, p.total, p.high
FROM per_store AS p LEFT JOIN job_stores AS s ON s.job_id = :job AND s.store_id = p.store_id
ORDER BY p.first
"""
)
_AREA_FIGURES = (
    _PER_STORE
    + """SELECT s.area_code, COUNT(*),
    SUM(p.images), SUM(p.measured), SUM(p.failed), MIN(p.low), SUM(p.total), MAX(p.high)
FROM per_store AS p LEFT JOIN job_stores AS s ON s.job_id = :job AND s.store_id = p.store_id
GROUP BY s.area_code ORDER BY MIN(p.first)
"""
)
"""Per store first, then (for areas) those rows summed: the big GROUP BY runs once
over the job's images, the second over a few thousand stores at most."""

_STATUS_COLUMNS = (
    "j.id, j.submitted_at, j.total, j.done, j.failed, j.state, j.finished_at, j.errors, "
    "j.attempts, j.callback_url IS NOT NULL, w.state, w.attempts, w.last_error, "
    "j.state = 'ongoing' AND j.claimed = 0 "
    "FROM jobs AS j LEFT JOIN webhooks AS w ON w.job_id = j.id "
)
_STATUS_OF_JOB = "SELECT " + _STATUS_COLUMNS + "WHERE j.id = ?"
_STATUS_PAGE = "SELECT " + _STATUS_COLUMNS + "WHERE j.id < ? ORDER BY j.id DESC LIMIT ?"
_OWNER_PAGE = (
    "SELECT " + _STATUS_COLUMNS + "WHERE j.owner = ? AND j.id < ? ORDER BY j.id DESC LIMIT ?"
)
_DUE = (
    "SELECT w.webhook_id, j.callback_url, w.ended_at, "
    + _STATUS_COLUMNS
    + "WHERE w.state = 'pending' AND w.next_at <= ? ORDER BY w.next_at, j.id LIMIT ?"
)
_RECORD_DELIVERY = (
    "UPDATE webhooks SET state = ?, attempts = ?, last_error = COALESCE(?, last_error), "
    "next_at = ? WHERE job_id = ? AND webhook_id = ? AND state = 'pending' AND attempts = ?"
)
"""Only over the attempt it follows: a late record from a claim that ran out is ignored."""
_NEW_DELIVERY = (
    "INSERT OR REPLACE INTO webhooks (job_id, webhook_id, state, attempts, ended_at, next_at) "
    "SELECT id, 'msg_' || lower(hex(randomblob(12))), 'pending', 0, finished_at, finished_at "
    "FROM jobs WHERE id = ? AND callback_url IS NOT NULL"
)

_REOPEN_CHUNKS = """
UPDATE chunks SET node = NULL, lease_until = NULL, pending = size - (
    SELECT COUNT(*) FROM outcomes AS o
    WHERE o.job_id = chunks.job_id AND o.idx >= chunks.first AND o.idx < chunks.first + chunks.size
) WHERE job_id = ?
"""
"""After a retry deleted the failed outcomes: their chunks have images to do again."""

_PICK_CHUNKS = """
WITH free AS (
    SELECT c.job_id, c.number, j.claimed + ROW_NUMBER() OVER (
        PARTITION BY c.job_id ORDER BY c.number) AS turn
    FROM chunks AS c JOIN jobs AS j ON j.id = c.job_id
    WHERE j.state = 'ongoing' AND c.pending > 0 AND (c.node IS NULL OR c.lease_until <= :now)
      AND (:new_only = 0 OR j.claimed = 0)
)
SELECT job_id, number FROM free WHERE :new_only = 0 OR turn = 1
ORDER BY turn, job_id LIMIT :limit
"""
"""Fair order: a job's turn is the chunks it has had claimed plus the chunk's rank
among its free ones, so claims go round the jobs instead of draining the oldest.
``new_only``: the first free chunk of each job no chunk of which was claimed yet."""

_INSERT_OUTCOME = (
    "INSERT OR IGNORE INTO outcomes (job_id, idx, width, height, error) VALUES (?, ?, ?, ?, ?)"
)


class SqliteJobStore:
    """A ``JobStore`` in the SQLite file at ``path`` (created if missing)."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL") -> None:
        self.path = Path(path)
        if synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown synchronous setting {synchronous!r}")
        _check_path(self.path)
        self._lock_file = _lock(self.path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={synchronous}")
                self._db.execute("PRAGMA busy_timeout=5000")
                self._check_version()
                self._db.executescript(_SCHEMA)
                self._migrate()
                self._forget_nodes()
            except sqlite3.Error:
                self._db.close()
                raise
        except sqlite3.Error as exc:
            _unlock_and_remove(self.path, self._lock_file)
            raise JobStoreError(f"{self.path}: cannot open the job store ({exc})") from None

    def _forget_nodes(self) -> None:
        """The file is locked to this process, so every node and lease in it belongs to
        a process that has gone (a crash leaves them): drop them, so its unfinished
        jobs resume at once rather than when the dead leases run out."""
        self._db.executescript(
            "BEGIN IMMEDIATE; UPDATE chunks SET node = NULL, lease_until = NULL "
            "WHERE node IS NOT NULL; DELETE FROM nodes; COMMIT;"
        )

    def _check_version(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"its schema version {version} is newer than this program's {SCHEMA_VERSION}"
            )

    def _migrate(self) -> None:
        """Bring the file to ``SCHEMA_VERSION`` one version at a time; a new file has
        just been given version 1's tables (``_SCHEMA``)."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for target in range(max(version, 1) + 1, SCHEMA_VERSION + 1):
            try:
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {_MIGRATIONS[target]}; PRAGMA user_version={target}; COMMIT;"
                )
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.rollback()
                raise

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Cursor]:
        """One write transaction; any database error leaves the file untouched."""
        cursor = self._db.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            yield cursor
            cursor.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.rollback()
            raise JobStoreError(f"{self.path}: write failed ({exc})") from exc
        finally:
            cursor.close()

    def create_job(
        self,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> int:
        with self._transaction() as cursor:
            return _insert_job(
                cursor, images, submitted_at, stores, owner=owner, callback_url=callback_url
            )

    def create_job_once(
        self,
        claim: IdempotencyClaim,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> Creation:
        with self._transaction() as cursor:
            earlier = cursor.execute(
                "SELECT fingerprint, job_id FROM idempotency "
                "WHERE scope = ? AND key = ? AND created_at >= ?",
                (claim.scope, claim.key, claim.not_before),
            ).fetchone()
            if earlier is not None:
                same = earlier[0] == claim.fingerprint
                return Creation(earlier[1], replayed=same, conflict=not same)
            job_id = _insert_job(
                cursor, images, submitted_at, stores, owner=owner, callback_url=callback_url
            )
            cursor.execute(
                "INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, created_at, job_id) "
                "VALUES (?, ?, ?, ?, ?)",
                (claim.scope, claim.key, claim.fingerprint, submitted_at, job_id),
            )
        return Creation(job_id)

    def job_meta(self, job_id: int) -> JobMeta | None:
        row = self._db.execute(
            "SELECT j.owner, j.attempts, j.callback_url IS NOT NULL, w.state, w.attempts, "
            "w.last_error FROM jobs AS j LEFT JOIN webhooks AS w ON w.job_id = j.id "
            "WHERE j.id = ?",
            (job_id,),
        ).fetchone()
        return None if row is None else JobMeta(row[0], row[1], decode.webhook(*row[2:]))

    def reopen_failed(
        self, job_id: int, stores: Mapping[str, StoreInfo] | None = None
    ) -> JobOrder | JobStatus | None:
        with self._transaction() as cursor:
            row = cursor.execute(_STATUS_OF_JOB, (job_id,)).fetchone()
            if row is None or row[5] != JobState.FAILED.value:
                return None if row is None else decode.status(row)
            cursor.execute("DELETE FROM outcomes WHERE job_id = ? AND error IS NOT NULL", (job_id,))
            cursor.execute(_REOPEN_CHUNKS, (job_id,))
            cursor.execute(
                "UPDATE jobs SET state = 'ongoing', finished_at = NULL, errors = NULL, "
                "done = done - failed, failed = 0, attempts = attempts + 1 WHERE id = ?",
                (job_id,),
            )
            cursor.execute("DELETE FROM webhooks WHERE job_id = ?", (job_id,))
            used = cursor.execute(
                "SELECT DISTINCT store_id FROM images WHERE job_id = ?", (job_id,)
            ).fetchall()
            known = {sid: stores[sid] for (sid,) in used if stores and sid in stores}
            cursor.executemany(
                "INSERT OR IGNORE INTO job_stores (job_id, store_id, store_name, area_code) "
                "VALUES (?, ?, ?, ?)",
                ((job_id, sid, i.store_name, i.area_code) for sid, i in known.items()),
            )
        images, _ = self._images(job_id)
        return JobOrder(job_id, images, row[1])

    def claim_deliveries(self, now: float, limit: int, claim_s: float) -> list[Delivery]:
        # BEGIN IMMEDIATE: the select and the claim are one write, whoever else has
        # the file open.
        with self._transaction() as cursor:
            rows = cursor.execute(_DUE, (now, limit)).fetchall()
            cursor.executemany(
                "UPDATE webhooks SET next_at = ? WHERE job_id = ?",
                [(now + claim_s, row[3]) for row in rows],
            )
        # Each row: the delivery's id, URL and end time, then the job's status columns.
        return [
            Delivery(row[3], row[0], row[1], row[14] or 0, row[2], decode.status(row[3:]))
            for row in rows
        ]

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                _RECORD_DELIVERY,
                (
                    attempt.state.value,
                    attempt.attempts,
                    attempt.last_error,
                    attempt.next_at,
                    attempt.job_id,
                    attempt.webhook_id,
                    attempt.attempts - 1,
                ),
            )

    def job_status(self, job_id: int) -> JobStatus | None:
        row = self._db.execute(_STATUS_OF_JOB, (job_id,)).fetchone()
        return None if row is None else decode.status(row)

    def job_results(self, job_id: int) -> JobResults | None:
        status = self.job_status(job_id)
        if status is None:
            return None
        images, outcomes = self._images(job_id)
        return JobResults(status, images, outcomes)

    def image_page(
        self, job_id: int, after: int, limit: int, *, failed_only: bool = False
    ) -> ImagePage | None:
        if not self._exists(job_id):
            return None
        query = _FAILED_PAGE if failed_only else _IMAGE_PAGE
        rows = self._db.execute(query, (job_id, after, limit + 1)).fetchall()
        page = tuple(decode.image_result(row) for row in rows[:limit])
        return ImagePage(page, page[-1].index + 1 if len(rows) > limit else None)

    def store_figures(self, job_id: int) -> list[StoreFigures] | None:
        if not self._exists(job_id):
            return None
        rows = self._db.execute(_STORE_FIGURES, {"job": job_id}).fetchall()
        return decode.store_figures(rows)

    def area_figures(self, job_id: int) -> list[AreaFigures] | None:
        if not self._exists(job_id):
            return None
        rows = self._db.execute(_AREA_FIGURES, {"job": job_id}).fetchall()
        return decode.area_figures(rows)

    def _exists(self, job_id: int) -> bool:
        return self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is not None

    def list_jobs(
        self, limit: int, before: int | None, *, owner: str | None = None
    ) -> list[JobStatus]:
        below = before if before is not None else 2**63 - 1
        if owner is None:
            rows = self._db.execute(_STATUS_PAGE, (below, limit)).fetchall()
        else:
            rows = self._db.execute(_OWNER_PAGE, (owner, below, limit)).fetchall()
        return [decode.status(row) for row in rows]

    def purge(self, finished_before: float, limit: int) -> int:
        with self._transaction() as cursor:
            ids = [
                (job_id,)
                for (job_id,) in cursor.execute(
                    "SELECT id FROM jobs WHERE finished_at < ? ORDER BY finished_at LIMIT ?",
                    (finished_before, limit),
                )
            ]
            for table in ("outcomes", "images", "job_stores", "idempotency", "webhooks", "chunks"):
                cursor.executemany(f"DELETE FROM {table} WHERE job_id = ?", ids)  # noqa: S608
            cursor.executemany("DELETE FROM jobs WHERE id = ?", ids)
        return len(ids)

    def register_node(self, name: str, gpu_slots: int, now: float) -> int:
        with self._transaction() as cursor:
            cursor.execute(
                "INSERT INTO nodes (name, gpu_slots, started_at, last_heartbeat) "
                "VALUES (?, ?, ?, ?)",
                (name, gpu_slots, now, now),
            )
            node = cursor.lastrowid
        assert node is not None
        return node

    def claim_chunks(
        self, node: int, limit: int, lease_s: float, now: float, *, new_jobs_only: bool = False
    ) -> list[Chunk]:
        with self._transaction() as cursor:
            picked = cursor.execute(
                _PICK_CHUNKS, {"now": now, "limit": limit, "new_only": int(new_jobs_only)}
            ).fetchall()
            cursor.executemany(
                "UPDATE chunks SET node = ?, lease_until = ? WHERE job_id = ? AND number = ?",
                ((node, now + lease_s, job_id, number) for job_id, number in picked),
            )
            cursor.executemany(
                "UPDATE jobs SET claimed = claimed + 1 WHERE id = ?",
                ((job_id,) for job_id, _ in picked),
            )
            return [self._chunk(cursor, job_id, number) for job_id, number in picked]

    def _chunk(self, cursor: sqlite3.Cursor, job_id: int, number: int) -> Chunk:
        first, size, submitted_at = cursor.execute(
            "SELECT c.first, c.size, j.submitted_at FROM chunks AS c "
            "JOIN jobs AS j ON j.id = c.job_id WHERE c.job_id = ? AND c.number = ?",
            (job_id, number),
        ).fetchone()
        rows = cursor.execute(
            "SELECT i.idx, i.store_id, i.url, o.idx FROM images AS i "
            "LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx "
            "WHERE i.job_id = ? AND i.idx >= ? AND i.idx < ? ORDER BY i.idx",
            (job_id, first, first + size),
        ).fetchall()
        stores = {
            sid: StoreInfo(name, area)
            for sid, name, area in cursor.execute(
                "SELECT store_id, store_name, area_code FROM job_stores WHERE job_id = ?",
                (job_id,),
            )
        }
        return Chunk(
            job_id,
            number,
            first,
            tuple(ImageSpec(store_id, url) for _, store_id, url, _ in rows),
            submitted_at,
            frozenset(idx for idx, _, _, done in rows if done is not None),
            stores,
        )

    def heartbeat(self, node: int, lease_s: float, now: float) -> Heartbeat:
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE nodes SET last_heartbeat = MAX(last_heartbeat, ?) WHERE id = ?", (now, node)
            )
            ended = {
                job_id
                for (job_id,) in cursor.execute(
                    "SELECT DISTINCT c.job_id FROM chunks AS c JOIN jobs AS j ON j.id = c.job_id "
                    "WHERE c.node = ? AND j.state != 'ongoing'",
                    (node,),
                )
            }
            cursor.executemany(
                "UPDATE chunks SET node = NULL, lease_until = NULL WHERE job_id = ? AND node = ?",
                ((job_id, node) for job_id in ended),
            )
            cursor.execute(
                "UPDATE chunks SET lease_until = ? "
                "WHERE node = ? AND pending > 0 AND lease_until < ?",
                (now + lease_s, node, now + lease_s * RENEW_WITHIN),
            )
            renewed = cursor.rowcount
            held = cursor.execute(
                "SELECT job_id, number FROM chunks WHERE node = ? AND pending > 0", (node,)
            ).fetchall()
        return Heartbeat(renewed, frozenset(ended), frozenset(held))

    def record_outcomes(self, outcomes: Sequence[OutcomeRecord], now: float) -> list[JobStatus]:
        by_job: dict[int, list[OutcomeRecord]] = {}
        for record in outcomes:
            by_job.setdefault(record.job_id, []).append(record)
        finished = []
        with self._transaction() as cursor:
            for job_id, records in by_job.items():
                inserted = _record_outcomes(cursor, job_id, records)
                cursor.executemany(
                    "UPDATE chunks SET pending = pending - 1, "
                    "node = CASE WHEN pending = 1 THEN NULL ELSE node END "
                    "WHERE job_id = ? AND number = ?",
                    ((job_id, index // CHUNK_SIZE) for index in inserted),
                )
                row = cursor.execute(_STATUS_OF_JOB, (job_id,)).fetchone()
                if row is not None and row[5] == "ongoing" and row[3] == row[2]:
                    state, errors = self._ending(cursor, job_id)
                    cursor.execute(
                        "UPDATE jobs SET state = ?, finished_at = ?, errors = ? WHERE id = ?",
                        (state.value, now, decode.errors_json(errors), job_id),
                    )
                    cursor.execute(_NEW_DELIVERY, (job_id,))
                    finished.append(
                        decode.status(cursor.execute(_STATUS_OF_JOB, (job_id,)).fetchone())
                    )
        return finished

    @staticmethod
    def _ending(cursor: sqlite3.Cursor, job_id: int) -> tuple[JobState, tuple[StoreError, ...]]:
        totals = cursor.execute(
            "SELECT store_id, COUNT(*) FROM images WHERE job_id = ? "
            "GROUP BY store_id ORDER BY MIN(idx)",
            (job_id,),
        ).fetchall()
        reasons: dict[str, list[str]] = {}
        for store_id, error in cursor.execute(
            "SELECT i.store_id, o.error FROM outcomes AS o INDEXED BY outcomes_failed "
            "JOIN images AS i ON i.job_id = o.job_id AND i.idx = o.idx "
            "WHERE o.job_id = ? AND o.error IS NOT NULL ORDER BY o.idx",
            (job_id,),
        ):
            reasons.setdefault(store_id, []).append(error)
        return decide_ending(totals, reasons)

    def cancel_job(self, job_id: int, now: float) -> tuple[JobStatus, bool] | None:
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE jobs SET state = 'cancelled', finished_at = ?, errors = '[]' "
                "WHERE id = ? AND state = 'ongoing'",
                (now, job_id),
            )
            cancelled = cursor.rowcount > 0
            if cancelled:
                cursor.execute(_NEW_DELIVERY, (job_id,))
        status = self.job_status(job_id)
        return None if status is None else (status, cancelled)

    def release_node(self, node: int) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                "UPDATE chunks SET node = NULL, lease_until = NULL WHERE node = ?", (node,)
            )
            cursor.execute("DELETE FROM nodes WHERE id = ?", (node,))

    def count_ongoing(self) -> tuple[int, int]:
        ongoing, queued = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(claimed = 0), 0) FROM jobs WHERE state = 'ongoing'"
        ).fetchone()
        return int(ongoing), int(queued)

    def live_nodes(self, now: float, within: float) -> list[NodeInfo]:
        rows = self._db.execute(
            "SELECT id, name, gpu_slots, started_at, last_heartbeat FROM nodes "
            "WHERE last_heartbeat >= ? ORDER BY id",
            (now - within,),
        ).fetchall()
        return [NodeInfo(*row) for row in rows]

    def close(self) -> None:
        self._db.close()
        self._lock_file.close()  # closing the file releases the lock

    def _images(self, job_id: int) -> tuple[tuple[ImageSpec, ...], tuple[ImageOutcome | None, ...]]:
        rows = self._db.execute(
            "SELECT i.store_id, i.url, o.idx, o.width, o.height, o.error "
            "FROM images AS i LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx "
            "WHERE i.job_id = ? ORDER BY i.idx",
            (job_id,),
        ).fetchall()
        images = tuple(ImageSpec(store_id, url) for store_id, url, *_ in rows)
        outcomes = tuple(
            None if idx is None else ImageOutcome(width, height, error)
            for _, _, idx, width, height, error in rows
        )
        return images, outcomes


def _check_path(path: Path) -> None:
    """Refuse, before any lock file is made, a path that cannot be a job store file."""
    if path.is_dir():
        raise JobStoreError(
            f"{path}: is a folder; --data takes a file name (such as {path / 'retailpulse.db'})"
        )
    if not path.parent.is_dir():
        raise JobStoreError(f"{path}: cannot create the job store: no folder {path.parent}")


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _lock(path: Path) -> IO[bytes]:
    lock_path = _lock_path(path)
    try:
        lock_file = lock_path.open("ab")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise JobStoreError(f"{path}: cannot open the job store ({reason})") from None
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock_file.close()
        raise JobStoreError(
            f"{path}: another process is using this job store (it holds {lock_path})"
        ) from None
    return lock_file


def _unlock_and_remove(path: Path, lock_file: IO[bytes]) -> None:
    """Undo ``_lock`` after a failed open, so a failed start leaves no file behind.

    The file is removed while still locked: a process that opens it meanwhile
    finds it locked and refuses, as it would have anyway.
    """
    _lock_path(path).unlink(missing_ok=True)
    lock_file.close()


def _record_outcomes(
    cursor: sqlite3.Cursor, job_id: int, records: list[OutcomeRecord]
) -> list[int]:
    """Insert one job's outcomes, bump its counts by what was really inserted, and
    return the indexes inserted (those that had no outcome yet)."""
    row = cursor.execute("SELECT total, state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or row[1] != JobState.ONGOING.value:
        return []  # unknown, purged or already ended: nothing to record
    total = row[0]
    inserted: list[int] = []
    new_failed = 0
    for r in records:
        if not 0 <= r.index < total:
            continue
        o = r.outcome
        cursor.execute(_INSERT_OUTCOME, (job_id, r.index, o.width, o.height, o.error))
        if cursor.rowcount:
            inserted.append(r.index)
            new_failed += o.error is not None
    cursor.execute(
        "UPDATE jobs SET done = done + ?, failed = failed + ? WHERE id = ?",
        (len(inserted), new_failed, job_id),
    )
    return inserted


def _chunk_rows(job_id: int, total: int) -> Iterator[tuple[int, int, int, int, int]]:
    for number, first in enumerate(range(0, total, CHUNK_SIZE)):
        size = min(CHUNK_SIZE, total - first)
        yield job_id, number, first, size, size


def _insert_job(
    cursor: sqlite3.Cursor,
    images: Sequence[ImageSpec],
    submitted_at: float,
    stores: Mapping[str, StoreInfo] | None,
    *,
    owner: str | None,
    callback_url: str | None,
) -> int:
    used = {spec.store_id for spec in images}
    known = [(sid, info) for sid, info in (stores or {}).items() if sid in used]
    cursor.execute(
        "INSERT INTO jobs (submitted_at, total, owner, callback_url) VALUES (?, ?, ?, ?)",
        (submitted_at, len(images), owner, callback_url),
    )
    job_id = cursor.lastrowid
    assert job_id is not None
    cursor.executemany(
        "INSERT INTO images (job_id, idx, store_id, url) VALUES (?, ?, ?, ?)",
        ((job_id, i, spec.store_id, spec.url) for i, spec in enumerate(images)),
    )
    cursor.executemany(
        "INSERT INTO job_stores (job_id, store_id, store_name, area_code) VALUES (?, ?, ?, ?)",
        ((job_id, sid, info.store_name, info.area_code) for sid, info in known),
    )
    cursor.executemany(
        "INSERT INTO chunks (job_id, number, first, size, pending) VALUES (?, ?, ?, ?, ?)",
        _chunk_rows(job_id, len(images)),
    )
    return job_id
