"""The immutable job values: store error summaries and the status and results documents."""

import pytest

from retailpulse.model import (
    ImageOutcome,
    JobResults,
    JobState,
    JobStatus,
    Progress,
    StoreError,
    summarize_failures,
)
from retailpulse.submission import ImageSpec

OK = ImageOutcome.measured(10, 20)


def fail(reason: str) -> ImageOutcome:
    return ImageOutcome.failed(reason)


def specs(*store_ids: str) -> tuple[ImageSpec, ...]:
    return tuple(
        ImageSpec(store_id, f"https://img.example/{n}.jpg") for n, store_id in enumerate(store_ids)
    )


def status(state: JobState, errors: tuple[StoreError, ...] = ()) -> JobStatus:
    return JobStatus(5, state, Progress(2, 1, 0), 100.0, finished_at=None, errors=errors)


def test_measured_image_has_the_perimeter_of_the_spec() -> None:
    assert ImageOutcome.measured(640, 480).perimeter == 2 * (640 + 480)


@pytest.mark.parametrize("outcome", [ImageOutcome(), fail("gone")], ids=["unfinished", "failed"])
def test_image_without_a_size_has_no_perimeter(outcome: ImageOutcome) -> None:
    assert outcome.perimeter is None


def test_no_failed_image_means_no_store_errors() -> None:
    assert summarize_failures(specs("S1", "S2"), [OK, None]) == ()


def test_store_errors_are_in_order_of_first_appearance_one_per_store() -> None:
    images = specs("S3", "S1", "S3", "S2", "S1", "S2")
    outcomes = [OK, fail("a"), fail("b"), OK, fail("c"), fail("d")]

    errors = summarize_failures(images, outcomes)

    assert [error.store_id for error in errors] == ["S3", "S1", "S2"]


def test_store_that_appears_before_others_is_listed_first_even_if_it_fails_last() -> None:
    images = specs("S9", "S1", "S9")

    errors = summarize_failures(images, [OK, fail("x"), fail("y")])

    assert [error.store_id for error in errors] == ["S9", "S1"]


def test_reason_of_a_store_with_one_failed_image_is_that_image_error() -> None:
    images = specs("S1")

    assert summarize_failures(images, [fail("https://img.example/0.jpg: HTTP 404")]) == (
        StoreError("S1", "https://img.example/0.jpg: HTTP 404"),
    )


def test_reason_of_a_store_whose_images_all_failed_alike_says_so_once() -> None:
    images = specs("S1", "S1", "S1")

    [error] = summarize_failures(images, [fail("not in the store master")] * 3)

    assert error.error == "all 3 images failed: not in the store master"


def test_reason_counts_failed_images_and_quotes_distinct_errors_in_order() -> None:
    images = specs("S1", "S1", "S1", "S1")

    [error] = summarize_failures(images, [fail("b"), OK, fail("a"), fail("b")])

    assert error.error == "3 of 4 images failed: b; a"


def test_reason_quotes_at_most_three_errors_and_counts_the_rest() -> None:
    images = specs(*["S1"] * 6)

    [error] = summarize_failures(images, [fail(r) for r in "abcdea"])

    assert error.error == "6 of 6 images failed: a; b; c; and 2 more"


def test_unfinished_images_do_not_fail_a_store() -> None:
    images = specs("S1", "S2", "S2")

    errors = summarize_failures(images, [None, fail("x"), None])

    assert errors == (StoreError("S2", "1 of 2 images failed: x"),)


def test_summary_refuses_outcomes_that_do_not_match_the_images() -> None:
    with pytest.raises(ValueError, match="zip"):
        summarize_failures(specs("S1", "S2"), [OK])


@pytest.mark.parametrize("state", [JobState.ONGOING, JobState.COMPLETED])
def test_status_document_has_no_error_unless_the_job_failed(state: JobState) -> None:
    body = status(state, errors=(StoreError("S1", "ignored"),)).to_dict()

    assert "error" not in body
    assert body["status"] == state.value
    assert body["job_id"] == 5


def test_failed_status_document_lists_store_errors_in_order() -> None:
    errors = (StoreError("S2", "HTTP 404"), StoreError("S1", "not an image"))

    body = status(JobState.FAILED, errors).to_dict()

    assert body["status"] == "failed"
    assert body["job_id"] == 5
    assert body["error"] == [
        {"store_id": "S2", "error": "HTTP 404"},
        {"store_id": "S1", "error": "not an image"},
    ]


def test_status_document_carries_progress_and_whether_the_job_is_queued() -> None:
    body = JobStatus(
        9, JobState.ONGOING, Progress(4, 2, 1), 100.0, finished_at=None, queued=True
    ).to_dict()

    assert body["progress"] == {"total": 4, "done": 2, "failed": 1}
    assert body["queued"] is True
    assert body["submitted_at"] is not None
    assert body["finished_at"] is None


@pytest.mark.parametrize(
    ("state", "terminal"),
    [(JobState.ONGOING, False), (JobState.COMPLETED, True), (JobState.FAILED, True)],
)
def test_only_completed_and_failed_jobs_are_terminal(state: JobState, terminal: bool) -> None:
    assert status(state).terminal is terminal


def test_results_document_lists_images_in_submission_order() -> None:
    images = specs("S2", "S1", "S2")
    outcomes = (ImageOutcome.measured(3, 4), fail("HTTP 404"), None)

    body = JobResults(status(JobState.ONGOING), images, outcomes).to_dict()

    assert body["status"] == "ongoing"
    assert body["job_id"] == 5
    assert body["images"] == [
        {
            "store_id": "S2",
            "image_url": "https://img.example/0.jpg",
            "width": 3,
            "height": 4,
            "perimeter": 14,
            "error": None,
        },
        {
            "store_id": "S1",
            "image_url": "https://img.example/1.jpg",
            "width": None,
            "height": None,
            "perimeter": None,
            "error": "HTTP 404",
        },
        {
            "store_id": "S2",
            "image_url": "https://img.example/2.jpg",
            "width": None,
            "height": None,
            "perimeter": None,
            "error": None,
        },
    ]


def test_results_document_of_a_failed_job_has_the_status_error_too() -> None:
    errors = (StoreError("S1", "HTTP 404"),)
    results = JobResults(status(JobState.FAILED, errors), specs("S1"), (fail("HTTP 404"),))

    body = results.to_dict()

    assert body["error"] == [{"store_id": "S1", "error": "HTTP 404"}]
    assert [image["error"] for image in body["images"]] == ["HTTP 404"]
