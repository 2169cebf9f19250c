"""ImageWorker: downloads and measures one image at a time, for the simulated GPU."""

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    ImageDone,
    ImageDownloaded,
    ImageMeasured,
    ImageProcessed,
    ProcessImage,
    WorkerIdle,
)
from retailpulse.actors.refs import tell_quietly
from retailpulse.imaging import ImageError, measure
from retailpulse.model import ImageOutcome
from retailpulse.ports import Fetcher, FetchError, RandomSource

__all__ = ["ImageWorker"]


class ImageWorker(pykka.ThreadingActor):
    """Downloads and measures one image at a time and draws its simulated GPU time.

    The worker holds no queue: it receives one ``ProcessImage`` and, as soon as the
    image is measured, hands it to the dispatcher for the GPU (``ImageMeasured``),
    which also says it is idle again (pull-based dispatch). It never waits for the
    GPU time, so a few workers keep many GPU slots busy. Expected failures
    (download, decoding) skip the GPU: the job hears of them at once. An unexpected
    exception kills the actor, and ``on_failure`` still reports the image so the job
    never waits for it, while the dispatcher replaces the dead worker.
    """

    use_daemon_thread = True

    def __init__(
        self,
        dispatcher: AnyRef,
        fetcher: Fetcher,
        rng: RandomSource,
        gpu_time_range: tuple[float, float] = (0.1, 0.4),
        *,
        events: AnyRef | None = None,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        super().__init__()
        self._dispatcher = dispatcher
        self._fetcher = fetcher
        self._rng = rng
        self._gpu_time_range = gpu_time_range
        self._current: ProcessImage | None = None
        self._events = events  # the metrics actor, told of each image; None tells nobody
        self._timer = timer

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, ProcessImage):
            return super().on_receive(message)
        self._current = message
        started = self._timer()
        outcome, download = self._measure(message.url, started)
        gpu_seconds = self._rng.uniform(*self._gpu_time_range) if outcome.error is None else 0.0
        reports: tuple[tuple[AnyRef, object], ...] = ()
        if self._events is not None:
            seconds = self._timer() - started + gpu_seconds
            event = ImageProcessed(message.job.actor_urn, outcome.error is None, seconds, download)
            reports = ((self._events, event),)
        self._current = None
        if outcome.error is None:
            # The metrics event leaves the GPU with the image, before its ImageDone: the
            # simulated GPU batches such deliveries, where a tell from here would wake
            # the metrics actor once per image.
            measured = ImageMeasured(
                self.actor_ref, message.job, message.index, outcome, gpu_seconds, reports
            )
            tell_quietly(self._dispatcher, measured)
        else:
            for ref, report in reports:  # before ImageDone: metrics see it before the job ends
                tell_quietly(ref, report)
            tell_quietly(message.job, ImageDone(message.index, outcome))
            tell_quietly(self._dispatcher, WorkerIdle(self.actor_ref))
        return None

    def _measure(self, url: str, started: float) -> tuple[ImageOutcome, ImageDownloaded]:
        """The image's outcome, and its download's figures for the metrics (one event
        per image carries both: each message to an idle actor costs a thread wake-up)."""
        try:
            body = self._fetcher.fetch(url)
        except FetchError as exc:
            return ImageOutcome.failed(str(exc)), ImageDownloaded(self._timer() - started, None)
        download = ImageDownloaded(self._timer() - started, len(body))
        try:
            width, height = measure(body)
        except ImageError as exc:
            return ImageOutcome.failed(f"{url}: {exc}"), download
        return ImageOutcome.measured(width, height), download

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        current, self._current = self._current, None
        if current is None:
            # Between images: the dispatcher holds this dead ref as idle already, finds
            # it dead when it hands it the next image, and replaces it.
            return
        reason = f"{current.url}: internal error while processing ({exception_value!r})"
        if self._events is not None:
            tell_quietly(self._events, ImageProcessed(current.job.actor_urn, False, 0.0))
        tell_quietly(current.job, ImageDone(current.index, ImageOutcome.failed(reason)))
        # The dispatcher sees that this ref is dead and starts a replacement.
        tell_quietly(self._dispatcher, WorkerIdle(self.actor_ref))
