"""The client's text renderings: summary, table, failure report."""

from typing import Any

from retailpulse.cli.report import failure_report, results_table, summary_line


def image(n: int, perimeter: int | None = None, error: str | None = None) -> dict[str, Any]:
    size = None if perimeter is None else perimeter // 4
    return {
        "store_id": f"S{n}",
        "image_url": f"https://x/{n}.jpg",
        "width": size,
        "height": size,
        "perimeter": perimeter,
        "error": error,
    }


def test_summary_gives_status_duration_and_counts() -> None:
    status = {
        "job_id": 4,
        "status": "failed",
        "progress": {"total": 5, "done": 5, "failed": 2},
        "submitted_at": "2026-11-29T16:39:10.500+00:00",
        "finished_at": "2026-11-29T16:39:11.750+00:00",
    }

    assert summary_line(status) == "job 4 failed in 1.25 s: 5 images, 3 measured, 2 failed"


def test_summary_of_an_unfinished_job_has_no_duration() -> None:
    status = {"job_id": 1, "status": "ongoing", "progress": {"total": 3, "done": 1, "failed": 0}}

    assert summary_line(status) == "job 1 ongoing: 3 images, 1 measured, 0 failed"


def test_table_aligns_columns_and_marks_failed_and_pending_images() -> None:
    lines = results_table([image(1, 400), image(22, error="404"), image(3)])

    assert lines == [
        "store_id  size     perimeter  image_url",
        "S1        100x100        400  https://x/1.jpg",
        "S22       -           failed  https://x/22.jpg",
        "S3        -          pending  https://x/3.jpg",
    ]


def test_table_beyond_its_limit_says_how_many_rows_are_left_out() -> None:
    lines = results_table([image(n, 40) for n in range(5)], limit=2)

    assert len(lines) == 4
    assert lines[-1] == "... and 3 more images"


def test_failure_report_lists_each_failed_store_in_order() -> None:
    status = {"error": [{"store_id": "S9", "error": "unknown"}, {"store_id": "S1", "error": "404"}]}

    assert failure_report(status) == ["S9: unknown", "S1: 404"]
    assert failure_report({"status": "completed"}) == []
