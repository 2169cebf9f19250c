"""The PostgreSQL job store's schema, its versions, and the migration that brings a
database to the newest one.

Migrations run on every start, inside one transaction that first takes a
transaction-level advisory lock: two nodes starting at once on an empty
database do not both create tables; the second waits, then finds the work done.

Choices made against what users of PostgreSQL job queues run into:
- Lease columns (``node``, ``lease_until``) change on every claim and renewal:
  ``chunks`` has room on each page (``fillfactor``) and no index on
  ``lease_until``, so a renewal is a HOT update (no index entries to vacuum).
- The queue tables are small and churn: autovacuum is told to visit them at
  2% dead rows instead of the default 20%.
- Lock order is the same everywhere, so concurrent claims, heartbeats and outcome
  writes never deadlock: outcome writers lock ``jobs`` rows (in id order) then
  ``chunks``; claimers lock ``chunks`` then ``job_claims``; heartbeats only ``chunks``.
- Sessions are bounded (``idle_in_transaction_session_timeout``) so that a stuck
  client cannot hold back vacuum's horizon for long.
"""

from collections.abc import Sequence

import psycopg

from retailpulse.stores.jobstore import CHUNK_SIZE

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

MIGRATION_LOCK = 0x52504A53  # "RPJS": the key of the advisory lock migrations take

MIGRATIONS: Sequence[str] = (
    # version 1: jobs, images, outcomes, the stores of each job, chunks, nodes
    f"""
    CREATE TABLE jobs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- never reused
        submitted_at double precision NOT NULL,
        total integer NOT NULL,
        done integer NOT NULL DEFAULT 0,
        failed integer NOT NULL DEFAULT 0,
        state text NOT NULL DEFAULT 'ongoing',
        finished_at double precision,
        errors jsonb,
        owner text,  -- the API key's name; NULL for an open service
        callback_url text,
        attempts integer NOT NULL DEFAULT 1
    ) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
    CREATE INDEX jobs_ongoing ON jobs (id) WHERE state = 'ongoing';
    CREATE INDEX jobs_owner ON jobs (owner, id) WHERE owner IS NOT NULL;
    -- Idempotency-Key of a submit, per API key ('' when the service is open).
    CREATE TABLE idempotency (
        scope text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        created_at double precision NOT NULL,
        job_id bigint NOT NULL,
        PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_job ON idempotency (job_id);
    -- The webhook of a job's last ending: written with the ending, so none is lost.
    CREATE TABLE webhooks (
        job_id bigint PRIMARY KEY,
        webhook_id text NOT NULL,
        state text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        ended_at double precision NOT NULL,
        next_at double precision
    );
    CREATE INDEX webhooks_due ON webhooks (next_at) WHERE state = 'pending';
    -- Chunk claims so far per job: the fairness key. Its own row, not a column of
    -- jobs: claimers and outcome writers of one job then lock different rows (no
    -- deadlock between them, no queueing of one behind the other).
    CREATE TABLE job_claims (
        job_id bigint PRIMARY KEY,
        claimed integer NOT NULL DEFAULT 0
    ) WITH (fillfactor = 50, autovacuum_vacuum_scale_factor = 0.02);
    CREATE INDEX jobs_finished_at ON jobs (finished_at) WHERE finished_at IS NOT NULL;
    CREATE TABLE images (
        job_id bigint NOT NULL,
        idx integer NOT NULL,
        store_id text NOT NULL,
        url text NOT NULL,
        PRIMARY KEY (job_id, idx)
    );
    CREATE TABLE outcomes (
        job_id bigint NOT NULL,
        idx integer NOT NULL,
        width integer,
        height integer,
        error text,
        PRIMARY KEY (job_id, idx)  -- one outcome per image, whoever writes it twice
    );
    CREATE INDEX outcomes_failed ON outcomes (job_id, idx) WHERE error IS NOT NULL;
    CREATE TABLE job_stores (
        job_id bigint NOT NULL,
        store_id text NOT NULL,
        store_name text NOT NULL,
        area_code text NOT NULL,
        PRIMARY KEY (job_id, store_id)
    );
    CREATE TABLE chunks (
        job_id bigint NOT NULL,
        number integer NOT NULL,
        first integer NOT NULL,
        size integer NOT NULL,
        pending integer NOT NULL,  -- images of the chunk without an outcome
        node bigint,
        lease_until timestamptz,
        PRIMARY KEY (job_id, number)
    ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.02);
    CREATE INDEX chunks_open ON chunks (job_id, number) WHERE pending > 0;
    CREATE INDEX chunks_leased ON chunks (node) WHERE node IS NOT NULL;
    CREATE TABLE nodes (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- a fresh id per start
        name text NOT NULL,
        gpu_slots integer NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        last_heartbeat timestamptz NOT NULL DEFAULT now()
    ) WITH (fillfactor = 50);
    COMMENT ON TABLE chunks IS 'images per chunk: {CHUNK_SIZE}';
    """,
)
"""Entry N - 1 brings a database of version N - 1 to version N; append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: psycopg.Connection[tuple[object, ...]]) -> int:
    """Bring the database to ``SCHEMA_VERSION``; return the version found before.

    Raises ``ValueError`` for a database newer than this program.
    """
    with db.transaction(), db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cursor.execute("CREATE TABLE IF NOT EXISTS retailpulse_schema (version integer NOT NULL)")
        cursor.execute("SELECT version FROM retailpulse_schema")
        row = cursor.fetchone()
        found = 0 if row is None else int(str(row[0]))
        if found > SCHEMA_VERSION:
            raise ValueError(
                f"its schema version {found} is newer than this program's {SCHEMA_VERSION}"
            )
        for script in MIGRATIONS[found:]:
            cursor.execute(script.encode())
        if row is None:
            cursor.execute("INSERT INTO retailpulse_schema VALUES (%s)", (SCHEMA_VERSION,))
        else:
            cursor.execute("UPDATE retailpulse_schema SET version = %s", (SCHEMA_VERSION,))
    return found
