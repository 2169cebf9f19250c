"""ImageWorker alone: a fake fetcher, a fake GPU (sleeper), probes for the job and dispatcher."""

from collections.abc import Callable, Mapping
from typing import Any

import pykka
import pytest

from retailpulse.actors import ImageWorker
from retailpulse.actors.events import ImageProcessed
from retailpulse.actors.messages import ImageDone, ProcessImage, SlotFreed, WorkerIdle
from retailpulse.fetching import FetchError
from retailpulse.model import ImageOutcome
from retailpulse.ports import Delivery, Sleeper
from retailpulse.testing import (
    FakeFetcher,
    InstantSleeper,
    SeededRandom,
    SteppingTimer,
    image_bytes,
)

from .conftest import WAIT, Probe, wait_until_stopped

SHELF = "https://img.example/shelf.png"
AISLE = "https://img.example/aisle.jpg"

StartWorker = Callable[..., pykka.ActorRef[Any]]


@pytest.fixture
def job(probe: Callable[[str], Probe]) -> Probe:
    return probe("job")


@pytest.fixture
def dispatcher(probe: Callable[[str], Probe]) -> Probe:
    return probe("dispatcher")


@pytest.fixture
def sleeper() -> InstantSleeper:
    return InstantSleeper()


@pytest.fixture
def start_worker(dispatcher: Probe, sleeper: InstantSleeper) -> StartWorker:
    """Start a worker serving ``answers``; the sleeper and random source can be replaced."""

    def start(
        answers: Mapping[str, Any] | FakeFetcher,
        *,
        sleep: Sleeper | None = None,
        seed: int = 1234,
        sleep_range: tuple[float, float] = (0.1, 0.4),
    ) -> pykka.ActorRef[Any]:
        fetcher = answers if isinstance(answers, FakeFetcher) else FakeFetcher(answers)
        return ImageWorker.start(
            dispatcher.ref, fetcher, sleep or sleeper, SeededRandom(seed), sleep_range
        )

    return start


def test_worker_measures_the_image_and_reports_its_size_to_the_job(
    start_worker: StartWorker, job: Probe
) -> None:
    worker = start_worker({SHELF: (640, 480)})

    worker.tell(ProcessImage(job.ref, 3, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done == ImageDone(3, ImageOutcome.measured(640, 480))
    assert done.outcome.perimeter == 2 * (640 + 480)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_worker_reads_the_size_of_every_common_format(
    start_worker: StartWorker, job: Probe, fmt: str
) -> None:
    worker = start_worker({SHELF: image_bytes(37, 91, fmt)})

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [done] = job.wait_for(ImageDone)
    assert (done.outcome.width, done.outcome.height, done.outcome.error) == (37, 91, None)


def test_worker_tells_the_dispatcher_it_is_idle_after_each_image(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: (10, 20), AISLE: (30, 40)})

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))

    idles = dispatcher.wait_for(WorkerIdle, count=2)
    assert len(idles) == 2
    assert all(idle.worker is worker for idle in idles)
    assert worker.is_alive()


def test_worker_processes_its_images_in_the_order_it_received_them(
    start_worker: StartWorker, job: Probe
) -> None:
    fetcher = FakeFetcher({SHELF: (10, 20), AISLE: (30, 40)})
    worker = start_worker(fetcher)

    for index, url in enumerate([AISLE, SHELF, AISLE]):
        worker.tell(ProcessImage(job.ref, index, url))

    done = job.wait_for(ImageDone, count=3)
    assert [d.index for d in done] == [0, 1, 2]
    assert [d.outcome.width for d in done] == [30, 10, 30]
    assert fetcher.calls == [AISLE, SHELF, AISLE]


def test_worker_replies_to_the_job_named_in_each_message(
    start_worker: StartWorker, probe: Callable[[str], Probe]
) -> None:
    first, second = probe("job 1"), probe("job 2")
    worker = start_worker({SHELF: (10, 20), AISLE: (30, 40)})

    worker.tell(ProcessImage(first.ref, 5, SHELF))
    worker.tell(ProcessImage(second.ref, 7, AISLE))

    assert second.wait_for(ImageDone) == [ImageDone(7, ImageOutcome.measured(30, 40))]
    assert first.messages() == [ImageDone(5, ImageOutcome.measured(10, 20))]


def test_worker_sleeps_a_random_time_in_the_configured_range_after_measuring(
    start_worker: StartWorker, job: Probe, sleeper: InstantSleeper
) -> None:
    worker = start_worker({SHELF: (10, 20), AISLE: (30, 40)}, seed=7, sleep_range=(0.2, 0.3))

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))
    job.wait_for(ImageDone, count=2)

    twin = SeededRandom(7)
    assert sleeper.sleeps == [twin.uniform(0.2, 0.3), twin.uniform(0.2, 0.3)]
    assert all(0.2 <= seconds <= 0.3 for seconds in sleeper.sleeps)
    assert sleeper.sleeps[0] != sleeper.sleeps[1]


class HeldSleeper:
    """A simulated GPU that keeps what it is given until the test releases it."""

    def __init__(self) -> None:
        self.held: list[tuple[float, tuple[Delivery, ...]]] = []

    def after(self, seconds: float, *deliveries: Delivery) -> None:
        self.held.append((seconds, deliveries))

    def release(self) -> None:
        for _, deliveries in self.held:
            for ref, message in deliveries:
                ref.tell(message)


def test_worker_is_free_for_the_next_download_while_its_image_is_on_the_gpu(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    gpu = HeldSleeper()
    worker = start_worker({SHELF: (10, 20)}, sleep=gpu)

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    assert dispatcher.wait_for(WorkerIdle) == [WorkerIdle(worker, frees_slot=False)]
    assert job.messages() == []
    assert dispatcher.messages(SlotFreed) == []
    assert [deliveries for _, deliveries in gpu.held] == [
        (
            (job.ref, ImageDone(0, ImageOutcome.measured(10, 20))),
            (dispatcher.ref, SlotFreed()),
        )
    ]


def test_image_is_reported_and_its_slot_freed_only_when_the_gpu_is_done(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    gpu = HeldSleeper()
    worker = start_worker({SHELF: (10, 20)}, sleep=gpu)
    worker.tell(ProcessImage(job.ref, 0, SHELF))
    dispatcher.wait_for(WorkerIdle)

    gpu.release()

    assert job.wait_for(ImageDone) == [ImageDone(0, ImageOutcome.measured(10, 20))]
    assert dispatcher.wait_for(SlotFreed) == [SlotFreed()]


def test_download_failure_is_reported_without_sleeping(
    start_worker: StartWorker, job: Probe, dispatcher: Probe, sleeper: InstantSleeper
) -> None:
    worker = start_worker({SHELF: FetchError(f"{SHELF}: could not connect (refused)")})

    worker.tell(ProcessImage(job.ref, 2, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done == ImageDone(2, ImageOutcome.failed(f"{SHELF}: could not connect (refused)"))
    assert done.outcome.perimeter is None
    assert sleeper.sleeps == []
    assert dispatcher.wait_for(WorkerIdle) == [WorkerIdle(worker, frees_slot=True)]
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
def test_bytes_that_are_not_an_image_fail_with_the_url_and_without_sleeping(
    start_worker: StartWorker, job: Probe, sleeper: InstantSleeper, body: bytes
) -> None:
    worker = start_worker({SHELF: body})

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done.outcome.width is None
    assert done.outcome.error is not None
    assert done.outcome.error.startswith(f"{SHELF}: not an image")
    assert sleeper.sleeps == []
    assert worker.is_alive()


def test_worker_keeps_working_after_a_failed_image(start_worker: StartWorker, job: Probe) -> None:
    worker = start_worker({SHELF: b"junk", AISLE: (30, 40)})

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))

    done = job.wait_for(ImageDone, count=2)
    assert done[0].outcome.error is not None
    assert done[1] == ImageDone(1, ImageOutcome.measured(30, 40))


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


def test_crash_while_sleeping_also_reports_the_image_as_failed(
    start_worker: StartWorker, job: Probe
) -> None:
    class BrokenGpu:
        def after(self, seconds: float, *deliveries: Delivery) -> None:
            raise ValueError("sleeper broke")

    worker = start_worker({SHELF: (10, 20)}, sleep=BrokenGpu())

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [done] = job.wait_for(ImageDone)
    assert done.outcome.error is not None
    assert "sleeper broke" in done.outcome.error
    wait_until_stopped(worker)


def test_crashed_worker_tells_the_dispatcher_it_is_idle_with_its_dead_ref(
    start_worker: StartWorker, job: Probe, dispatcher: Probe
) -> None:
    worker = start_worker({SHELF: RuntimeError("boom")})

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [idle] = dispatcher.wait_for(WorkerIdle)
    assert idle.worker is worker
    assert idle.frees_slot
    assert not idle.worker.is_alive()
    assert len(job.messages(ImageDone)) == 1


def test_worker_survives_a_job_that_has_already_stopped(
    start_worker: StartWorker, job: Probe, dispatcher: Probe, probe: Callable[[str], Probe]
) -> None:
    worker = start_worker({SHELF: (10, 20), AISLE: (30, 40)})
    job.kill()

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    dispatcher.wait_for(WorkerIdle)
    assert worker.is_alive()

    other = probe("next job")
    worker.tell(ProcessImage(other.ref, 0, AISLE))
    assert other.wait_for(ImageDone) == [ImageDone(0, ImageOutcome.measured(30, 40))]


def test_worker_ignores_messages_it_does_not_know(start_worker: StartWorker, job: Probe) -> None:
    worker = start_worker({SHELF: (10, 20)})

    assert worker.ask("what is this?", timeout=WAIT) is None

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    assert job.wait_for(ImageDone) == [ImageDone(0, ImageOutcome.measured(10, 20))]


def test_worker_tells_the_events_ref_of_each_image_with_its_outcome_and_time(
    dispatcher: Probe, job: Probe, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    fetcher = FakeFetcher({SHELF: (10, 20)})
    worker = ImageWorker.start(
        dispatcher.ref,
        fetcher,
        InstantSleeper(),
        SeededRandom(),
        events=events.ref,
        timer=SteppingTimer(0.25),
    )

    worker.tell(ProcessImage(job.ref, 0, SHELF))
    worker.tell(ProcessImage(job.ref, 1, AISLE))

    reported = events.wait_for(ImageProcessed, count=2)
    # A measured image's time includes its simulated GPU time; a failed one skips the GPU.
    gpu_seconds = SeededRandom().uniform(0.1, 0.4)
    assert reported == [
        ImageProcessed(job.ref.actor_urn, ok=True, seconds=0.25 + gpu_seconds),
        ImageProcessed(job.ref.actor_urn, ok=False, seconds=0.25),
    ]


def test_crashed_worker_still_tells_the_events_ref_its_image_failed(
    dispatcher: Probe, job: Probe, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    fetcher = FakeFetcher({SHELF: RuntimeError("bug")})
    worker = ImageWorker.start(
        dispatcher.ref, fetcher, InstantSleeper(), SeededRandom(), events=events.ref
    )

    worker.tell(ProcessImage(job.ref, 0, SHELF))

    [reported] = events.wait_for(ImageProcessed)
    assert (reported.job, reported.ok) == (job.ref.actor_urn, False)
