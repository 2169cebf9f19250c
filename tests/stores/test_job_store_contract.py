"""One contract for every JobStore: the memory and SQLite stores must behave alike."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from retailpulse.model import ImageOutcome, JobOrder, JobState, Progress, StoreError
from retailpulse.stores import (
    JobEnding,
    JobStore,
    JobStoreError,
    MemoryJobStore,
    OutcomeRecord,
    SqliteJobStore,
)
from retailpulse.submission import ImageSpec

T0 = 1_700_000_000.0
OK = ImageOutcome.measured(40, 30)
BAD = ImageOutcome.failed("https://img.example/x.jpg: HTTP 404")


def images(count: int, store_id: str = "S1") -> list[ImageSpec]:
    return [ImageSpec(store_id, f"https://img.example/{store_id}/{n}.jpg") for n in range(count)]


class Stores:
    """Opens the store under test; ``reopen()`` closes it and opens it again (a restart)."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self.current: JobStore = self._open()

    def _open(self) -> JobStore:
        return MemoryJobStore() if self.kind == "memory" else SqliteJobStore(self.path)

    def reopen(self) -> JobStore:
        if self.kind == "memory":
            return self.current  # a memory store lives as long as its object
        self.current.close()
        self.current = self._open()
        return self.current


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    opened = Stores(request.param, tmp_path / "jobs.db")
    yield opened
    opened.current.close()


@pytest.fixture
def store(stores: Stores) -> JobStore:
    return stores.current


def record(job_id: int, index: int, outcome: ImageOutcome = OK) -> OutcomeRecord:
    return OutcomeRecord(job_id, index, outcome)


def test_job_ids_start_at_one_and_grow(store: JobStore) -> None:
    ids = [store.create_job(images(1), T0) for _ in range(3)]

    assert ids == [1, 2, 3]


def test_a_new_job_is_ongoing_with_every_image_in_order_and_no_outcome(store: JobStore) -> None:
    specs = images(2, "S1") + images(1, "S2")

    job_id = store.create_job(specs, T0)

    results = store.job_results(job_id)
    assert results is not None
    assert results.images == tuple(specs)
    assert results.outcomes == (None, None, None)
    assert results.status.state is JobState.ONGOING
    assert results.status.progress == Progress(3, 0, 0)
    assert results.status.submitted_at == T0
    assert results.status.finished_at is None


def test_outcomes_are_kept_by_index_and_counted(store: JobStore) -> None:
    job_id = store.create_job(images(4), T0)

    store.write([record(job_id, 2, OK), record(job_id, 0, BAD)], [])

    results = store.job_results(job_id)
    assert results is not None
    assert results.outcomes == (BAD, None, OK, None)
    assert results.status.progress == Progress(4, 2, 1)
    assert store.job_status(job_id) == results.status


def test_an_image_keeps_its_first_outcome_and_is_counted_once(store: JobStore) -> None:
    job_id = store.create_job(images(2), T0)

    store.write([record(job_id, 0, OK), record(job_id, 0, BAD)], [])
    store.write([record(job_id, 0, BAD)], [])

    results = store.job_results(job_id)
    assert results is not None
    assert results.outcomes == (OK, None)
    assert results.status.progress == Progress(2, 1, 0)


def test_outcomes_for_unknown_jobs_and_images_are_ignored(store: JobStore) -> None:
    job_id = store.create_job(images(1), T0)

    store.write([record(99, 0), record(job_id, 1), record(job_id, -1)], [])

    assert store.job_status(99) is None
    status = store.job_status(job_id)
    assert status is not None
    assert status.progress == Progress(1, 0, 0)


def test_one_write_covers_several_jobs(store: JobStore) -> None:
    first, second = store.create_job(images(2), T0), store.create_job(images(1), T0)

    store.write([record(first, 1), record(second, 0, BAD), record(first, 0)], [])

    assert [store.job_status(j).progress for j in (first, second)] == [  # type: ignore[union-attr]
        Progress(2, 2, 0),
        Progress(1, 1, 1),
    ]


def test_an_ending_makes_the_job_terminal_with_its_errors(store: JobStore) -> None:
    job_id = store.create_job(images(1, "S1") + images(1, "S2"), T0)
    errors = (StoreError("S2", "1 of 1 images failed: boom"),)

    store.write(
        [record(job_id, 0, OK), record(job_id, 1, BAD)],
        [JobEnding(job_id, JobState.FAILED, T0 + 5, errors)],
    )

    status = store.job_status(job_id)
    assert status is not None
    assert status.state is JobState.FAILED
    assert status.finished_at == T0 + 5
    assert status.errors == errors
    assert status.progress == Progress(2, 2, 1)


def test_a_job_keeps_its_first_ending_and_takes_no_outcome_after_it(store: JobStore) -> None:
    job_id = store.create_job(images(2), T0)
    store.write([record(job_id, 0)], [JobEnding(job_id, JobState.CANCELLED, T0 + 1)])

    store.write([record(job_id, 1)], [JobEnding(job_id, JobState.COMPLETED, T0 + 2)])

    results = store.job_results(job_id)
    assert results is not None
    assert results.status.state is JobState.CANCELLED
    assert results.status.finished_at == T0 + 1
    assert results.status.errors == ()
    assert results.outcomes == (OK, None)
    assert results.status.progress == Progress(2, 1, 0)


def test_unfinished_jobs_are_claimed_oldest_first_with_the_outcomes_they_have(
    store: JobStore,
) -> None:
    done, partial, fresh = (store.create_job(images(2), T0 + n) for n in range(3))
    store.write(
        [record(done, 0), record(done, 1), record(partial, 1, BAD)],
        [JobEnding(done, JobState.COMPLETED, T0 + 9)],
    )

    claimed = store.claim_unfinished(0, 10)

    assert claimed == [
        JobOrder(partial, tuple(images(2)), T0 + 1, ((1, BAD),)),
        JobOrder(fresh, tuple(images(2)), T0 + 2, ()),
    ]


def test_unfinished_jobs_are_claimed_page_by_page(store: JobStore) -> None:
    ids = [store.create_job(images(1), T0) for _ in range(5)]

    first = store.claim_unfinished(0, 2)
    second = store.claim_unfinished(first[-1].job_id, 2)
    third = store.claim_unfinished(second[-1].job_id, 2)

    assert [[o.job_id for o in page] for page in (first, second, third)] == [
        ids[0:2],
        ids[2:4],
        ids[4:5],
    ]
    assert store.claim_unfinished(ids[-1], 2) == []


def test_jobs_are_listed_newest_first_below_the_cursor(store: JobStore) -> None:
    ids = [store.create_job(images(n + 1), T0) for n in range(5)]

    assert [s.job_id for s in store.list_jobs(3, None)] == [ids[4], ids[3], ids[2]]
    assert [s.job_id for s in store.list_jobs(3, ids[2])] == [ids[1], ids[0]]
    assert store.list_jobs(3, ids[0]) == []
    assert [s.progress.total for s in store.list_jobs(1, ids[1])] == [1]


def test_purge_deletes_only_jobs_that_ended_before_the_cutoff(store: JobStore) -> None:
    old, recent, running = (store.create_job(images(2), T0) for _ in range(3))
    store.write(
        [record(old, 0), record(recent, 1)],
        [
            JobEnding(old, JobState.COMPLETED, T0 + 10),
            JobEnding(recent, JobState.FAILED, T0 + 20),
        ],
    )

    purged = store.purge(T0 + 15, 100)

    assert purged == 1
    assert store.job_status(old) is None
    assert store.job_results(old) is None
    assert store.job_status(recent) is not None
    assert store.job_status(running) is not None
    assert [s.job_id for s in store.list_jobs(10, None)] == [running, recent]


def test_purge_takes_at_most_the_limit_oldest_first(store: JobStore) -> None:
    ids = [store.create_job(images(1), T0) for _ in range(3)]
    store.write([], [JobEnding(j, JobState.COMPLETED, T0 + 10 - j) for j in ids])

    assert store.purge(T0 + 100, 2) == 2
    assert [s.job_id for s in store.list_jobs(10, None)] == [ids[0]]
    assert store.purge(T0 + 100, 2) == 1


def test_ids_are_not_reused_after_the_newest_job_is_purged(stores: Stores) -> None:
    store = stores.current
    last = store.create_job(images(1), T0)
    store.write([], [JobEnding(last, JobState.COMPLETED, T0)])
    store.purge(T0 + 1, 10)

    store = stores.reopen()

    assert store.create_job(images(1), T0) == last + 1


def test_everything_survives_reopening(stores: Stores) -> None:
    store = stores.current
    ended = store.create_job(images(2), T0)
    running = store.create_job(images(3), T0 + 1)
    store.write(
        [record(ended, 0), record(ended, 1, BAD), record(running, 2)],
        [JobEnding(ended, JobState.FAILED, T0 + 2, (StoreError("S1", "1 of 2 failed"),))],
    )
    before = [store.job_results(j) for j in (ended, running)]

    store = stores.reopen()

    assert [store.job_results(j) for j in (ended, running)] == before
    assert [o.job_id for o in store.claim_unfinished(0, 10)] == [running]
    assert store.create_job(images(1), T0) == running + 1


def test_a_large_job_is_stored_and_read_back_whole(store: JobStore) -> None:
    specs = images(10_000)
    job_id = store.create_job(specs, T0)

    store.write([record(job_id, i, OK if i % 3 else BAD) for i in range(0, 10_000, 2)], [])

    results = store.job_results(job_id)
    assert results is not None
    assert results.images == tuple(specs)
    assert results.status.progress == Progress(10_000, 5_000, 1_667)
    assert results.outcomes[9_998] == OK
    assert results.outcomes[9_999] is None


def test_a_second_process_cannot_open_a_store_in_use(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    first = SqliteJobStore(path)
    try:
        with pytest.raises(JobStoreError, match="another process is using"):
            SqliteJobStore(path)
    finally:
        first.close()
    SqliteJobStore(path).close()  # released on close


def test_a_file_that_is_not_a_job_store_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the jobs you are looking for\n" * 100)

    with pytest.raises(JobStoreError, match=r"notes\.txt: cannot open the job store"):
        SqliteJobStore(path)


def test_a_missing_directory_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(JobStoreError, match="nowhere"):
        SqliteJobStore(tmp_path / "nowhere" / "jobs.db")


def test_the_sqlite_file_uses_wal_and_one_row_per_outcome(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteJobStore(path)
    job_id = store.create_job(images(3), T0)
    store.write([record(job_id, 1), record(job_id, 1, BAD)], [])
    store.close()

    with sqlite3.connect(path) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        rows = db.execute("SELECT job_id, idx, error FROM outcomes").fetchall()
        counts = db.execute("SELECT done, failed FROM jobs").fetchall()
    assert mode == "wal"
    assert rows == [(job_id, 1, None)]
    assert counts == [(1, 0)]
