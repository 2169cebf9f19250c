"""Measure the job store: raw ``record_outcomes`` throughput, throughput through the
``JobStoreActor`` (outcomes told as chunks tell them, until the commit that ends the job),
job creation, status cost and memory of a large job. Prints one line per figure.

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

import pykka

import retailpulse
from retailpulse.actors import JobStoreActor
from retailpulse.actors.messages import JobFinished, RecordChunkOutcomes, SubmitJob, Submitted
from retailpulse.model import ImageOutcome, JobState, JobStatus
from retailpulse.ports import FetchError
from retailpulse.stores import OutcomeRecord, SqliteJobStore
from retailpulse.submission import ImageSpec, parse_body
from retailpulse.testing import InstantGpu

OK = ImageOutcome.measured(800, 600)


def specs(count: int) -> list[ImageSpec]:
    return [
        ImageSpec("S00339218", f"https://images.example.com/store/S00339218/{n:07d}.jpg")
        for n in range(count)
    ]


class CountingSqlite(SqliteJobStore):
    """Counts ``record_outcomes`` calls: the actor's transactions for outcomes."""

    def __init__(self, path: Path, synchronous: str) -> None:
        super().__init__(path, synchronous=synchronous)
        self.transactions = 0

    def record_outcomes(self, outcomes: Any, now: float) -> list[JobStatus]:
        self.transactions += 1
        return super().record_outcomes(outcomes, now)


class Finished(pykka.ThreadingActor):
    """Stands in for the job manager: hears ``JobFinished`` and wakes the benchmark."""

    use_daemon_thread = True

    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self._done = done

    def on_receive(self, message: Any) -> None:
        if isinstance(message, JobFinished):
            self._done.set()


def raw_writes(directory: Path, synchronous: str, batch: int, total: int = 100_000) -> None:
    """``record_outcomes`` called directly, ``batch`` outcomes per call (one transaction
    each); the last call also decides the job's end."""
    store = SqliteJobStore(directory / f"raw-{synchronous}-{batch}.db", synchronous=synchronous)
    job_id = store.create_job(specs(total), 0.0)
    started = time.perf_counter()
    for first in range(0, total, batch):
        records = [OutcomeRecord(job_id, i, OK) for i in range(first, first + batch)]
        store.record_outcomes(records, 1.0)
    elapsed = time.perf_counter() - started
    status = store.job_status(job_id)
    store.close()
    assert status is not None
    assert status.state is JobState.COMPLETED
    print(
        f"raw record_outcomes, synchronous={synchronous}, {batch} outcomes per transaction: "
        f"{total / elapsed:,.0f} results/s ({total // batch:,} transactions in {elapsed:.2f} s)"
    )


def through_actor(
    directory: Path, synchronous: str, per_message: int, total: int = 100_000
) -> None:
    """``RecordChunkOutcomes`` of ``per_message`` outcomes each (a chunk tells one per
    burst: 1 when images finish one by one, up to 64 when they finish together), as
    fast as one thread can tell, until the commit that ends the job is announced."""
    holder: list[CountingSqlite] = []

    def open_store() -> CountingSqlite:
        path = directory / f"actor-{synchronous}-{per_message}.db"
        holder.append(CountingSqlite(path, synchronous))
        return holder[0]

    done = threading.Event()
    notify = Finished.start(done)
    actor = JobStoreActor.start(open_store, clock=time.time, retention=86400.0)
    submitted: Submitted = actor.ask(SubmitJob(tuple(specs(total))), block=True, timeout=60)
    job_id = submitted.creation.job_id
    started = time.perf_counter()
    for first in range(0, total, per_message):
        outcomes = tuple((i, OK) for i in range(first, min(first + per_message, total)))
        actor.tell(RecordChunkOutcomes(job_id, outcomes, notify))
    finished = done.wait(120)
    elapsed = time.perf_counter() - started
    transactions = holder[0].transactions
    actor.stop()
    notify.stop()
    assert finished, "the job's end was never announced"
    print(
        f"through the actor, synchronous={synchronous}, {per_message} outcomes per message: "
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
    store.record_outcomes([OutcomeRecord(big, i, OK) for i in range(50_000)], 1.0)
    store.cancel_job(big, 1.0)
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
            for per_message in (1, 64):
                through_actor(directory, synchronous, per_message)
        creation_and_status(directory)
        memory_of_a_large_job(directory)


if __name__ == "__main__":
    main()
