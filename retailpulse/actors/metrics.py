"""MetricsActor: turns events told by the other actors into Prometheus metrics.

The metrics live in a ``CollectorRegistry`` of their own, owned by this actor and
touched only on its thread: counters are fed by messages, not by locks around
shared state, and several services in one process (tests, embedding programs) do
not mix their figures as they would in prometheus-client's global registry.
"""

from dataclasses import dataclass
from typing import Any

import pykka
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from retailpulse.actors.messages import (
    Batch,
    ChunkEnded,
    ChunkStarted,
    GetServiceFigures,
    ImageDownloaded,
    ImageProcessed,
    JobAccepted,
    JobEnded,
    PoolStats,
    RenderMetrics,
)
from retailpulse.actors.throughput import RateSeries, ThroughputHistory
from retailpulse.ports import Clock, default_clock

__all__ = ["CONTENT_TYPE", "GetServiceFigures", "MetricsActor", "RenderMetrics", "ServiceFigures"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic Prometheus text format, which every scraper reads."""

KIB = 1024
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
PROCESSING_BUCKETS = (0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1.0, 2.5, 5.0, 60.0)
"""Fine steps across 0.1-0.4 s, where the simulated GPU time falls."""
BYTES_BUCKETS = tuple(float(KIB * n) for n in (1, 10, 100, 1024, 5 * 1024, 10 * 1024, 20 * 1024))


@dataclass(frozen=True, slots=True)
class ServiceFigures:
    """What the dashboard's service panel shows: the pipeline now, and its recent pace."""

    pool: PoolStats
    jobs_queued: int
    jobs_running: int
    images_pending: int
    throughput: RateSeries

    def to_dict(self) -> dict[str, Any]:
        """The body of ``GET /api/service``."""
        pool, rate = self.pool, self.throughput
        return {
            "gpu_slots": {"busy": pool.slots - pool.free_slots, "free": pool.free_slots},
            "downloaders": {"busy": pool.workers - pool.idle, "idle": pool.idle},
            "jobs": {"queued": self.jobs_queued, "running": self.jobs_running},
            "images_pending": self.images_pending,
            "throughput": {
                "step_seconds": rate.step,
                "end": rate.end,
                "images_per_second": list(rate.images_per_second),
                "failed_per_second": list(rate.failed_per_second),
            },
        }


class MetricsActor(pykka.ThreadingActor):
    """Owns the service's metrics; receives events, renders them when asked."""

    use_daemon_thread = True

    def __init__(self, clock: Clock = default_clock) -> None:
        super().__init__()
        self._clock = clock
        self._throughput = ThroughputHistory()  # 5 s steps over the last 10 minutes
        self._registry = CollectorRegistry(auto_describe=True)
        r = self._registry
        self._submitted = Counter(
            "retailpulse_jobs_submitted", "Jobs accepted since the service started.", registry=r
        )
        self._jobs = Gauge(
            "retailpulse_jobs",
            "Jobs by status: queued (no node has started them: the whole store's count), "
            "running (with a chunk on this node), and completed, failed, cancelled (ended "
            "by this node since it started).",
            ["status"],
            registry=r,
        )
        self._images = Counter(
            "retailpulse_images_processed",
            "Images a worker handled, by outcome (measured or failed).",
            ["outcome"],
            registry=r,
        )
        self._skipped = Counter(
            "retailpulse_images_skipped",
            "Images not downloaded because their store is not in the store master.",
            registry=r,
        )
        self._pending = Gauge(
            "retailpulse_images_pending",
            "Images of running jobs without an outcome yet: waiting for a worker or in work.",
            registry=r,
        )
        self._slots = Gauge(
            "retailpulse_image_slots",
            "Simulated GPU slots (--workers) by state: busy (an image sleeps its GPU time) "
            "or free.",
            ["state"],
            registry=r,
        )
        self._download_seconds = Histogram(
            "retailpulse_download_seconds",
            "Time of each download attempt, successful or not.",
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self._download_bytes = Histogram(
            "retailpulse_download_bytes",
            "Size of each downloaded image body.",
            buckets=BYTES_BUCKETS,
            registry=r,
        )
        self._processing_seconds = Histogram(
            "retailpulse_image_processing_seconds",
            "A worker's whole time on one image: download, measurement, simulated GPU work.",
            buckets=PROCESSING_BUCKETS,
            registry=r,
        )
        self._workers = Gauge(
            "retailpulse_workers",
            "Download workers (threads) by state (busy or idle).",
            ["state"],
            registry=r,
        )
        self._queued = 0
        """Read from the store at each scrape (``RenderMetrics.queued``)."""
        self._running: dict[str, tuple[int, int]] = {}
        """Chunk actor URN -> (its job, images of it still to be handled here)."""
        self._ended = {"completed": 0, "failed": 0, "cancelled": 0}
        for outcome in ("measured", "failed"):
            self._images.labels(outcome)  # present at 0 before the first image
        self._update_jobs()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Batch):  # image events, delivered by the simulated GPU
            for each in message.messages:
                self.on_receive(each)
            return None
        # Image events come one or more per image: they touch only their own series.
        if isinstance(message, ImageDownloaded):
            self._downloaded(message)
        elif isinstance(message, ImageProcessed):
            self._image_processed(message)
        elif isinstance(message, JobAccepted):
            self._submitted.inc()
        elif isinstance(message, ChunkStarted):
            self._running[message.chunk] = (message.job_id, message.to_download)
            self._skipped.inc(message.images - message.to_download)
        elif isinstance(message, ChunkEnded):
            self._running.pop(message.chunk, None)
        elif isinstance(message, JobEnded):
            self._ended[message.state] = self._ended.get(message.state, 0) + 1
        elif isinstance(message, RenderMetrics):
            self._queued = message.queued
            self._update_jobs()
            return self._render(message.pool)
        elif isinstance(message, GetServiceFigures):
            self._queued = message.queued
            return self._figures(message.pool)
        else:
            return super().on_receive(message)
        if not isinstance(message, ImageDownloaded | ImageProcessed):
            self._update_jobs()
        return None

    def _downloaded(self, event: ImageDownloaded) -> None:
        self._download_seconds.observe(event.seconds)
        if event.size is not None:
            self._download_bytes.observe(event.size)

    def _image_processed(self, event: ImageProcessed) -> None:
        if event.download is not None:
            self._downloaded(event.download)
        self._images.labels("measured" if event.ok else "failed").inc()
        self._processing_seconds.observe(event.seconds)
        self._throughput.record(self._clock(), ok=event.ok)
        # This event arrives before the image's outcome reaches its job, so the job's JobEnded
        # always comes after its last image and the count never goes stale.
        if event.job in self._running:
            job_id, pending = self._running[event.job]
            self._running[event.job] = (job_id, pending - 1)
            self._pending.dec()

    def _update_jobs(self) -> None:
        self._jobs.labels("queued").set(self._queued)
        self._jobs.labels("running").set(self._jobs_running())
        for state, count in self._ended.items():
            self._jobs.labels(state).set(count)
        self._pending.set(self._images_pending())

    def _jobs_running(self) -> int:
        return len({job_id for job_id, _ in self._running.values()})

    def _images_pending(self) -> int:
        return sum(pending for _, pending in self._running.values())

    def _render(self, pool: PoolStats | None) -> bytes:
        if pool is not None:
            self._workers.labels("busy").set(pool.workers - pool.idle)
            self._workers.labels("idle").set(pool.idle)
            self._slots.labels("busy").set(pool.slots - pool.free_slots)
            self._slots.labels("free").set(pool.free_slots)
        return generate_latest(self._registry)

    def _figures(self, pool: PoolStats) -> ServiceFigures:
        return ServiceFigures(
            pool=pool,
            jobs_queued=self._queued,
            jobs_running=self._jobs_running(),
            images_pending=self._images_pending(),
            throughput=self._throughput.series(self._clock()),
        )
