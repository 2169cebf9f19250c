"""Dispatcher alone: its workers and jobs are recording probes; what it hands out is read
off the workers' ProcessImage messages."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import Dispatcher, GetPoolStats, PoolStats
from retailpulse.actors.messages import (
    GpuStarting,
    ImageDone,
    ImageMeasured,
    OfferDrained,
    OfferImages,
    OfferWithdrawn,
    ProcessImage,
    WithdrawOffer,
    WorkerIdle,
)
from retailpulse.model import ImageOutcome
from retailpulse.submission import ImageSpec
from retailpulse.testing import HeldGpu, InstantGpu, ManualClock, wait_until

from .conftest import WAIT, Probe

Ref = pykka.ActorRef[Any]

SHELF = ImageOutcome.measured(640, 480)


def images(count: int, name: str = "job") -> tuple[ImageSpec, ...]:
    return tuple(ImageSpec("S1", f"http://cdn.example/{name}/{i}.jpg") for i in range(count))


def offer(job: Probe, count: int, todo: tuple[int, ...] | None = None) -> OfferImages:
    """The offer of a job of ``count`` images (all of them still to do, unless ``todo``)."""
    todo = tuple(range(count)) if todo is None else todo
    return OfferImages(job.ref, images(count, job.name), todo)


class WorkerPool:
    """A worker factory that starts probes (w1, w2...) and remembers what it was given."""

    def __init__(self, probe: Callable[[str], Probe]) -> None:
        self._probe = probe
        self.workers: list[Probe] = []
        self.dispatchers: list[Ref] = []

    def __call__(self, dispatcher: Ref) -> Ref:
        self.dispatchers.append(dispatcher)
        worker = self._probe(f"w{len(self.workers) + 1}")
        self.workers.append(worker)
        return worker.ref

    def refs(self) -> list[Ref]:
        return [worker.ref for worker in self.workers]

    def handed(self) -> list[tuple[str, str, int]]:
        """Every image handed out so far: (worker, job, index), worker by worker."""
        return [
            (worker.name, message.job.actor_urn, message.index)
            for worker in self.workers
            if worker.ref.is_alive()
            for message in worker.messages(ProcessImage)
        ]


@pytest.fixture
def pool(probe: Callable[[str], Probe]) -> WorkerPool:
    return WorkerPool(probe)


@pytest.fixture
def start_dispatcher(pool: WorkerPool) -> Callable[..., Ref]:
    def start(size: int, **options: Any) -> Ref:
        options.setdefault("gpu", InstantGpu())
        dispatcher = Dispatcher.start(size, pool, stop_timeout=WAIT, **options)
        stats(dispatcher)  # on_start has run: the pool is complete
        return dispatcher

    return start


def stats(dispatcher: Ref) -> PoolStats:
    """The dispatcher's figures, once it has handled every message told to it before."""
    answer: PoolStats = dispatcher.ask(GetPoolStats(), block=True, timeout=WAIT)
    return answer


def handed_to(pool: WorkerPool, job: Probe) -> list[int]:
    """The indices of ``job`` handed to workers so far (worker by worker)."""
    return [index for _, urn, index in pool.handed() if urn == job.ref.actor_urn]


def test_dispatcher_starts_its_pool_through_the_worker_factory(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool
) -> None:
    dispatcher = start_dispatcher(3)

    assert stats(dispatcher) == PoolStats(
        workers=3, idle=3, jobs_waiting=0, replaced=0, slots=3, free_slots=3, ready=0
    )
    assert len(pool.workers) == 3
    assert all(given is dispatcher for given in pool.dispatchers)


def test_an_offer_goes_straight_to_idle_workers_and_the_job_hears_only_that_it_is_drained(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(3)
    job = probe("job")

    dispatcher.tell(offer(job, 3, todo=(0, 2)))  # image 1 had its outcome already

    assert stats(dispatcher) == PoolStats(
        workers=3, idle=1, jobs_waiting=0, replaced=0, slots=3, free_slots=3, ready=0
    )
    w1, w2, w3 = pool.workers
    assert w1.messages() == [ProcessImage(job.ref, 0, "http://cdn.example/job/0.jpg")]
    assert w2.messages() == [ProcessImage(job.ref, 2, "http://cdn.example/job/2.jpg")]
    assert w3.messages() == []
    assert job.wait_for(OfferDrained) == [OfferDrained()]
    assert job.messages() == [OfferDrained()]  # once, and nothing else


def test_an_offer_is_drained_only_once_its_last_image_is_handed_out(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    job = probe("job")

    dispatcher.tell(offer(job, 2))
    stats(dispatcher)  # the offer is handled: one image out, one waiting for the worker
    not_yet = job.messages(OfferDrained)  # includes whatever the dispatcher told before

    dispatcher.tell(WorkerIdle(pool.refs()[0]))

    assert not_yet == []
    assert job.wait_for(OfferDrained) == [OfferDrained()]


def test_an_offer_waits_in_the_ring_until_a_worker_is_idle(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    first, second = probe("first"), probe("second")
    dispatcher.tell(offer(first, 1))
    dispatcher.tell(offer(second, 1))
    assert stats(dispatcher).jobs_waiting == 1
    assert handed_to(pool, second) == []

    dispatcher.tell(WorkerIdle(pool.refs()[0]))

    assert stats(dispatcher) == PoolStats(
        workers=1, idle=0, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )
    assert handed_to(pool, second) == [0]


def test_a_job_offers_once_and_a_second_offer_is_ignored(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    busy, job = probe("busy"), probe("job")
    dispatcher.tell(offer(busy, 1))
    dispatcher.tell(offer(job, 2))
    dispatcher.tell(offer(job, 2))
    assert stats(dispatcher).jobs_waiting == 1

    [worker] = pool.refs()
    for _ in range(3):  # the busy job's image, then the job's two
        dispatcher.tell(WorkerIdle(worker))

    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )
    assert handed_to(pool, job) == [0, 1]


def test_an_offer_with_nothing_to_do_is_ignored(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(2)
    job = probe("job")

    dispatcher.tell(offer(job, 3, todo=()))

    assert stats(dispatcher) == PoolStats(
        workers=2, idle=2, jobs_waiting=0, replaced=0, slots=2, free_slots=2, ready=0
    )
    assert pool.handed() == []


def test_small_job_gets_workers_before_big_job_drains(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(2)
    big, small = probe("big"), probe("small")
    dispatcher.tell(offer(big, 5000))
    dispatcher.tell(offer(small, 1))
    stats(dispatcher)
    assert handed_to(pool, small) == []

    w1, w2 = pool.refs()
    dispatcher.tell(WorkerIdle(w1))
    dispatcher.tell(WorkerIdle(w2))

    stats(dispatcher)
    big_urn, small_urn = big.ref.actor_urn, small.ref.actor_urn
    # Both started on the big job (alone then); of the two freed, the second goes to the
    # small job, whose turn it is, not to the big one's 4,998 others.
    assert pool.handed() == [
        ("w1", big_urn, 0),
        ("w1", big_urn, 2),
        ("w2", big_urn, 1),
        ("w2", small_urn, 0),
    ]
    assert stats(dispatcher).jobs_waiting == 1


def test_freed_workers_go_round_robin_over_the_jobs_with_images_to_do(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    jobs = {name: probe(name) for name in "ABC"}
    for job in jobs.values():
        dispatcher.tell(offer(job, 3))
    [worker] = pool.workers
    stats(dispatcher)

    for _ in range(9):
        dispatcher.tell(WorkerIdle(worker.ref))
    stats(dispatcher)

    names = {job.ref.actor_urn: name for name, job in jobs.items()}
    order = [(names[m.job.actor_urn], m.index) for m in worker.messages(ProcessImage)]
    # A took the idle worker at once, alone in the ring; then it turns A, B, C.
    assert order == [
        ("A", 0), ("A", 1), ("B", 0), ("C", 0), ("A", 2), ("B", 1), ("C", 1), ("B", 2), ("C", 2)
    ]  # fmt: skip
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )


def test_every_image_of_every_offer_is_handed_out_exactly_once_in_order(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(3)
    jobs = [probe(f"job{n}") for n in range(4)]
    for n, job in enumerate(jobs):
        dispatcher.tell(offer(job, 10 + n, todo=tuple(range(n, 10 + n))))

    for _ in range(60):  # more than enough idle reports for all 40 images
        for worker in pool.refs():
            dispatcher.tell(WorkerIdle(worker))
    stats(dispatcher)

    for n, job in enumerate(jobs):
        assert sorted(handed_to(pool, job)) == list(range(n, 10 + n))
    assert len(pool.handed()) == 40


def test_dispatcher_replaces_a_worker_that_died_holding_an_image(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(2)
    job = probe("job")
    dispatcher.tell(offer(job, 3))
    stats(dispatcher)
    crashed = pool.workers[0]
    crashed.kill()

    dispatcher.tell(WorkerIdle(crashed.ref))  # what a crashed worker's on_failure tells

    assert stats(dispatcher) == PoolStats(
        workers=2, idle=0, jobs_waiting=0, replaced=1, slots=2, free_slots=2, ready=0
    )
    assert len(pool.workers) == 3
    assert pool.dispatchers[-1] is dispatcher
    replacement = pool.workers[2]
    assert replacement.messages() == [ProcessImage(job.ref, 2, "http://cdn.example/job/2.jpg")]


def test_an_image_handed_to_a_worker_found_dead_goes_to_its_replacement(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    job = probe("job")
    pool.workers[0].kill()  # died while idle, so nobody told the dispatcher

    dispatcher.tell(offer(job, 1))

    assert stats(dispatcher).replaced == 1
    replacement = pool.workers[1]
    assert replacement.ref.is_alive()
    assert replacement.messages() == [ProcessImage(job.ref, 0, "http://cdn.example/job/0.jpg")]


def test_a_job_that_stopped_takes_no_more_workers(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    busy, gone, waiting = probe("busy"), probe("gone"), probe("waiting")
    dispatcher.tell(offer(busy, 1))
    dispatcher.tell(offer(gone, 3))
    dispatcher.tell(offer(waiting, 1))
    stats(dispatcher)
    gone.kill()
    [worker] = pool.refs()

    dispatcher.tell(WorkerIdle(worker))

    stats(dispatcher)
    assert handed_to(pool, waiting) == [0]
    # The stopped job lost its place: nothing more is waiting for the freed worker.
    dispatcher.tell(WorkerIdle(worker))
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )
    assert handed_to(pool, gone) == []


def test_a_measured_image_spends_its_time_on_the_gpu_then_reaches_its_job(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu = InstantGpu()
    dispatcher = start_dispatcher(1, gpu=gpu, clock=ManualClock(), lead=0.02)
    job = probe("job")
    dispatcher.tell(offer(job, 1))
    [worker] = pool.refs()

    dispatcher.tell(ImageMeasured(worker, job.ref, 0, SHELF, 0.3))

    assert job.wait_for(ImageDone) == [ImageDone(0, SHELF)]
    assert gpu.gpu_times == [pytest.approx(0.3)]
    assert gpu.notices == []  # a free slot: nothing to wait for, no wake-up
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=0, ready=0
    )


def held_seconds(gpu: HeldGpu) -> list[tuple[float, str]]:
    """What the GPU holds: each delay (to the microsecond) with the kind of message it ends in."""
    return [
        (round(seconds, 6), type(message).__name__)
        for seconds, deliveries in gpu.held
        for _, message in deliveries
    ]


def test_each_image_starts_the_moment_its_slot_frees_and_downloads_stop_at_the_readahead(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu, clock = HeldGpu(), ManualClock()
    dispatcher = start_dispatcher(1, gpu=gpu, slots=1, readahead=2, clock=clock, lead=0.02)
    job = probe("job")
    dispatcher.tell(offer(job, 5))
    [worker] = pool.refs()

    for index in range(3):
        dispatcher.tell(ImageMeasured(worker, job.ref, index, SHELF, 0.1 * (index + 1)))

    # Image 0 is on the GPU; 1 starts when it leaves (0.1 s), 2 after that (0.3 s): each
    # ends its own time after its start. The readahead of 2 is used up by 1 and 2, so
    # the dispatcher asks to be woken 20 ms before image 1 starts.
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=1, replaced=0, slots=1, free_slots=0, ready=2
    )
    assert handed_to(pool, job) == [0, 1, 2]
    assert held_seconds(gpu) == [
        (0.1, "ImageDone"),
        (0.3, "ImageDone"),
        (0.6, "ImageDone"),
        (0.08, "GpuStarting"),
    ]

    clock.advance(0.08)
    dispatcher.tell(GpuStarting())  # the wake-up: image 1 starts within the lead

    wait_until(lambda: handed_to(pool, job) == [0, 1, 2, 3], "image 3 was handed out")
    assert stats(dispatcher).ready == 1  # image 2
    assert len(gpu.held) == 4  # no new wake-up: the busy worker's answer will come


def test_a_slot_that_freed_long_ago_takes_the_next_image_at_once(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu, clock = HeldGpu(), ManualClock()
    dispatcher = start_dispatcher(1, gpu=gpu, slots=1, clock=clock, lead=0.02)
    job = probe("job")
    dispatcher.tell(offer(job, 2))
    [worker] = pool.refs()
    dispatcher.tell(ImageMeasured(worker, job.ref, 0, SHELF, 0.1))
    stats(dispatcher)

    clock.advance(0.5)
    dispatcher.tell(ImageMeasured(worker, job.ref, 1, SHELF, 0.2))

    wait_until(lambda: len(gpu.held) == 2, "image 1 went on the GPU")
    assert held_seconds(gpu) == [(0.1, "ImageDone"), (0.2, "ImageDone")]


def test_a_withdrawn_offer_hands_out_nothing_more_and_names_what_never_started(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    cancelled, other = probe("cancelled"), probe("other")
    dispatcher.tell(offer(cancelled, 5, todo=(0, 1, 3, 4)))
    dispatcher.tell(offer(other, 1))
    [worker] = pool.refs()

    dispatcher.tell(WithdrawOffer(cancelled.ref))
    dispatcher.tell(WorkerIdle(worker))
    dispatcher.tell(WorkerIdle(worker))

    assert stats(dispatcher).jobs_waiting == 0
    assert handed_to(pool, cancelled) == [0]  # the one handed out before the withdrawal
    assert cancelled.wait_for(OfferWithdrawn) == [OfferWithdrawn((1, 3, 4))]
    assert handed_to(pool, other) == [0]


def test_withdrawing_an_offer_already_handed_out_names_nothing(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(2)
    job = probe("job")
    dispatcher.tell(offer(job, 2))

    dispatcher.tell(WithdrawOffer(job.ref))

    assert job.wait_for(OfferWithdrawn) == [OfferWithdrawn(())]
    assert handed_to(pool, job) == [0, 1]


def test_stopping_the_dispatcher_stops_its_workers(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool
) -> None:
    dispatcher = start_dispatcher(3)
    stats(dispatcher)

    dispatcher.stop(timeout=WAIT)

    assert [worker.ref.is_alive() for worker in pool.workers] == [False, False, False]


def test_a_measured_image_s_reports_leave_the_gpu_with_it_just_before_its_outcome(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu = HeldGpu()
    dispatcher = start_dispatcher(1, gpu=gpu)
    job, events = probe("job"), probe("events")
    dispatcher.tell(offer(job, 1))
    [worker] = pool.refs()

    dispatcher.tell(ImageMeasured(worker, job.ref, 0, SHELF, 0.2, ((events.ref, "measured"),)))

    wait_until(lambda: len(gpu.held) == 1, "the image is on the GPU")
    [(_, deliveries)] = gpu.held
    assert deliveries == ((events.ref, "measured"), (job.ref, ImageDone(0, SHELF)))
    assert events.messages() == []  # not before its GPU time is up
