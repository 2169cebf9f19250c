"""PostgresJobStore: jobs in a PostgreSQL database that many service nodes share.

Selected by ``--data postgresql://user@host:port/dbname``. Every node opens its own
store (one connection, owned by its job store actor's thread); the database is
the only thing the nodes share. Work is claimed in chunks with ``FOR UPDATE SKIP
LOCKED`` (concurrent claimers never wait on each other nor get the same chunk),
leases are timed by the database's clock (nodes' clocks may disagree), and the
final status is decided under the job's row lock by the transaction that records
its last outcome, so it is decided once whichever node gets there.

The connection runs in autocommit mode and every multi-statement operation is an
explicit short transaction: no session ever idles inside a transaction, the
usual cause of a queue table that vacuum cannot clean. A lost connection raises
``JobStoreUnavailableError``; the next call reconnects, at most once per backoff
step (0.1 s doubling to 5 s), so a database restart costs a few failed calls and
no thread spins against a dead server.
"""

import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import psycopg

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
from retailpulse.stores import pgsql
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
    JobStoreUnavailableError,
    NodeInfo,
    OutcomeRecord,
    decide_ending,
)
from retailpulse.stores.pgschema import migrate
from retailpulse.submission import ImageSpec

__all__ = ["PostgresJobStore", "is_postgres_url"]

Cursor = psycopg.Cursor[tuple[Any, ...]]

TRANSIENT = (
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,  # lock_timeout
    psycopg.errors.QueryCanceled,  # statement_timeout
)
"""Errors after which the transaction is gone but the session is not."""

BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
SESSION_SETTINGS = (
    "SET statement_timeout = '60s'; SET idle_in_transaction_session_timeout = '60s'; "
    "SET lock_timeout = '10s'"
)


def is_postgres_url(data: object) -> bool:
    """Whether ``--data`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(data, str) and data.startswith(("postgresql://", "postgres://"))


class PostgresJobStore:
    """A ``JobStore`` in the PostgreSQL database at ``url`` (schema made or migrated)."""

    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        self.url = url
        self._connect_timeout = connect_timeout
        self._db: psycopg.Connection[tuple[Any, ...]] | None = None
        self._backoff = BACKOFF_FIRST
        self._retry_at = 0.0
        self.transactions = 0
        """Transactions committed by this store: the bench's database cost figure."""
        try:
            migrate(self._connection())
        except ValueError as exc:
            self.close()
            raise JobStoreError(f"{_safe(url)}: cannot open the job store ({exc})") from exc
        except psycopg.Error as exc:
            self.close()
            raise JobStoreError(f"{_safe(url)}: cannot open the job store ({exc})") from exc

    # connection and transactions

    def _connection(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._db is not None and not self._db.closed and not self._db.broken:
            return self._db
        self._drop()
        now = time.monotonic()
        if now < self._retry_at:
            raise JobStoreUnavailableError(
                f"{_safe(self.url)}: the database is unreachable; "
                f"reconnecting in {self._retry_at - now:.1f} s"
            )
        try:
            db = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(self._connect_timeout)),
                application_name="retailpulse",
            )
            db.execute(SESSION_SETTINGS.encode())
        except psycopg.Error as exc:
            self._retry_at = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            raise JobStoreUnavailableError(
                f"{_safe(self.url)}: cannot reach the database ({exc})"
            ) from exc
        self._db = db
        self._backoff = BACKOFF_FIRST
        return db

    def _drop(self) -> None:
        if self._db is not None:
            with suppress(psycopg.Error):
                self._db.close()
            self._db = None

    @contextmanager
    def _transaction(self, *, pipelined: bool = False) -> Iterator[Cursor]:
        """One transaction; a lost connection becomes ``JobStoreUnavailableError``,
        any other database error ``JobStoreError``, and nothing is half written.

        ``pipelined``: statements whose results are not read go out with the next
        one that is (libpq's pipeline mode), ``BEGIN`` included, so a transaction of
        statements that do not need each other's answers costs one round trip plus
        the ``COMMIT``'s: fewer waits and wake-ups on both sides."""
        db = self._connection()
        try:
            with ExitStack() as stack:
                if pipelined:
                    stack.enter_context(db.pipeline())
                cursor = stack.enter_context(db.cursor())
                with db.transaction():
                    yield cursor
            self.transactions += 1
        except TRANSIENT as exc:
            # Rolled back, and the connection is fine: the caller's retry (it keeps
            # what it holds) will go through.
            raise JobStoreUnavailableError(f"{_safe(self.url)}: {exc}") from exc
        except psycopg.OperationalError as exc:
            self._drop()
            raise JobStoreUnavailableError(f"{_safe(self.url)}: {exc}") from exc
        except psycopg.InterfaceError as exc:
            self._drop()
            raise JobStoreUnavailableError(f"{_safe(self.url)}: {exc}") from exc
        except psycopg.Error as exc:
            raise JobStoreError(f"{_safe(self.url)}: {exc}") from exc

    def _read(self, query: str, params: Sequence[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        with self._transaction() as cursor:
            cursor.execute(query.encode(), params)
            return cursor.fetchall()

    # jobs

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
            # Two nodes given the same key at once: the second waits here, then
            # finds the first's job (a replay) instead of making a second one.
            cursor.execute(
                b"SELECT pg_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                (claim.scope, claim.key),
            )
            cursor.execute(
                b"SELECT fingerprint, job_id FROM idempotency "
                b"WHERE scope = %s AND key = %s AND created_at >= %s",
                (claim.scope, claim.key, claim.not_before),
            )
            earlier = cursor.fetchone()
            if earlier is not None:
                same = earlier[0] == claim.fingerprint
                return Creation(int(earlier[1]), replayed=same, conflict=not same)
            job_id = _insert_job(
                cursor, images, submitted_at, stores, owner=owner, callback_url=callback_url
            )
            cursor.execute(
                b"INSERT INTO idempotency (scope, key, fingerprint, created_at, job_id) "
                b"VALUES (%s, %s, %s, %s, %s) ON CONFLICT (scope, key) DO UPDATE SET "
                b"fingerprint = excluded.fingerprint, created_at = excluded.created_at, "
                b"job_id = excluded.job_id",
                (claim.scope, claim.key, claim.fingerprint, submitted_at, job_id),
            )
        return Creation(job_id)

    def job_meta(self, job_id: int) -> JobMeta | None:
        rows = self._read(
            "SELECT j.owner, j.attempts, j.callback_url IS NOT NULL, w.state, w.attempts, "
            "w.last_error FROM jobs AS j LEFT JOIN webhooks AS w ON w.job_id = j.id "
            "WHERE j.id = %s",
            (job_id,),
        )
        return JobMeta(rows[0][0], rows[0][1], decode.webhook(*rows[0][2:])) if rows else None

    def reopen_failed(
        self, job_id: int, stores: Mapping[str, StoreInfo] | None = None
    ) -> JobOrder | JobStatus | None:
        with self._transaction() as cursor:
            cursor.execute(pgsql.STATUS_OF_JOB.encode() + b" FOR UPDATE OF j", (job_id,))
            row = cursor.fetchone()
            if row is None or row[5] != JobState.FAILED.value:
                return None if row is None else decode.status(row)
            cursor.execute(
                b"DELETE FROM outcomes WHERE job_id = %s AND error IS NOT NULL", (job_id,)
            )
            cursor.execute(pgsql.REOPEN_CHUNKS.encode(), (job_id,))
            cursor.execute(
                b"UPDATE jobs SET state = 'ongoing', finished_at = NULL, errors = NULL, "
                b"done = done - failed, failed = 0, attempts = attempts + 1 WHERE id = %s",
                (job_id,),
            )
            cursor.execute(b"DELETE FROM webhooks WHERE job_id = %s", (job_id,))
            cursor.execute(b"SELECT DISTINCT store_id FROM images WHERE job_id = %s", (job_id,))
            known = {sid: stores[sid] for (sid,) in cursor.fetchall() if stores and sid in stores}
            cursor.executemany(
                b"INSERT INTO job_stores (job_id, store_id, store_name, area_code) "
                b"VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(job_id, sid, i.store_name, i.area_code) for sid, i in known.items()],
            )
        images, _ = self._images(job_id)
        return JobOrder(job_id, images, row[1])

    def claim_deliveries(self, now: float, limit: int, claim_s: float) -> list[Delivery]:
        with self._transaction() as cursor:
            cursor.execute(
                pgsql.CLAIM_DELIVERIES.encode(),
                {"now": now, "limit": limit, "until": now + claim_s},
            )
            order = {int(job_id): (next_at, int(job_id)) for job_id, next_at in cursor.fetchall()}
            if not order:
                return []
            cursor.execute(pgsql.DELIVERIES.encode(), (sorted(order),))
            rows = sorted(cursor.fetchall(), key=lambda row: order[int(row[3])])
        # Each row: the delivery's id, URL and end time, then the job's status columns.
        return [
            Delivery(int(row[3]), row[0], row[1], row[14] or 0, row[2], decode.status(row[3:]))
            for row in rows
        ]

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                pgsql.RECORD_DELIVERY.encode(),
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
        rows = self._read(pgsql.STATUS_OF_JOB, (job_id,))
        return decode.status(rows[0]) if rows else None

    def job_results(self, job_id: int) -> JobResults | None:
        status = self.job_status(job_id)
        if status is None:
            return None
        images, outcomes = self._images(job_id)
        return JobResults(status, images, outcomes)

    def _images(self, job_id: int) -> tuple[tuple[ImageSpec, ...], tuple[ImageOutcome | None, ...]]:
        rows = self._read(pgsql.IMAGES_OF_JOB, (job_id,))
        images = tuple(ImageSpec(store_id, url) for store_id, url, *_ in rows)
        outcomes = tuple(
            None if idx is None else ImageOutcome(width, height, error)
            for _, _, idx, width, height, error in rows
        )
        return images, outcomes

    def image_page(
        self, job_id: int, after: int, limit: int, *, failed_only: bool = False
    ) -> ImagePage | None:
        query = pgsql.FAILED_PAGE if failed_only else pgsql.IMAGE_PAGE
        with self._transaction() as cursor:
            if not _exists(cursor, job_id):
                return None
            cursor.execute(query.encode(), (job_id, after, limit + 1))
            rows = cursor.fetchall()
        page = tuple(decode.image_result(row) for row in rows[:limit])
        return ImagePage(page, page[-1].index + 1 if len(rows) > limit else None)

    def store_figures(self, job_id: int) -> list[StoreFigures] | None:
        rows = self._figures(pgsql.STORE_FIGURES, job_id)
        if rows is None:
            return None
        return decode.store_figures(rows)

    def area_figures(self, job_id: int) -> list[AreaFigures] | None:
        rows = self._figures(pgsql.AREA_FIGURES, job_id)
        if rows is None:
            return None
        return decode.area_figures(rows)

    def _figures(self, query: str, job_id: int) -> list[tuple[Any, ...]] | None:
        with self._transaction() as cursor:
            if not _exists(cursor, job_id):
                return None
            cursor.execute(query.encode(), {"job": job_id})
            return cursor.fetchall()

    def list_jobs(
        self, limit: int, before: int | None, *, owner: str | None = None
    ) -> list[JobStatus]:
        below = before if before is not None else 2**63 - 1
        if owner is None:
            rows = self._read(pgsql.STATUS_PAGE, (below, limit))
        else:
            rows = self._read(pgsql.OWNER_PAGE, (owner, below, limit))
        return [decode.status(row) for row in rows]

    def purge(self, finished_before: float, limit: int) -> int:
        with self._transaction() as cursor:
            cursor.execute(pgsql.PURGE_PICK.encode(), (finished_before, limit))
            ids = [job_id for (job_id,) in cursor.fetchall()]
            if ids:
                for table in _JOB_TABLES:
                    cursor.execute(
                        f"DELETE FROM {table} WHERE job_id = ANY(%s)".encode(),  # noqa: S608
                        (ids,),
                    )
                cursor.execute(b"DELETE FROM jobs WHERE id = ANY(%s)", (ids,))
        return len(ids)

    # the cluster protocol

    def register_node(self, name: str, gpu_slots: int, now: float) -> int:
        with self._transaction() as cursor:
            cursor.execute(
                b"INSERT INTO nodes (name, gpu_slots) VALUES (%s, %s) RETURNING id",
                (name, gpu_slots),
            )
            return int(_one(cursor)[0])

    def claim_chunks(
        self, node: int, limit: int, lease_s: float, now: float, *, new_jobs_only: bool = False
    ) -> list[Chunk]:
        with self._transaction() as cursor:
            cursor.execute(
                pgsql.CLAIM_CHUNKS.encode(),
                {
                    "node": node,
                    "limit": limit,
                    "lease": lease_s,
                    "jobs": pgsql.CLAIM_JOBS,
                    "new_only": new_jobs_only,
                },
            )
            claimed = cursor.fetchall()
            if not claimed:
                return []
            per_job: dict[int, int] = {}
            for job_id, *_ in claimed:
                per_job[job_id] = per_job.get(job_id, 0) + 1
            cursor.executemany(
                b"UPDATE job_claims SET claimed = claimed + %s WHERE job_id = %s",
                [(n, job_id) for job_id, n in sorted(per_job.items())],
            )
            return _read_chunks(cursor, claimed)

    def heartbeat(self, node: int, lease_s: float, now: float) -> Heartbeat:
        with self._transaction() as cursor:
            cursor.execute(b"UPDATE nodes SET last_heartbeat = now() WHERE id = %s", (node,))
            cursor.execute(pgsql.DROP_ENDED_LEASES.encode(), (node,))
            ended = frozenset(job_id for (job_id,) in cursor.fetchall())
            cursor.execute(pgsql.RENEW_LEASES.encode(), (lease_s, node, lease_s * RENEW_WITHIN))
            renewed = cursor.rowcount
            cursor.execute(
                b"SELECT job_id, number FROM chunks WHERE node = %s AND pending > 0", (node,)
            )
            held = frozenset((int(job_id), number) for job_id, number in cursor.fetchall())
            return Heartbeat(renewed, ended, held)

    def record_outcomes(self, outcomes: Sequence[OutcomeRecord], now: float) -> list[JobStatus]:
        finished = []
        with self._transaction(pipelined=True) as cursor:
            for job_id, total, done, was in _insert_outcomes(cursor, outcomes):
                if was != JobState.ONGOING.value or done < total:
                    continue
                state, errors = _ending(cursor, job_id)
                cursor.execute(
                    b"UPDATE jobs SET state = %s, finished_at = %s, errors = %s WHERE id = %s",
                    (state.value, now, decode.errors_json(errors), job_id),
                )
                _queue_webhook(cursor, job_id)
                cursor.execute(pgsql.STATUS_OF_JOB.encode(), (job_id,))
                finished.append(decode.status(_one(cursor)))
        return finished

    def cancel_job(self, job_id: int, now: float) -> tuple[JobStatus, bool] | None:
        with self._transaction() as cursor:
            cursor.execute(
                b"UPDATE jobs SET state = 'cancelled', finished_at = %s, errors = '[]' "
                b"WHERE id = %s AND state = 'ongoing'",
                (now, job_id),
            )
            cancelled = cursor.rowcount > 0
            if cancelled:
                _queue_webhook(cursor, job_id)
            cursor.execute(pgsql.STATUS_OF_JOB.encode(), (job_id,))
            row = cursor.fetchone()
        return None if row is None else (decode.status(row), cancelled)

    def release_node(self, node: int) -> None:
        with self._transaction() as cursor:
            cursor.execute(
                b"UPDATE chunks SET node = NULL, lease_until = NULL WHERE node = %s", (node,)
            )
            cursor.execute(b"DELETE FROM nodes WHERE id = %s", (node,))

    def count_ongoing(self) -> tuple[int, int]:
        ((ongoing, queued),) = self._read(pgsql.COUNT_ONGOING, ())
        return int(ongoing), int(queued)

    def live_nodes(self, now: float, within: float) -> list[NodeInfo]:
        rows = self._read(pgsql.LIVE_NODES, (within,))
        return [NodeInfo(int(i), name, slots, start, seen) for i, name, slots, start, seen in rows]

    def close(self) -> None:
        self._drop()


_JOB_TABLES = (
    "outcomes",
    "images",
    "job_stores",
    "chunks",
    "job_claims",
    "idempotency",
    "webhooks",
)
"""Every table with a ``job_id`` column: what purging a job deletes."""


def _insert_job(
    cursor: Cursor,
    images: Sequence[ImageSpec],
    submitted_at: float,
    stores: Mapping[str, StoreInfo] | None,
    *,
    owner: str | None,
    callback_url: str | None,
) -> int:
    """The job's row, its images (one COPY), its known stores and its chunks."""
    used = {spec.store_id for spec in images}
    known = [(sid, info) for sid, info in (stores or {}).items() if sid in used]
    cursor.execute(
        b"INSERT INTO jobs (submitted_at, total, owner, callback_url) "
        b"VALUES (%s, %s, %s, %s) RETURNING id",
        (submitted_at, len(images), owner, callback_url),
    )
    job_id = int(_one(cursor)[0])
    cursor.execute(b"INSERT INTO job_claims (job_id) VALUES (%s)", (job_id,))
    with cursor.copy(b"COPY images (job_id, idx, store_id, url) FROM STDIN") as copy:
        for index, spec in enumerate(images):
            copy.write_row((job_id, index, spec.store_id, spec.url))
    cursor.executemany(
        b"INSERT INTO job_stores (job_id, store_id, store_name, area_code) VALUES (%s, %s, %s, %s)",
        [(job_id, sid, info.store_name, info.area_code) for sid, info in known],
    )
    cursor.execute(
        pgsql.INSERT_CHUNKS.encode(), {"job": job_id, "total": len(images), "size": CHUNK_SIZE}
    )
    return job_id


def _queue_webhook(cursor: Cursor, job_id: int) -> None:
    """The job has just ended: queue its webhook (if it has a callback) in the same
    transaction, so no ending is ever left without its delivery."""
    cursor.execute(pgsql.NEW_DELIVERY.encode(), ("msg_" + secrets.token_hex(12), job_id))


def _one(cursor: Cursor) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None
    return row


def _exists(cursor: Cursor, job_id: int) -> bool:
    cursor.execute(b"SELECT 1 FROM jobs WHERE id = %s", (job_id,))
    return cursor.fetchone() is not None


def _insert_outcomes(
    cursor: Cursor, outcomes: Sequence[OutcomeRecord]
) -> list[tuple[int, int, int, str]]:
    """Insert the outcomes of ongoing jobs (first per image wins), update counts and
    chunks by what was really inserted; return ``(job, total, done, state)`` of
    each job touched, read under its row lock.

    Two statements, sent together when the connection is in pipeline mode (one
    round trip): the jobs' row locks (``LOCK_JOBS``), then the rest in one
    statement (``RECORD_OUTCOMES``), which sees the jobs as they are once locked."""
    first: dict[tuple[int, int], OutcomeRecord] = {}
    for r in outcomes:
        first.setdefault((r.job_id, r.index), r)
    if not first:
        return []
    cursor.execute(pgsql.LOCK_JOBS.encode(), (sorted({job_id for job_id, _ in first}),))
    columns: list[list[Any]] = [[], [], [], [], []]
    for r in first.values():
        for column, value in zip(
            columns,
            (r.job_id, r.index, r.outcome.width, r.outcome.height, r.outcome.error),
            strict=True,
        ):
            column.append(value)
    cursor.execute(pgsql.RECORD_OUTCOMES.encode(), (*columns, CHUNK_SIZE))
    return [(int(j), total, done, state) for j, total, done, state in cursor.fetchall()]


def _ending(cursor: Cursor, job_id: int) -> tuple[JobState, tuple[StoreError, ...]]:
    cursor.execute(pgsql.STORE_TOTALS.encode(), (job_id,))
    totals = [(store_id, int(count)) for store_id, count in cursor.fetchall()]
    cursor.execute(pgsql.FAILED_REASONS.encode(), (job_id,))
    reasons: dict[str, list[str]] = {}
    for store_id, error in cursor.fetchall():
        reasons.setdefault(store_id, []).append(error)
    return decide_ending(totals, reasons)


def _read_chunks(cursor: Cursor, claimed: list[tuple[Any, ...]]) -> list[Chunk]:
    """The images, done indexes and known stores of the chunks just claimed."""
    job_ids = [int(job_id) for job_id, *_ in claimed]
    cursor.execute(
        pgsql.CHUNK_IMAGES.encode(),
        (job_ids, [first for _, _, first, _ in claimed], [size for _, _, _, size in claimed]),
    )
    images: dict[int, list[tuple[int, str, str, bool]]] = {}
    for job_id, idx, store_id, url, done in cursor.fetchall():
        images.setdefault(int(job_id), []).append((idx, store_id, url, done))
    cursor.execute(
        b"SELECT j.id, j.submitted_at, s.store_id, s.store_name, s.area_code FROM jobs AS j "
        b"LEFT JOIN job_stores AS s ON s.job_id = j.id WHERE j.id = ANY(%s)",
        (sorted(set(job_ids)),),
    )
    submitted: dict[int, float] = {}
    stores: dict[int, dict[str, StoreInfo]] = {}
    for job_id, submitted_at, store_id, name, area in cursor.fetchall():
        submitted[int(job_id)] = submitted_at
        if store_id is not None:
            stores.setdefault(int(job_id), {})[store_id] = StoreInfo(name, area)
    chunks = []
    for job_id, number, first, size in claimed:
        rows = [row for row in images.get(int(job_id), []) if first <= row[0] < first + size]
        chunks.append(
            Chunk(
                int(job_id),
                number,
                first,
                tuple(ImageSpec(store_id, url) for _, store_id, url, _ in rows),
                submitted[int(job_id)],
                frozenset(idx for idx, _, _, done in rows if done),
                stores.get(int(job_id), {}),
            )
        )
    return chunks


def _safe(url: str) -> str:
    """The URL without a password, for messages and logs."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    host, port, dbname = info.get("host", ""), info.get("port", ""), info.get("dbname", "")
    return f"postgresql://{info.get('user', '')}@{host}:{port}/{dbname}"
