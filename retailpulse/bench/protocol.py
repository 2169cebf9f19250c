"""The cluster protocol's cost in PostgreSQL alone, without the image pipeline.

Simulated nodes (threads, each with its own ``PostgresJobStore`` connection, as
nodes have) work one big job as fast as the database lets them: claim 2 chunks,
record each chunk's 64 outcomes in one transaction, beat once a second. The work
itself is instant, so what is measured is the database path: claim latency,
transactions, rows written and WAL per 1,000 images, and the images/s ceiling
the protocol puts on a cluster.
"""

import threading
import time
from dataclasses import dataclass

from retailpulse.bench.client import percentile
from retailpulse.bench.pgstats import DbCounters, counters
from retailpulse.model import ImageOutcome
from retailpulse.stores import OutcomeRecord
from retailpulse.stores.postgres import PostgresJobStore
from retailpulse.submission import ImageSpec

__all__ = ["ProtocolFigures", "run_protocol"]

OK = ImageOutcome.measured(800, 600)
LEASE = 15.0
CLAIM = 2
STATS_DELAY = 1.2
"""Backends report their counters at most once a second: wait that long to read them."""
THREAD_TIMEOUT = 600.0


@dataclass(frozen=True, slots=True)
class ProtocolFigures:
    nodes: int
    images: int
    images_per_s: float
    claim_p50_ms: float
    claim_p99_ms: float
    claims_per_1000: float
    transactions_per_1000: float
    """Counted by the stores themselves: claims, outcome writes, beats."""
    rows_per_1000: float
    wal_kib_per_1000: float
    submit_s: float
    submit_wal_kib_per_1000: float


@dataclass(slots=True)
class _Tally:
    images: int = 0
    claims: int = 0
    transactions: int = 0


def _specs(count: int) -> list[ImageSpec]:
    return [ImageSpec("S00339218", f"https://img.example/{n:07d}.jpg") for n in range(count)]


def _work(url: str, name: str, latencies: list[float], tally: _Tally) -> None:
    store = PostgresJobStore(url)
    try:
        me = store.register_node(name, 32, time.time())
        next_beat = time.monotonic() + 1.0
        while True:
            started = time.perf_counter()
            chunks = store.claim_chunks(me, CLAIM, LEASE, time.time())
            latencies.append(time.perf_counter() - started)
            tally.claims += 1
            if not chunks:
                break
            for chunk in chunks:
                todo = chunk.todo()
                store.record_outcomes([OutcomeRecord(chunk.job_id, i, OK) for i, _ in todo], 0.0)
                tally.images += len(todo)
            if time.monotonic() >= next_beat:
                store.heartbeat(me, LEASE, time.time())
                next_beat += 1.0
        store.release_node(me)
        tally.transactions = store.transactions
    finally:
        store.close()


def _settled(url: str) -> DbCounters:
    time.sleep(STATS_DELAY)
    return counters(url)


def run_protocol(url: str, nodes: int, images: int) -> ProtocolFigures:
    """Work one job of ``images`` images with ``nodes`` simulated nodes on the (empty)
    database at ``url``."""
    empty = counters(url)
    setup = PostgresJobStore(url)
    try:
        submit_started = time.perf_counter()
        setup.create_job(_specs(images), time.time())
        submit_s = time.perf_counter() - submit_started
    finally:
        setup.close()
    before = _settled(url)
    latencies: list[float] = []
    tallies = [_Tally() for _ in range(nodes)]
    threads = [
        threading.Thread(target=_work, args=(url, f"sim-{n}", latencies, tallies[n]), daemon=True)
        for n in range(nodes)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=THREAD_TIMEOUT)
    elapsed = time.perf_counter() - started
    spent = _settled(url) - before
    done = sum(t.images for t in tallies)
    if done == 0:
        raise RuntimeError("the simulated nodes recorded no outcome")
    per_1000 = 1000 / done
    return ProtocolFigures(
        nodes=nodes,
        images=done,
        images_per_s=done / elapsed,
        claim_p50_ms=percentile(latencies, 0.50) * 1000,
        claim_p99_ms=percentile(latencies, 0.99) * 1000,
        claims_per_1000=sum(t.claims for t in tallies) * per_1000,
        transactions_per_1000=sum(t.transactions for t in tallies) * per_1000,
        rows_per_1000=spent.rows * per_1000,
        wal_kib_per_1000=spent.wal_bytes / 1024 * per_1000,
        submit_s=submit_s,
        submit_wal_kib_per_1000=(before.wal_bytes - empty.wal_bytes) / 1024 * 1000 / images,
    )
