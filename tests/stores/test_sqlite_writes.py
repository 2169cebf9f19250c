"""The SQLite job store's counts and error lists, written in several commits and reopened.

The contract tests (test_job_store_contract.py) hold for both stores; these pin two
things only the SQLite store can get wrong: counting what it was given instead of
the rows it inserted, and the order of a failed job's store errors on disk.
"""

from pathlib import Path

from retailpulse.model import ImageOutcome, JobState, Progress, StoreError
from retailpulse.stores import JobEnding, OutcomeRecord, SqliteJobStore
from retailpulse.submission import ImageSpec

T0 = 1_700_000_000.0
OK = ImageOutcome.measured(40, 30)
BAD = ImageOutcome.failed("https://img.example/x.jpg: HTTP 404")


def specs(*store_ids: str) -> list[ImageSpec]:
    return [ImageSpec(s, f"https://img.example/{s}/{n}.jpg") for n, s in enumerate(store_ids)]


def test_the_same_measured_outcome_in_two_writes_is_counted_once(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    job_id = store.create_job(specs("S1", "S1"), T0)

    store.write([OutcomeRecord(job_id, 0, OK)], [])
    store.write([OutcomeRecord(job_id, 0, OK)], [])

    status = store.job_status(job_id)
    store.close()
    assert status is not None
    assert status.progress == Progress(2, 1, 0)


def test_the_same_failed_outcome_in_two_writes_is_counted_once(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    job_id = store.create_job(specs("S1", "S1"), T0)

    store.write([OutcomeRecord(job_id, 1, BAD)], [])
    store.write([OutcomeRecord(job_id, 1, BAD)], [])

    status = store.job_status(job_id)
    store.close()
    assert status is not None
    assert status.progress == Progress(2, 1, 1)


def test_a_failed_jobs_store_errors_keep_their_order_also_after_reopening(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jobs.db"
    store = SqliteJobStore(path)
    job_id = store.create_job(specs("S9", "S1", "S5"), T0)
    # Neither sorted nor reversed: only the order given survives both.
    errors = (
        StoreError("S9", "1 of 1 images failed: boom"),
        StoreError("S1", "store_id S1 is not in the store master"),
        StoreError("S5", "1 of 1 images failed: HTTP 404"),
    )
    store.write(
        [OutcomeRecord(job_id, i, BAD) for i in range(3)],
        [JobEnding(job_id, JobState.FAILED, T0 + 1, errors)],
    )
    before = store.job_status(job_id)
    store.close()

    reopened = SqliteJobStore(path)
    after = reopened.job_status(job_id)
    reopened.close()

    assert before is not None
    assert after is not None
    assert before.errors == errors
    assert after.errors == errors
    assert after.to_dict()["error"] == [
        {"store_id": "S9", "error": "1 of 1 images failed: boom"},
        {"store_id": "S1", "error": "store_id S1 is not in the store master"},
        {"store_id": "S5", "error": "1 of 1 images failed: HTTP 404"},
    ]
