"""Measure the cluster protocol's cost in PostgreSQL, without the image pipeline.

N simulated nodes (threads, each with its own ``PostgresJobStore`` connection, as
nodes have) work one big job as fast as the database lets them: claim 2 chunks,
record each chunk's 64 outcomes in one transaction, heartbeat once a second.
The work itself is instant, so what is measured is the database path alone:
claim latency p50/p99, transactions, rows written and WAL bytes per 1,000
images, and the images/s ceiling the protocol puts on a cluster. Then pgbench
says what this machine's PostgreSQL sustains, for the 100-node estimate.

    .venv/bin/python benchmarks/cluster_store.py [--nodes 1 2 4] [--images 25600]
"""

import argparse
import statistics
import subprocess
import threading
import time
from typing import Any

import psycopg

from retailpulse.model import ImageOutcome
from retailpulse.stores import OutcomeRecord
from retailpulse.stores.postgres import PostgresJobStore
from retailpulse.submission import ImageSpec
from retailpulse.testing.postgres import admin_url, scratch_database

OK = ImageOutcome.measured(800, 600)
LEASE = 15.0


def specs(count: int) -> list[ImageSpec]:
    return [
        ImageSpec("S00339218", f"https://img.example/S00339218/{n:07d}.jpg") for n in range(count)
    ]


def db_counters(url: str) -> dict[str, int]:
    """Rows written (all tables) and the WAL position, read after stats are flushed."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(0.6)
        row = db.execute(
            "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0), "
            "coalesce(sum(n_tup_del), 0), "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint FROM pg_stat_user_tables"
        ).fetchone()
    assert row is not None
    inserted, updated, deleted, wal = (int(v) for v in row)
    return {"inserted": inserted, "updated": updated, "deleted": deleted, "wal": wal}


def work(url: str, name: str, latencies: list[float], counts: dict[str, int]) -> None:
    store = PostgresJobStore(url)
    me = store.register_node(name, 32, time.time())
    next_beat = time.monotonic() + 1.0
    try:
        while True:
            started = time.perf_counter()
            chunks = store.claim_chunks(me, 2, LEASE, time.time())
            latencies.append(time.perf_counter() - started)
            if not chunks:
                break
            for chunk in chunks:
                store.record_outcomes(
                    [OutcomeRecord(chunk.job_id, i, OK) for i, _ in chunk.todo()], time.time()
                )
                counts["images"] = counts.get("images", 0) + len(chunk.todo())
            if time.monotonic() >= next_beat:
                store.heartbeat(me, LEASE, time.time())
                next_beat += 1.0
        store.release_node(me)
        counts["transactions"] = counts.get("transactions", 0) + store.transactions
    finally:
        store.close()


def run(url: str, nodes: int, images: int) -> dict[str, Any]:
    setup = PostgresJobStore(url)
    empty = db_counters(url)
    submit_started = time.perf_counter()
    setup.create_job(specs(images), time.time())
    submit_s = time.perf_counter() - submit_started
    setup.close()
    before = db_counters(url)
    latencies: list[float] = []
    counts: list[dict[str, int]] = [{} for _ in range(nodes)]
    threads = [
        threading.Thread(target=work, args=(url, f"node{n}", latencies, counts[n]))
        for n in range(nodes)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    after = db_counters(url)
    done = sum(c.get("images", 0) for c in counts)
    transactions = sum(c.get("transactions", 0) for c in counts)
    rows = sum(after[k] - before[k] for k in ("inserted", "updated", "deleted"))
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "nodes": nodes,
        "images": done,
        "img_per_s": done / elapsed,
        "claim_p50_ms": quantiles[49] * 1000,
        "claim_p99_ms": quantiles[98] * 1000,
        "tx_per_1000": transactions * 1000 / done,
        "rows_per_1000": rows * 1000 / done,
        "wal_kb_per_1000": (after["wal"] - before["wal"]) / 1024 * 1000 / done,
        "submit_s": submit_s,
        "submit_wal_kb_per_1000": (before["wal"] - empty["wal"]) / 1024 * 1000 / images,
    }


def pgbench(url: str, clients: int, seconds: int) -> float:
    """TPC-B-like transactions per second of this machine's PostgreSQL (pgbench)."""
    init = ["pgbench", "-i", "-q", "-s", "10", url]
    subprocess.run(init, check=True, capture_output=True)  # noqa: S603 (our argv)
    out = subprocess.run(  # noqa: S603
        ["pgbench", "-c", str(clients), "-j", "2", "-T", str(seconds), "-n", url],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("tps ="))
    return float(line.split()[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--images", type=int, default=25_600)
    parser.add_argument("--pgbench-seconds", type=int, default=20)
    args = parser.parse_args()
    for nodes in args.nodes:
        with scratch_database(admin_url(), prefix="rp_bench") as url:
            result = run(url, nodes, args.images)
        print(
            "nodes={nodes} images={images} {img_per_s:.0f} img/s; claim p50 {claim_p50_ms:.2f} ms "
            "p99 {claim_p99_ms:.2f} ms; per 1,000 images: {tx_per_1000:.1f} transactions, "
            "{rows_per_1000:.0f} rows written, {wal_kb_per_1000:.0f} KiB WAL; submit "
            "{submit_s:.2f} s, {submit_wal_kb_per_1000:.0f} KiB WAL per 1,000".format(**result),
            flush=True,
        )
    if args.pgbench_seconds:
        with scratch_database(admin_url(), prefix="rp_pgbench") as url:
            tps = pgbench(url, 8, args.pgbench_seconds)
        print(f"pgbench (TPC-B-like, scale 10, 8 clients): {tps:.0f} tps", flush=True)


if __name__ == "__main__":
    main()
