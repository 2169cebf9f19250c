"""Measure the job store: raw write throughput, throughput through the actor, job creation,
status cost and memory of a large job. Prints one line per figure.

    .venv/bin/python benchmarks/job_store.py [--dir /tmp]
"""

import argparse
import functools
import json
import statistics
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import retailpulse
from retailpulse.actors import JobStoreActor
from retailpulse.actors.messages import CreateJob, ReadStatus, RecordOutcomes
from retailpulse.model import ImageOutcome, JobState
from retailpulse.ports import FetchError
from retailpulse.stores import JobEnding, OutcomeRecord, SqliteJobStore
from retailpulse.submission import ImageSpec, parse_body
from retailpulse.testing import InstantGpu

OK = ImageOutcome.measured(800, 600)


def specs(count: int) -> list[ImageSpec]:
    return [
        ImageSpec("S00339218", f"https://images.example.com/store/S00339218/{n:07d}.jpg")
        for n in range(count)
    ]


class CountingSqlite(SqliteJobStore):
    def __init__(self, path: Path, synchronous: str) -> None:
        super().__init__(path, synchronous=synchronous)
        self.transactions = 0

    def write(self, outcomes: Any, endings: Any) -> None:
        super().write(outcomes, endings)
        self.transactions += 1


def raw_writes(directory: Path, synchronous: str, batch: int, total: int = 100_000) -> None:
    store = SqliteJobStore(directory / f"raw-{synchronous}-{batch}.db", synchronous=synchronous)
    job_id = store.create_job(specs(total), 0.0)
    started = time.perf_counter()
    for first in range(0, total, batch):
        store.write([OutcomeRecord(job_id, i, OK) for i in range(first, first + batch)], [])
    elapsed = time.perf_counter() - started
    store.close()
    print(
        f"raw write, synchronous={synchronous}, {batch} outcomes per transaction: "
        f"{total / elapsed:,.0f} results/s ({total // batch:,} transactions in {elapsed:.2f} s)"
    )


def through_actor(directory: Path, synchronous: str, total: int = 100_000) -> None:
    """One outcome per message, as job actors send them, as fast as one thread can tell."""
    holder: list[CountingSqlite] = []

    def open_store() -> CountingSqlite:
        holder.append(CountingSqlite(directory / f"actor-{synchronous}.db", synchronous))
        return holder[0]

    actor = JobStoreActor.start(open_store, clock=time.time, retention=86400.0)
    job = actor.ask(CreateJob(tuple(specs(total))), block=True, timeout=60)
    started = time.perf_counter()
    for index in range(total):
        actor.tell(RecordOutcomes(job.job_id, ((index, OK),)))
    status = actor.ask(ReadStatus(job.job_id), block=True, timeout=120)
    elapsed = time.perf_counter() - started
    assert status.progress.done == total
    transactions = holder[0].transactions
    actor.stop()
    print(
        f"through the actor, synchronous={synchronous}, one outcome per message: "
        f"{total / elapsed:,.0f} results/s ({transactions:,} transactions in {elapsed:.2f} s)"
    )


def timed(what: str, runs: int, action: Callable[[], object]) -> None:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    print(f"{what}: median {statistics.median(times) * 1000:.1f} ms over {runs} runs")


def creation_and_status(directory: Path) -> None:
    store = SqliteJobStore(directory / "create.db")
    for size in (10_000, 100_000):
        images = specs(size)
        timed(
            f"create_job of {size:,} images (one transaction)",
            5,
            functools.partial(store.create_job, images, 0.0),
        )
    big = store.create_job(specs(100_000), 0.0)
    store.write(
        [OutcomeRecord(big, i, OK) for i in range(50_000)],
        [JobEnding(big, JobState.CANCELLED, 1.0)],
    )
    timed(
        "status of a 100,000-image job (counts kept on the job row)",
        50,
        lambda: store.job_status(big),
    )
    timed("results of a 100,000-image job", 5, lambda: store.job_results(big))
    store.close()


def memory_of_a_large_job(directory: Path, size: int = 100_000) -> None:
    """Bytes still held per image after an HTTP-like submit: body parsed, job stored and
    running (no image finishes: downloads are held until the end)."""
    urls = [s.url for s in specs(size)]
    body = json.dumps(
        {"count": 1, "visits": [{"store_id": "S00339218", "image_url": urls, "visit_time": "t"}]}
    ).encode()
    del urls
    released = threading.Event()

    class Held:
        def fetch(self, url: str) -> bytes:
            released.wait(30)
            raise FetchError(f"{url}: released")

    with retailpulse.start(
        data=directory / "memory.db", gpu_slots=1, fetcher_factory=Held, gpu=InstantGpu()
    ) as system:
        tracemalloc.start()
        job_id = system.submit(parse_body(body))
        del body
        system.status(job_id)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        released.set()
        print(
            f"memory held after submitting a {size:,}-image job: {current / size:,.0f} bytes "
            f"per image (peak while parsing and storing: {peak / size:,.0f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default=None, help="where the database files go (a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        for synchronous in ("FULL", "NORMAL"):
            for batch in (1, 100, 5_000):
                raw_writes(directory, synchronous, batch, total=5_000 if batch == 1 else 100_000)
            through_actor(directory, synchronous)
        creation_and_status(directory)
        memory_of_a_large_job(directory)


if __name__ == "__main__":
    main()
