"""The SQL of the PostgreSQL job store, in one place so that it can be read (and
explained with ``EXPLAIN``) as a whole. Parameters use psycopg's ``%s`` style."""

__all__ = [
    "AREA_FIGURES",
    "CHUNK_IMAGES",
    "CLAIM_CHUNKS",
    "CLAIM_DELIVERIES",
    "CLAIM_JOBS",
    "COUNT_ONGOING",
    "DELIVERIES",
    "DROP_ENDED_LEASES",
    "FAILED_PAGE",
    "FAILED_REASONS",
    "IMAGES_OF_JOB",
    "IMAGE_PAGE",
    "INSERT_CHUNKS",
    "LIVE_NODES",
    "LOCK_JOBS",
    "NEW_DELIVERY",
    "OWNER_PAGE",
    "PURGE_IMAGES",
    "PURGE_PICK",
    "RECORD_DELIVERY",
    "RECORD_OUTCOMES",
    "RENEW_LEASES",
    "REOPEN_CHUNKS",
    "STATUS_OF_JOB",
    "STATUS_PAGE",
    "STORE_FIGURES",
    "STORE_TOTALS",
]

CLAIM_JOBS = 64
"""Ongoing jobs with free chunks looked at per claim, fewest claims first."""

PURGE_IMAGES = 50_000
"""Most images one purge transaction deletes (but always at least one job): short
locks, and vacuum sees dead rows arrive in small batches, not one huge DELETE."""

_FREE = "c.pending > 0 AND (c.node IS NULL OR c.lease_until <= now())"

CLAIM_CHUNKS = f"""
WITH open_jobs AS (
    SELECT j.id, k.claimed FROM jobs AS j JOIN job_claims AS k ON k.job_id = j.id
    WHERE j.state = 'ongoing' AND (NOT %(new_only)s OR k.claimed = 0)
      AND EXISTS (SELECT 1 FROM chunks AS c WHERE c.job_id = j.id AND {_FREE})
    ORDER BY k.claimed, j.id
    LIMIT %(jobs)s
), free AS (
    SELECT f.job_id, f.number,
        o.claimed + row_number() OVER (PARTITION BY f.job_id ORDER BY f.number) AS turn
    FROM open_jobs AS o CROSS JOIN LATERAL (
        SELECT c.job_id, c.number FROM chunks AS c
        WHERE c.job_id = o.id AND {_FREE}
        ORDER BY c.number
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS f
), picked AS (
    SELECT job_id, number FROM free WHERE NOT %(new_only)s OR turn = 1
    ORDER BY turn, job_id LIMIT %(limit)s
)
UPDATE chunks AS c
SET node = %(node)s, lease_until = now() + make_interval(secs => %(lease)s)
FROM picked AS p
WHERE c.job_id = p.job_id AND c.number = p.number
RETURNING c.job_id, c.number, c.first, c.size
"""  # noqa: S608 (only this module's constants are formatted in)
"""Fair claim: a job's turn is the chunks it has had claimed so far plus the chunk's
rank among its free ones, then job id; so claims go round the jobs instead of
draining the oldest. ``SKIP LOCKED`` lets a concurrent claimer pass over chunks
being claimed right now instead of waiting for them (or getting them too).
``new_only``: the first free chunk of each job no chunk of which was claimed yet."""

CHUNK_IMAGES = """
SELECT i.job_id, i.idx, i.store_id, i.url, o.idx IS NOT NULL
FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS r(job_id, first, size)
JOIN images AS i ON i.job_id = r.job_id AND i.idx >= r.first AND i.idx < r.first + r.size
LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
ORDER BY i.job_id, i.idx
"""

DROP_ENDED_LEASES = """
UPDATE chunks AS c SET node = NULL, lease_until = NULL
FROM jobs AS j
WHERE c.node = %s AND j.id = c.job_id AND j.state <> 'ongoing'
RETURNING c.job_id
"""

RENEW_LEASES = """
UPDATE chunks SET lease_until = now() + make_interval(secs => %s)
WHERE node = %s AND pending > 0 AND lease_until < now() + make_interval(secs => %s)
"""
"""Only leases past a third of their time are rewritten (see ``RENEW_WITHIN``); the
update touches no indexed column, so it is a HOT update."""

LIVE_NODES = """
SELECT id, name, gpu_slots, extract(epoch FROM started_at)::float8,
    extract(epoch FROM last_heartbeat)::float8
FROM nodes WHERE last_heartbeat >= now() - make_interval(secs => %s) ORDER BY id
"""

INSERT_CHUNKS = """
INSERT INTO chunks (job_id, number, first, size, pending)
SELECT %(job)s, n, n * %(size)s, least(%(size)s, %(total)s - n * %(size)s),
    least(%(size)s, %(total)s - n * %(size)s)
FROM generate_series(0, (%(total)s - 1) / %(size)s) AS n
"""

LOCK_JOBS = """
SELECT id FROM jobs WHERE id = ANY(%s) AND state = 'ongoing' ORDER BY id FOR UPDATE
"""
"""Row locks in id order: writers of the same jobs queue up instead of deadlocking,
and the last outcome of a job is seen by exactly one of them."""

RECORD_OUTCOMES = """
WITH ins AS (
    INSERT INTO outcomes (job_id, idx, width, height, error)
    SELECT r.job_id, r.idx, r.width, r.height, r.error
    FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::int[], %s::text[])
        AS r(job_id, idx, width, height, error)
    JOIN jobs AS j ON j.id = r.job_id
    WHERE j.state = 'ongoing' AND r.idx >= 0 AND r.idx < j.total
    ON CONFLICT DO NOTHING
    RETURNING job_id, idx, error IS NOT NULL AS failed
), per_chunk AS (
    SELECT job_id, idx / %s AS number, count(*) AS n FROM ins GROUP BY 1, 2
), chunked AS (
    UPDATE chunks AS c SET pending = c.pending - p.n,
        node = CASE WHEN c.pending = p.n THEN NULL ELSE c.node END,
        lease_until = CASE WHEN c.pending = p.n THEN NULL ELSE c.lease_until END
    FROM per_chunk AS p WHERE c.job_id = p.job_id AND c.number = p.number
    RETURNING 1
), per_job AS (
    SELECT job_id, count(*) AS n, count(*) FILTER (WHERE failed) AS f FROM ins GROUP BY job_id
)
UPDATE jobs AS j SET done = j.done + p.n, failed = j.failed + p.f
FROM per_job AS p WHERE j.id = p.job_id
RETURNING j.id, j.total, j.done, j.state
"""
"""After ``LOCK_JOBS`` in the same transaction: the outcomes of ongoing jobs are
inserted (first per image wins), and counts and chunks move by what was really
inserted, in one statement; a chunk whose last image got its outcome is released
(no lease left to expire). One statement instead of an insert whose rows go back
to the client and come again in an update: half the round trips per commit."""

STORE_TOTALS = """
SELECT store_id, count(*) FROM images WHERE job_id = %s GROUP BY store_id ORDER BY min(idx)
"""

FAILED_REASONS = """
SELECT i.store_id, o.error FROM outcomes AS o
JOIN images AS i ON i.job_id = o.job_id AND i.idx = o.idx
WHERE o.job_id = %s AND o.error IS NOT NULL ORDER BY o.idx
"""

PURGE_PICK = f"""
SELECT id FROM (
    SELECT id, total, sum(total) OVER (ORDER BY finished_at, id) AS running
    FROM (
        SELECT id, total, finished_at FROM jobs WHERE finished_at < %s
        ORDER BY finished_at, id LIMIT %s
    ) AS oldest
) AS counted
WHERE running - total < {PURGE_IMAGES}
"""  # noqa: S608 (a constant)

_STATUS_COLUMNS = (
    "j.id, j.submitted_at, j.total, j.done, j.failed, j.state, j.finished_at, j.errors, "
    "j.attempts, j.callback_url IS NOT NULL, w.state, w.attempts, w.last_error, "
    "j.state = 'ongoing' AND coalesce(k.claimed, 0) = 0 "
    "FROM jobs AS j LEFT JOIN webhooks AS w ON w.job_id = j.id "
    "LEFT JOIN job_claims AS k ON k.job_id = j.id "
)
STATUS_OF_JOB = "SELECT " + _STATUS_COLUMNS + "WHERE j.id = %s"
STATUS_PAGE = "SELECT " + _STATUS_COLUMNS + "WHERE j.id < %s ORDER BY j.id DESC LIMIT %s"
OWNER_PAGE = (
    "SELECT " + _STATUS_COLUMNS + "WHERE j.owner = %s AND j.id < %s ORDER BY j.id DESC LIMIT %s"
)
CLAIM_DELIVERIES = """
WITH due AS (
    SELECT job_id, next_at FROM webhooks
    WHERE state = 'pending' AND next_at <= %(now)s
    ORDER BY next_at, job_id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE webhooks AS w SET next_at = %(until)s FROM due WHERE w.job_id = due.job_id
RETURNING w.job_id, due.next_at
"""
"""Due deliveries, claimed: their next attempt moves to the claim's end. Concurrent
claimers skip each other's rows, and a row another claimer has just committed is
checked again and is no longer due, so no delivery is handed out twice."""
DELIVERIES = (
    "SELECT w.webhook_id, j.callback_url, w.ended_at, " + _STATUS_COLUMNS + "WHERE j.id = ANY(%s)"
)
"""What a claimer needs to send the deliveries of these jobs."""
RECORD_DELIVERY = """
UPDATE webhooks SET state = %s, attempts = %s, last_error = COALESCE(%s, last_error),
    next_at = %s
WHERE job_id = %s AND webhook_id = %s AND state = 'pending' AND attempts = %s
"""
"""Only over the attempt it follows: a late record from a claim that ran out is ignored."""
NEW_DELIVERY = """
INSERT INTO webhooks (job_id, webhook_id, state, attempts, ended_at, next_at)
SELECT id, %s, 'pending', 0, finished_at, finished_at
FROM jobs WHERE id = %s AND callback_url IS NOT NULL
ON CONFLICT (job_id) DO UPDATE SET webhook_id = excluded.webhook_id, state = 'pending',
    attempts = 0, last_error = NULL, ended_at = excluded.ended_at, next_at = excluded.next_at
"""
"""A job's webhook, queued in the transaction that ends the job (its id made by the
caller: ``msg_`` and 24 random hex digits, the same on every attempt)."""
REOPEN_CHUNKS = """
UPDATE chunks AS c SET node = NULL, lease_until = NULL, pending = c.size - (
    SELECT count(*) FROM outcomes AS o
    WHERE o.job_id = c.job_id AND o.idx >= c.first AND o.idx < c.first + c.size
) WHERE c.job_id = %s
"""
"""After a retry deleted the failed outcomes: their chunks have images to do again."""

IMAGES_OF_JOB = """
SELECT i.store_id, i.url, o.idx, o.width, o.height, o.error
FROM images AS i LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
WHERE i.job_id = %s ORDER BY i.idx
"""

IMAGE_PAGE = """
SELECT i.idx, i.store_id, i.url, s.store_name, s.area_code, o.idx, o.width, o.height, o.error
FROM images AS i
LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
LEFT JOIN job_stores AS s ON s.job_id = i.job_id AND s.store_id = i.store_id
WHERE i.job_id = %s AND i.idx >= %s ORDER BY i.idx LIMIT %s
"""

FAILED_PAGE = """
SELECT o.idx, i.store_id, i.url, s.store_name, s.area_code, o.idx, o.width, o.height, o.error
FROM outcomes AS o
JOIN images AS i ON i.job_id = o.job_id AND i.idx = o.idx
LEFT JOIN job_stores AS s ON s.job_id = i.job_id AND s.store_id = i.store_id
WHERE o.job_id = %s AND o.idx >= %s AND o.error IS NOT NULL ORDER BY o.idx LIMIT %s
"""

_PER_STORE = """
WITH per_store AS (
    SELECT i.store_id AS store_id, min(i.idx) AS first, count(*) AS images,
        count(o.width) AS measured, count(o.error) AS failed,
        min(2 * (o.width + o.height)) AS low,
        sum(2 * (o.width + o.height)) AS total,
        max(2 * (o.width + o.height)) AS high
    FROM images AS i LEFT JOIN outcomes AS o ON o.job_id = i.job_id AND o.idx = i.idx
    WHERE i.job_id = %(job)s GROUP BY i.store_id
)
"""

STORE_FIGURES = (
    _PER_STORE
    + """SELECT p.store_id, s.store_name, s.area_code,
    p.images, p.measured, p.failed, p.low, p.total, p.high
FROM per_store AS p
LEFT JOIN job_stores AS s ON s.job_id = %(job)s AND s.store_id = p.store_id
ORDER BY p.first
"""
)

AREA_FIGURES = (
    _PER_STORE
    + """SELECT s.area_code, count(*),
    sum(p.images), sum(p.measured), sum(p.failed), min(p.low), sum(p.total), max(p.high)
FROM per_store AS p
LEFT JOIN job_stores AS s ON s.job_id = %(job)s AND s.store_id = p.store_id
GROUP BY s.area_code ORDER BY min(p.first)
"""
)

COUNT_ONGOING = """
SELECT count(*), count(*) FILTER (WHERE coalesce(k.claimed, 0) = 0)
FROM jobs AS j LEFT JOIN job_claims AS k ON k.job_id = j.id
WHERE j.state = 'ongoing'
"""
"""Ongoing jobs, and those no node has claimed a chunk of yet (queued)."""
