"""Counts in messages: "1 store", "4,944 stores", and the resume line of a restart."""

import logging
from pathlib import Path

import pytest

import retailpulse
from retailpulse.stores import SqliteJobStore
from retailpulse.submission import ImageSpec
from retailpulse.testing import FakeFetcher, HeldGpu
from retailpulse.words import plural


@pytest.mark.parametrize(
    ("count", "text"), [(0, "0 stores"), (1, "1 store"), (2, "2 stores"), (4944, "4,944 stores")]
)
def test_a_count_of_one_takes_the_singular(count: int, text: str) -> None:
    assert plural(count, "store") == text


def test_an_irregular_plural_can_be_given() -> None:
    assert plural(3, "entry", "entries") == "3 entries"
    assert plural(1, "entry", "entries") == "1 entry"


def test_resuming_one_unfinished_job_says_job_not_jobs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "jobs.db"
    store = SqliteJobStore(data)
    store.create_job([ImageSpec("S00339218", "https://img.example.test/a.png")], 1.0)
    store.close()

    with (
        caplog.at_level(logging.INFO, logger="retailpulse.startup"),
        retailpulse.start(data=data, fetcher_factory=FakeFetcher, gpu=HeldGpu()),
    ):
        pass

    said = [r.getMessage() for r in caplog.records if r.name == "retailpulse.startup"]
    assert [line for line in said if line.startswith("resuming")] == [
        f"resuming 1 unfinished job from {data}"
    ]
