"""What only a shared PostgreSQL store must do: many nodes at once, and a database
that goes away and comes back."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
import pytest

from retailpulse.model import ImageOutcome, JobState
from retailpulse.stores import JobStoreError, OutcomeRecord
from retailpulse.stores.jobstore import JobStoreUnavailableError
from retailpulse.stores.pgschema import SCHEMA_VERSION
from retailpulse.stores.postgres import PostgresJobStore, is_postgres_url
from retailpulse.submission import ImageSpec
from retailpulse.testing.postgres import PrivatePostgres, private_server

T0 = 1_700_000_000.0
THREADS = 4
T = TypeVar("T")


def images(count: int) -> list[ImageSpec]:
    return [ImageSpec("S1", f"https://img.example/{n}.jpg") for n in range(count)]


def in_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(n)`` for n in 0..count-1 on threads released together; bounded."""
    results: list[T | None] = [None] * count
    errors: list[BaseException] = []
    gate = threading.Barrier(count)

    def run(n: int) -> None:
        try:
            gate.wait(timeout=10)
            results[n] = work(n)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads)
    return [r for r in results if r is not None]


def test_only_postgresql_urls_select_the_postgresql_store() -> None:
    assert is_postgres_url("postgresql://u@127.0.0.1:5432/db")
    assert is_postgres_url("postgres://u@h/db")
    assert not is_postgres_url("/var/lib/retailpulse/jobs.db")
    assert not is_postgres_url(None)


def test_nodes_starting_at_once_on_an_empty_database_all_open_it(pg_url: str) -> None:
    def open_store(_: int) -> int:
        store = PostgresJobStore(pg_url)
        try:
            return store.create_job(images(1), T0)
        finally:
            store.close()

    ids = in_threads(THREADS, open_store)

    with psycopg.connect(pg_url) as db:
        row = db.execute("SELECT version FROM retailpulse_schema").fetchall()
    assert row == [(SCHEMA_VERSION,)]
    assert sorted(ids) == list(range(1, THREADS + 1))


def test_concurrent_submits_on_several_nodes_get_distinct_ids(pg_url: str) -> None:
    PostgresJobStore(pg_url).close()

    def submit(_: int) -> list[int]:
        store = PostgresJobStore(pg_url)
        try:
            return [store.create_job(images(3), T0) for _ in range(10)]
        finally:
            store.close()

    ids = [job_id for batch in in_threads(THREADS, submit) for job_id in batch]

    assert len(set(ids)) == len(ids) == THREADS * 10


def test_concurrent_claimers_never_get_the_same_chunk(pg_url: str) -> None:
    setup = PostgresJobStore(pg_url)
    for _ in range(3):
        setup.create_job(images(64 * 20), T0)
    setup.close()

    def claim_all(n: int) -> list[tuple[int, int]]:
        store = PostgresJobStore(pg_url)
        me = store.register_node(f"n{n}", 4, T0)
        taken: list[tuple[int, int]] = []
        try:
            while chunks := store.claim_chunks(me, 2, 60.0, T0):
                taken.extend((c.job_id, c.number) for c in chunks)
            return taken
        finally:
            store.close()

    taken = [chunk for node in in_threads(THREADS, claim_all) for chunk in node]

    assert len(taken) == len(set(taken)) == 60


def test_concurrent_claimers_never_get_the_same_webhook_delivery(pg_url: str) -> None:
    setup = PostgresJobStore(pg_url)
    for _ in range(40):
        job_id = setup.create_job(images(1), T0, callback_url="https://hooks.example/x")
        setup.record_outcomes([OutcomeRecord(job_id, 0, ImageOutcome.measured(1, 1))], T0)
    setup.close()

    def claim_all(_: int) -> list[str]:
        store = PostgresJobStore(pg_url)
        taken: list[str] = []
        try:
            # Bounded: 40 deliveries, one at a time, if claims did not hold.
            for _ in range(41):
                claimed = store.claim_deliveries(T0 + 1, 1, 60.0)
                if not claimed:
                    break
                taken.extend(d.webhook_id for d in claimed)
            return taken
        finally:
            store.close()

    taken = [webhook_id for node in in_threads(THREADS, claim_all) for webhook_id in node]

    assert len(taken) == len(set(taken)) == 40


def test_concurrent_last_outcomes_decide_the_status_exactly_once(pg_url: str) -> None:
    setup = PostgresJobStore(pg_url)
    job_id = setup.create_job(images(THREADS * 50), T0)
    setup.close()

    def record(n: int) -> int:
        store = PostgresJobStore(pg_url)
        try:
            decided = 0
            for i in range(n, THREADS * 50, THREADS):
                outcome = OutcomeRecord(job_id, i, ImageOutcome.measured(1, 1))
                decided += len(store.record_outcomes([outcome], T0))
            return decided
        finally:
            store.close()

    decided = in_threads(THREADS, record)

    assert sum(decided) == 1
    check = PostgresJobStore(pg_url)
    status = check.job_status(job_id)
    check.close()
    assert status is not None
    assert status.state is JobState.COMPLETED


def test_a_database_that_is_not_there_is_refused_naming_it() -> None:
    with pytest.raises(JobStoreError, match=r"127\.0\.0\.1:1/nothing"):
        PostgresJobStore("postgresql://postgres@127.0.0.1:1/nothing", connect_timeout=1)


@pytest.fixture
def private_db() -> Iterator[PrivatePostgres]:
    with private_server() as server:
        yield server


def test_a_database_restart_is_unavailable_for_a_while_then_everything_is_there(
    private_db: PrivatePostgres,
) -> None:
    store = PostgresJobStore(private_db.url)
    try:
        job_id = store.create_job(images(2), T0)
        private_db.restart()

        with pytest.raises(JobStoreUnavailableError):
            store.job_status(job_id)
        deadline = time.monotonic() + 30
        status = None
        while status is None and time.monotonic() < deadline:
            try:
                status = store.job_status(job_id)
            except JobStoreUnavailableError:
                time.sleep(0.05)
    finally:
        store.close()

    assert status is not None
    assert status.progress.total == 2
