"""Dispatcher alone: its workers and jobs are recording probes, grants are read off the jobs."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import Dispatcher, GetPoolStats, PoolStats
from retailpulse.actors.messages import (
    ImageDone,
    ImageMeasured,
    WantWorkers,
    WithdrawDemand,
    WorkerGranted,
    WorkerIdle,
)
from retailpulse.model import ImageOutcome
from retailpulse.testing import HeldSleeper, InstantSleeper, ManualClock, wait_until

from .conftest import WAIT, Probe

Ref = pykka.ActorRef[Any]

SHELF = ImageOutcome.measured(640, 480)


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


@pytest.fixture
def pool(probe: Callable[[str], Probe]) -> WorkerPool:
    return WorkerPool(probe)


@pytest.fixture
def start_dispatcher(pool: WorkerPool) -> Callable[..., Ref]:
    def start(size: int, **options: Any) -> Ref:
        options.setdefault("sleeper", InstantSleeper())
        dispatcher = Dispatcher.start(size, pool, stop_timeout=WAIT, **options)
        stats(dispatcher)  # on_start has run: the pool is complete
        return dispatcher

    return start


def stats(dispatcher: Ref) -> PoolStats:
    """The dispatcher's figures, once it has handled every message told to it before."""
    answer: PoolStats = dispatcher.ask(GetPoolStats(), block=True, timeout=WAIT)
    return answer


def granted(job: Probe) -> list[Ref]:
    """The workers granted to ``job`` so far, in order."""
    return [grant.worker for grant in job.messages(WorkerGranted)]


def test_dispatcher_starts_its_pool_through_the_worker_factory(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool
) -> None:
    dispatcher = start_dispatcher(3)

    assert stats(dispatcher) == PoolStats(
        workers=3, idle=3, jobs_waiting=0, replaced=0, slots=3, free_slots=3, ready=0
    )
    assert len(pool.workers) == 3
    assert all(given is dispatcher for given in pool.dispatchers)


def test_job_gets_idle_workers_up_to_the_number_it_wants(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(3)
    job = probe("job")

    dispatcher.tell(WantWorkers(job.ref, 2))

    assert stats(dispatcher) == PoolStats(
        workers=3, idle=1, jobs_waiting=0, replaced=0, slots=3, free_slots=3, ready=0
    )
    assert granted(job) == pool.refs()[:2]


def test_job_waits_in_the_ring_until_a_worker_is_idle(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    first, second = probe("first"), probe("second")
    dispatcher.tell(WantWorkers(first.ref, 1))
    dispatcher.tell(WantWorkers(second.ref, 1))
    assert stats(dispatcher).jobs_waiting == 1
    assert granted(second) == []

    dispatcher.tell(WorkerIdle(pool.refs()[0]))

    assert stats(dispatcher) == PoolStats(
        workers=1, idle=0, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )
    assert granted(second) == pool.refs()


def test_demand_of_one_job_adds_up_and_it_holds_one_place_in_the_ring(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    busy, job = probe("busy"), probe("job")
    dispatcher.tell(WantWorkers(busy.ref, 1))

    dispatcher.tell(WantWorkers(job.ref, 1))
    dispatcher.tell(WantWorkers(job.ref, 2))
    assert stats(dispatcher).jobs_waiting == 1

    [worker] = pool.refs()
    for _ in range(4):
        dispatcher.tell(WorkerIdle(worker))

    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )
    assert granted(job) == [worker] * 3


@pytest.mark.parametrize("count", [0, -2])
def test_demand_of_no_workers_is_ignored(
    start_dispatcher: Callable[..., Ref], probe: Callable[[str], Probe], count: int
) -> None:
    dispatcher = start_dispatcher(2)
    job = probe("job")

    dispatcher.tell(WantWorkers(job.ref, count))

    assert stats(dispatcher) == PoolStats(
        workers=2, idle=2, jobs_waiting=0, replaced=0, slots=2, free_slots=2, ready=0
    )
    assert granted(job) == []


def test_small_job_gets_workers_before_big_job_drains(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(2)
    big, small = probe("big"), probe("small")
    dispatcher.tell(WantWorkers(big.ref, 5000))
    dispatcher.tell(WantWorkers(small.ref, 1))
    stats(dispatcher)
    assert granted(small) == []

    w1, w2 = pool.refs()
    dispatcher.tell(WorkerIdle(w1))
    dispatcher.tell(WorkerIdle(w2))

    stats(dispatcher)
    assert granted(small) == [w2]
    assert granted(big) == [w1, w2, w1]
    assert stats(dispatcher).jobs_waiting == 1


def test_freed_workers_go_round_robin_over_the_jobs_with_demand(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    jobs = {name: probe(name) for name in "ABC"}
    for job in jobs.values():
        dispatcher.tell(WantWorkers(job.ref, 3))
    [worker] = pool.refs()

    def grant_counts() -> dict[str, int]:
        stats(dispatcher)
        return {name: len(granted(job)) for name, job in jobs.items()}

    order: list[str] = []
    before = grant_counts()
    for _ in range(9):
        dispatcher.tell(WorkerIdle(worker))
        after = grant_counts()
        order += [name for name in jobs if after[name] > before[name]]
        before = after

    # A took the idle worker at once; then the ring turns A, B, C until each had three.
    assert order == ["A", "B", "C", "A", "B", "C", "B", "C"]
    assert before == {"A": 3, "B": 3, "C": 3}
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )


def test_dispatcher_replaces_a_dead_worker(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(2)
    job = probe("job")
    dispatcher.tell(WantWorkers(job.ref, 2))
    stats(dispatcher)
    crashed = pool.workers[0]
    crashed.kill()

    dispatcher.tell(WorkerIdle(crashed.ref))

    assert stats(dispatcher) == PoolStats(
        workers=2, idle=1, jobs_waiting=0, replaced=1, slots=2, free_slots=2, ready=0
    )
    assert len(pool.workers) == 3
    assert pool.dispatchers[-1] is dispatcher


def test_the_replacement_not_the_dead_worker_is_granted_next(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    first, second = probe("first"), probe("second")
    dispatcher.tell(WantWorkers(first.ref, 1))
    dispatcher.tell(WantWorkers(second.ref, 1))
    stats(dispatcher)
    crashed = pool.workers[0]
    crashed.kill()

    dispatcher.tell(WorkerIdle(crashed.ref))

    stats(dispatcher)
    replacement = pool.workers[1]
    assert granted(second) == [replacement.ref]
    assert replacement.ref.is_alive()


def test_grant_refused_by_a_stopped_job_goes_to_the_next_job(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    busy, gone, waiting = probe("busy"), probe("gone"), probe("waiting")
    dispatcher.tell(WantWorkers(busy.ref, 1))
    dispatcher.tell(WantWorkers(gone.ref, 3))
    dispatcher.tell(WantWorkers(waiting.ref, 1))
    stats(dispatcher)
    gone.kill()
    [worker] = pool.refs()

    dispatcher.tell(WorkerIdle(worker))

    stats(dispatcher)
    assert granted(waiting) == [worker]
    # The stopped job lost its place: nothing more is waiting for the freed worker.
    dispatcher.tell(WorkerIdle(worker))
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )


def test_a_measured_image_spends_its_time_on_the_gpu_then_reaches_its_job(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu = InstantSleeper()
    dispatcher = start_dispatcher(1, sleeper=gpu, clock=ManualClock(), lead=0.02)
    job = probe("job")
    dispatcher.tell(WantWorkers(job.ref, 1))
    [worker] = pool.refs()

    dispatcher.tell(ImageMeasured(worker, job.ref, 0, SHELF, 0.3))

    assert job.wait_for(ImageDone) == [ImageDone(0, SHELF)]
    # The image's time on the GPU, and its slot's release heard 20 ms before it ends.
    assert gpu.sleeps == [0.3]
    assert gpu.notices == [pytest.approx(0.28)]
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=0, replaced=0, slots=1, free_slots=1, ready=0
    )


def held_seconds(gpu: HeldSleeper) -> list[tuple[float, str]]:
    """What the GPU holds: each delay (to the microsecond) with the kind of message it ends in."""
    return [
        (round(seconds, 6), type(message).__name__)
        for seconds, deliveries in gpu.held
        for _, message in deliveries
    ]


def test_a_full_gpu_keeps_measured_images_ready_and_workers_stop_at_the_readahead(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu, clock = HeldSleeper(), ManualClock()
    dispatcher = start_dispatcher(1, sleeper=gpu, slots=1, readahead=2, clock=clock, lead=0.02)
    job = probe("job")
    dispatcher.tell(WantWorkers(job.ref, 5))
    [worker] = pool.refs()

    for index in range(3):
        dispatcher.tell(ImageMeasured(worker, job.ref, index, SHELF, 0.1 * (index + 1)))

    # Image 0 is on the GPU, 1 and 2 are ready: the readahead of 2 is used up.
    assert stats(dispatcher) == PoolStats(
        workers=1, idle=1, jobs_waiting=1, replaced=0, slots=1, free_slots=0, ready=2
    )
    assert granted(job) == [worker] * 3
    assert held_seconds(gpu) == [(0.1, "ImageDone"), (0.08, "SlotFreed")]

    gpu.release()  # the slot frees soon; image 1, the oldest ready one, is put on it

    wait_until(lambda: len(gpu.held) == 2, "the next image went on the GPU")
    # No time has passed: image 1 starts when image 0 leaves, 0.1 s from now.
    assert held_seconds(gpu) == [(0.3, "ImageDone"), (0.28, "SlotFreed")]
    assert job.wait_for(ImageDone) == [ImageDone(0, SHELF)]
    assert stats(dispatcher).ready == 1
    assert granted(job) == [worker] * 4


def test_a_slot_heard_free_late_takes_the_next_image_at_once(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    gpu, clock = HeldSleeper(), ManualClock()
    dispatcher = start_dispatcher(1, sleeper=gpu, slots=1, clock=clock, lead=0.02)
    job = probe("job")
    dispatcher.tell(WantWorkers(job.ref, 2))
    [worker] = pool.refs()
    dispatcher.tell(ImageMeasured(worker, job.ref, 0, SHELF, 0.1))
    dispatcher.tell(ImageMeasured(worker, job.ref, 1, SHELF, 0.2))
    wait_until(lambda: stats(dispatcher).ready == 1, "image 1 waits for the slot")

    clock.advance(0.5)  # the release arrives long after the slot freed: no waiting for it
    gpu.release()

    wait_until(lambda: len(gpu.held) == 2, "image 1 went on the GPU")
    assert held_seconds(gpu) == [(0.2, "ImageDone"), (0.18, "SlotFreed")]


def test_a_withdrawn_job_is_granted_no_more_workers(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool, probe: Callable[[str], Probe]
) -> None:
    dispatcher = start_dispatcher(1)
    cancelled, other = probe("cancelled"), probe("other")
    dispatcher.tell(WantWorkers(cancelled.ref, 100))
    dispatcher.tell(WantWorkers(other.ref, 1))
    [worker] = pool.refs()

    dispatcher.tell(WithdrawDemand(cancelled.ref))
    dispatcher.tell(WorkerIdle(worker))
    dispatcher.tell(WorkerIdle(worker))

    assert stats(dispatcher).jobs_waiting == 0
    assert granted(cancelled) == [worker]  # the one grant made before the withdrawal
    assert granted(other) == [worker]


def test_stopping_the_dispatcher_stops_its_workers(
    start_dispatcher: Callable[..., Ref], pool: WorkerPool
) -> None:
    dispatcher = start_dispatcher(3)
    stats(dispatcher)

    dispatcher.stop(timeout=WAIT)

    assert [worker.ref.is_alive() for worker in pool.workers] == [False, False, False]
