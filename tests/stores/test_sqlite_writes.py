"""The SQLite job store's counts and error lists, written in several commits and reopened.

The contract tests (test_job_store_contract.py) hold for every store; these pin two
things the SQLite store could get wrong on its own: counting what it was given
instead of the rows it inserted, and keeping a failed job's store errors, in order,
on disk.
"""

from pathlib import Path

from retailpulse.model import ImageOutcome, JobState, Progress, StoreError
from retailpulse.stores import OutcomeRecord, SqliteJobStore
from retailpulse.submission import ImageSpec

T0 = 1_700_000_000.0
OK = ImageOutcome.measured(40, 30)
BAD = ImageOutcome.failed("https://img.example/x.jpg: HTTP 404")


def specs(*store_ids: str) -> list[ImageSpec]:
    return [ImageSpec(s, f"https://img.example/{s}/{n}.jpg") for n, s in enumerate(store_ids)]


def test_the_same_measured_outcome_in_two_commits_is_counted_once(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    job_id = store.create_job(specs("S1", "S1"), T0)

    store.record_outcomes([OutcomeRecord(job_id, 0, OK)], T0 + 1)
    store.record_outcomes([OutcomeRecord(job_id, 0, OK)], T0 + 2)

    status = store.job_status(job_id)
    store.close()
    assert status is not None
    assert status.progress == Progress(2, 1, 0)


def test_the_same_failed_outcome_in_two_commits_is_counted_once(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path / "jobs.db")
    job_id = store.create_job(specs("S1", "S1"), T0)

    store.record_outcomes([OutcomeRecord(job_id, 1, BAD)], T0 + 1)
    store.record_outcomes([OutcomeRecord(job_id, 1, BAD)], T0 + 2)

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
    # Neither sorted nor reversed, and recorded last first: only the images' order
    # gives these errors.
    failures = ["boom", "store_id S1 is not in the store master", "HTTP 404"]
    store.record_outcomes(
        [OutcomeRecord(job_id, i, ImageOutcome.failed(failures[i])) for i in (2, 1)], T0 + 1
    )
    (ended,) = store.record_outcomes(
        [OutcomeRecord(job_id, 0, ImageOutcome.failed(failures[0]))], T0 + 2
    )
    store.close()

    reopened = SqliteJobStore(path)
    after = reopened.job_status(job_id)
    reopened.close()

    errors = (
        StoreError("S9", "boom"),
        StoreError("S1", "store_id S1 is not in the store master"),
        StoreError("S5", "HTTP 404"),
    )
    assert ended.state is JobState.FAILED
    assert ended.errors == errors
    assert after is not None
    assert after.errors == errors
    assert after.to_dict()["error"] == [
        {"store_id": "S9", "error": "boom"},
        {"store_id": "S1", "error": "store_id S1 is not in the store master"},
        {"store_id": "S5", "error": "HTTP 404"},
    ]
