"""ImageWorker alone: a fake fetcher, a seeded random source, probes for the job and dispatcher."""

from collections.abc import Callable, Mapping
from typing import Any

import pykka
import pytest

from retailpulse.actors import ImageWorker
from retailpulse.actors.messages import (
    ImageDone,
    ImageDownloaded,
    ImageMeasured,
    ImageProcessed,
    ProcessImage,
    WorkerIdle,
)
from retailpulse.model import ImageOutcome
from retailpulse.ports import FetchError
from retailpulse.testing import (
    FakeFetcher,
    SeededRandom,
    SteppingTimer,
    image_bytes,
)

from .conftest import WAIT, Probe, wait_until_stopped

SHELF = "https://img.example/shelf.png"
AISLE = "https://img.example/aisle.jpg"
PNG_10X20 = image_bytes(10, 20)

StartWorker = Callable[..., pykka.ActorRef[Any]]


@pytest.fixture
def job(probe: Callable[[str], Probe]) -> Probe:
    return probe("job")


@pytest.fixture
def dispatcher(probe: Callable[[str], Probe]) -> Probe:
    return probe("dispatcher")


@pytest.fixture
def start_worker(dispatcher: Probe) -> StartWorker:
    """Start a worker serving ``answers``; the random source can be seeded."""

    def start(
        answers: Mapping[str, Any] | FakeFetcher,
        *,
        seed: int = 1234,
        gpu_time_range: tuple[float, float] = (0.1, 0.4),
    ) -> pykka.ActorRef[Any]:
        fetcher = answers if isinstance(answers, FakeFetcher) else FakeFetcher(answers)
        return ImageWorker.start(dispatcher.ref, fetcher, SeededRandom(seed), gpu_time_range)

    return start


def test_worker_measures_the_image_and_hands_it_to_the_dispatcher_for_the_gpu(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: (640, 480)})

    worker.tell(ProcessImage(job.ref, 3, SHELF))

    [measured] = dispatcher.wait_for(ImageMeasured)
    assert (measured.worker, measured.job, measured.index) == (worker, job.ref, 3)
    assert measured.outcome == ImageOutcome.measured(640, 480)
    assert measured.outcome.perimeter == 2 * (640 + 480)
    assert job.messages() == []  # the job hears of it when the GPU is done


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_worker_reads_the_size_of_every_common_format(
    start_worker: StartWorker, job: Probe, dispatcher: Probe, fmt: str
) -> None:
    worker = start_worker({SHELF: image_bytes(37, 91, fmt)})

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [measured] = dispatcher.wait_for(ImageMeasured)
    assert measured.outcome == ImageOutcome.measured(37, 91)


def test_worker_processes_its_images_in_the_order_it_received_them(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    fetcher = FakeFetcher({SHELF: (10, 20), AISLE: (30, 40)})
    worker = start_worker(fetcher)

    for index, url in enumerate([AISLE, SHELF, AISLE]):
        worker.tell(ProcessImage(job.ref, index, url))

    measured = dispatcher.wait_for(ImageMeasured, count=3)
    assert [m.index for m in measured] == [0, 1, 2]
    assert [m.outcome.width for m in measured] == [30, 10, 30]
    assert fetcher.calls == [AISLE, SHELF, AISLE]


def test_worker_names_the_job_of_each_image(
    start_worker: StartWorker, dispatcher: Probe, probe: Callable[[str], Probe]
) -> None:
    first, second = probe("job 1"), probe("job 2")
    worker = start_worker({SHELF: (10, 20), AISLE: (30, 40)})

    worker.tell(ProcessImage(first.ref, 5, SHELF))
    worker.tell(ProcessImage(second.ref, 7, AISLE))

    measured = dispatcher.wait_for(ImageMeasured, count=2)
    assert [(m.job, m.index) for m in measured] == [(first.ref, 5), (second.ref, 7)]


def test_worker_draws_each_gpu_time_at_random_in_the_configured_range(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: (10, 20), AISLE: (30, 40)}, seed=7, gpu_time_range=(0.2, 0.3))

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))

    seconds = [m.gpu_seconds for m in dispatcher.wait_for(ImageMeasured, count=2)]
    twin = SeededRandom(7)
    assert seconds == [twin.uniform(0.2, 0.3), twin.uniform(0.2, 0.3)]
    assert all(0.2 <= s <= 0.3 for s in seconds)
    assert seconds[0] != seconds[1]


def test_download_failure_goes_to_the_job_at_once_and_skips_the_gpu(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: FetchError(f"{SHELF}: could not connect (refused)")})

    worker.tell(ProcessImage(job.ref, 2, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done == ImageDone(2, ImageOutcome.failed(f"{SHELF}: could not connect (refused)"))
    assert done.outcome.perimeter is None
    assert dispatcher.wait_for(WorkerIdle) == [WorkerIdle(worker)]
    assert dispatcher.messages(ImageMeasured) == []
    assert worker.is_alive()


def test_unknown_url_fails_like_a_missing_page(start_worker: StartWorker, job: Probe) -> None:
    worker = start_worker({})

    worker.tell(ProcessImage(job.ref, 0, AISLE))

    [done] = job.wait_for(ImageDone)
    assert done.outcome.error is not None
    assert done.outcome.error.startswith(AISLE)
    assert "404" in done.outcome.error


@pytest.mark.parametrize(
    "body",
    [b"", b"this is not an image", image_bytes(20, 20, "PNG")[:20]],
    ids=["empty", "text", "truncated"],
)
def test_bytes_that_are_not_an_image_fail_with_the_url_and_skip_the_gpu(
    start_worker: StartWorker, job: Probe, dispatcher: Probe, body: bytes
) -> None:
    worker = start_worker({SHELF: body})

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done.outcome.width is None
    assert done.outcome.error is not None
    assert done.outcome.error.startswith(f"{SHELF}: not an image")
    assert dispatcher.messages(ImageMeasured) == []
    assert worker.is_alive()


def test_worker_keeps_working_after_a_failed_image(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: b"junk", AISLE: (30, 40)})

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))

    [failed] = job.wait_for(ImageDone)
    assert (failed.index, failed.outcome.width) == (0, None)
    [measured] = dispatcher.wait_for(ImageMeasured)
    assert (measured.index, measured.outcome) == (1, ImageOutcome.measured(30, 40))


def test_crashed_worker_reports_its_image_as_failed(start_worker: StartWorker, job: Probe) -> None:
    worker = start_worker({SHELF: RuntimeError("bug in the fetcher")})

    worker.tell(ProcessImage(job.ref, 4, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done.index == 4
    assert done.outcome.width is None
    assert done.outcome.error is not None
    assert done.outcome.error.startswith(f"{SHELF}: internal error")
    assert "bug in the fetcher" in done.outcome.error
    wait_until_stopped(worker)


def test_crashed_worker_tells_the_dispatcher_it_is_idle_with_its_dead_ref(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: RuntimeError("boom")})

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [idle] = dispatcher.wait_for(WorkerIdle)
    assert idle.worker is worker
    assert not idle.worker.is_alive()
    assert len(job.messages(ImageDone)) == 1


def test_worker_survives_a_job_that_has_already_stopped(
    start_worker: StartWorker, job: Probe, dispatcher: Probe, probe: Callable[[str], Probe]
) -> None:
    worker = start_worker({SHELF: b"junk", AISLE: (30, 40)})
    job.kill()

    worker.tell(ProcessImage(job.ref, 0, SHELF))  # its failure is told to the stopped job
    dispatcher.wait_for(WorkerIdle)
    assert worker.is_alive()

    other = probe("next job")
    worker.tell(ProcessImage(other.ref, 0, AISLE))
    [measured] = dispatcher.wait_for(ImageMeasured)
    assert measured.job is other.ref


def test_worker_ignores_messages_it_does_not_know(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: (10, 20)})

    assert worker.ask("what is this?", timeout=WAIT) is None

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    assert dispatcher.wait_for(ImageMeasured)[0].outcome == ImageOutcome.measured(10, 20)


def test_worker_reports_each_image_to_the_events_ref_with_its_outcome_and_time(
    dispatcher: Probe, job: Probe, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    fetcher = FakeFetcher({SHELF: PNG_10X20})
    worker = ImageWorker.start(
        dispatcher.ref, fetcher, SeededRandom(), events=events.ref, timer=SteppingTimer(0.25)
    )

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))

    # The stepping timer makes the download 0.25 s and the whole image 0.5 s; a measured
    # image's time also includes its simulated GPU time, a failed one skips the GPU.
    # A failed image is reported at once; a measured one travels with the image to the
    # GPU, to be delivered (batched) just before its ImageDone.
    gpu_seconds = SeededRandom().uniform(0.1, 0.4)
    assert events.wait_for(ImageProcessed) == [
        ImageProcessed(job.ref.actor_urn, False, 0.5, ImageDownloaded(0.25, None))
    ]
    [measured] = dispatcher.wait_for(ImageMeasured)
    assert measured.reports == (
        (
            events.ref,
            ImageProcessed(
                job.ref.actor_urn, True, 0.5 + gpu_seconds, ImageDownloaded(0.25, len(PNG_10X20))
            ),
        ),
    )


def test_crashed_worker_still_tells_the_events_ref_its_image_failed(
    dispatcher: Probe, job: Probe, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    fetcher = FakeFetcher({SHELF: RuntimeError("bug")})
    worker = ImageWorker.start(dispatcher.ref, fetcher, SeededRandom(), events=events.ref)

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [reported] = events.wait_for(ImageProcessed)
    assert (reported.job, reported.ok, reported.download) == (job.ref.actor_urn, False, None)
