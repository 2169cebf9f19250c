"""MetricsActor alone: the test tells it events and reads the page it renders."""

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from retailpulse.actors import PoolStats
from retailpulse.actors.messages import (
    Batch,
    ChunkEnded,
    ChunkStarted,
    ImageDownloaded,
    ImageProcessed,
    JobAccepted,
    JobEnded,
)
from retailpulse.actors.metrics import (
    GetServiceFigures,
    MetricsActor,
    RenderMetrics,
    ServiceFigures,
)
from retailpulse.testing import ManualClock, metric_value

from .conftest import WAIT

Ref = pykka.ActorRef[Any]


@pytest.fixture
def metrics() -> Iterator[Ref]:
    ref = MetricsActor.start()
    yield ref
    ref.stop(timeout=WAIT)


def page(metrics: Ref, pool: PoolStats | None = None, queued: int = 0) -> bytes:
    text: bytes = metrics.ask(RenderMetrics(pool, queued), block=True, timeout=WAIT)
    return text


def jobs(text: bytes, status: str) -> float:
    return metric_value(text, "retailpulse_jobs", status=status)


def test_a_fresh_service_shows_every_series_at_zero(metrics: Ref) -> None:
    text = page(metrics)

    for status in ("queued", "running", "completed", "failed"):
        assert jobs(text, status) == 0
    assert metric_value(text, "retailpulse_images_processed_total", outcome="measured") == 0
    assert metric_value(text, "retailpulse_images_processed_total", outcome="failed") == 0
    assert metric_value(text, "retailpulse_jobs_submitted_total") == 0


def test_jobs_are_counted_queued_by_the_store_running_by_chunk_and_ended_once(
    metrics: Ref,
) -> None:
    metrics.tell(JobAccepted(1, images=3))
    metrics.tell(JobAccepted(2, images=1))
    queued = page(metrics, queued=2)
    metrics.tell(ChunkStarted(1, "urn:1", images=3, to_download=2))
    metrics.tell(ChunkStarted(1, "urn:2", images=1, to_download=1))  # two chunks, one job
    running = page(metrics, queued=1)
    metrics.tell(ChunkEnded(1, "urn:1"))
    metrics.tell(ChunkEnded(1, "urn:2"))
    metrics.tell(JobEnded(1, "failed"))
    ended = page(metrics, queued=1)

    assert (jobs(queued, "queued"), jobs(queued, "running")) == (2, 0)
    assert (jobs(running, "queued"), jobs(running, "running")) == (1, 1)
    assert (jobs(ended, "queued"), jobs(ended, "running"), jobs(ended, "failed")) == (1, 0, 1)
    assert jobs(ended, "completed") == 0
    assert metric_value(ended, "retailpulse_jobs_submitted_total") == 2


def test_images_of_unknown_stores_count_as_skipped(metrics: Ref) -> None:
    metrics.tell(ChunkStarted(1, "urn:1", images=5, to_download=2))

    assert metric_value(page(metrics), "retailpulse_images_skipped_total") == 3


def test_pending_images_fall_as_workers_report_them(metrics: Ref) -> None:
    metrics.tell(ChunkStarted(1, "urn:1", images=3, to_download=3))
    metrics.tell(ChunkStarted(2, "urn:2", images=4, to_download=4))
    metrics.tell(ImageProcessed("urn:1", ok=True, seconds=0.2))
    metrics.tell(ImageProcessed("urn:2", ok=False, seconds=0.1))
    before_end = page(metrics)
    metrics.tell(ChunkEnded(2, "urn:2"))

    assert metric_value(before_end, "retailpulse_images_pending") == 5
    assert metric_value(page(metrics), "retailpulse_images_pending") == 2


def test_processed_images_are_counted_by_outcome_and_timed(metrics: Ref) -> None:
    for ok, seconds in ((True, 0.25), (True, 0.5), (False, 0.25)):
        metrics.tell(ImageProcessed("urn:1", ok=ok, seconds=seconds))

    text = page(metrics)

    assert metric_value(text, "retailpulse_images_processed_total", outcome="measured") == 2
    assert metric_value(text, "retailpulse_images_processed_total", outcome="failed") == 1
    assert metric_value(text, "retailpulse_image_processing_seconds_count") == 3
    assert metric_value(text, "retailpulse_image_processing_seconds_sum") == 1.0
    assert metric_value(text, "retailpulse_image_processing_seconds_bucket", le="0.25") == 2


def test_events_batched_by_the_simulated_gpu_count_as_if_told_one_by_one(metrics: Ref) -> None:
    metrics.tell(ChunkStarted(7, "urn:1", images=3, to_download=3))
    events = (ImageProcessed("urn:1", ok=True, seconds=0.25),) * 2
    metrics.tell(Batch((*events, ImageProcessed("urn:1", ok=False, seconds=0.5))))

    text = page(metrics)

    assert metric_value(text, "retailpulse_images_processed_total", outcome="measured") == 2
    assert metric_value(text, "retailpulse_images_processed_total", outcome="failed") == 1
    assert metric_value(text, "retailpulse_images_pending") == 0


def test_downloads_are_timed_and_only_successful_ones_add_bytes(metrics: Ref) -> None:
    metrics.tell(ImageProcessed("urn:1", True, 0.7, ImageDownloaded(0.5, 1000)))
    metrics.tell(ImageProcessed("urn:1", False, 0.3, ImageDownloaded(0.25, 24)))
    metrics.tell(ImageDownloaded(2.0, None))

    text = page(metrics)

    assert metric_value(text, "retailpulse_download_seconds_count") == 3
    assert metric_value(text, "retailpulse_download_seconds_sum") == 2.75
    assert metric_value(text, "retailpulse_download_bytes_count") == 2
    assert metric_value(text, "retailpulse_download_bytes_sum") == 1024


def test_worker_figures_come_from_the_pool_stats_given_at_scrape_time(metrics: Ref) -> None:
    stats = PoolStats(
        workers=8, idle=3, jobs_waiting=1, replaced=0, slots=64, free_slots=4, ready=2
    )
    text = page(metrics, stats)

    assert metric_value(text, "retailpulse_workers", state="busy") == 5
    assert metric_value(text, "retailpulse_workers", state="idle") == 3
    assert metric_value(text, "retailpulse_image_slots", state="busy") == 60
    assert metric_value(text, "retailpulse_image_slots", state="free") == 4


def test_two_metrics_actors_keep_separate_figures(metrics: Ref) -> None:
    other = MetricsActor.start()
    try:
        metrics.tell(JobAccepted(1, images=1))

        assert metric_value(page(metrics), "retailpulse_jobs_submitted_total") == 1
        assert metric_value(page(other), "retailpulse_jobs_submitted_total") == 0
    finally:
        other.stop(timeout=WAIT)


def test_service_figures_report_the_pool_jobs_and_images_per_second() -> None:
    clock = ManualClock(start=1_700_000_000.0)
    ref = MetricsActor.start(clock=clock)
    try:
        ref.tell(JobAccepted(1, images=3))
        ref.tell(JobAccepted(2, images=9))
        ref.tell(ChunkStarted(1, "urn:1", images=3, to_download=3))
        for ok in (True, True, False):
            ref.tell(ImageProcessed("urn:1", ok=ok, seconds=0.2))
        ref.ask(RenderMetrics(), timeout=WAIT)  # every event above is handled
        clock.advance(5.0)
        stats = PoolStats(
            workers=6, idle=2, jobs_waiting=1, replaced=0, slots=8, free_slots=3, ready=0
        )

        answer: ServiceFigures = ref.ask(
            GetServiceFigures(stats, queued=1), block=True, timeout=WAIT
        )
        figures = answer.to_dict()
    finally:
        ref.stop(timeout=WAIT)

    assert figures["gpu_slots"] == {"busy": 5, "free": 3}
    assert figures["downloaders"] == {"busy": 4, "idle": 2}
    assert figures["jobs"] == {"queued": 1, "running": 1}
    assert figures["images_pending"] == 0
    rates = figures["throughput"]
    assert rates["step_seconds"] == 5.0
    assert len(rates["images_per_second"]) == 120  # ten minutes of 5 s steps
    assert rates["images_per_second"][-1] == 3 / 5
    assert rates["failed_per_second"][-1] == 1 / 5
    assert sum(rates["images_per_second"]) == 3 / 5
