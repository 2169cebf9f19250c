"""JobManager alone: its job factory starts probes, the job store is a probe, and the test
reports jobs as finished."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import JobManager, JobOrder
from retailpulse.actors.messages import (
    AwaitJob,
    CancelAnswer,
    CancelJob,
    FindJob,
    FinishJob,
    JobAccepted,
    JobEnded,
    JobFinished,
    QueuedJobs,
    RunJob,
)
from retailpulse.model import ImageOutcome, JobResults, JobState, JobStatus, Progress
from retailpulse.submission import ImageSpec
from retailpulse.testing import ManualClock

from .conftest import WAIT, Probe

Ref = pykka.ActorRef[Any]
StartManager = Callable[..., Ref]

START = 1_700_000_000.0


class JobStarter:
    """A job factory that starts one probe per job and remembers each order."""

    def __init__(self, probe: Callable[[str], Probe]) -> None:
        self._probe = probe
        self.orders: list[JobOrder] = []
        self.managers: list[Ref] = []
        self.jobs: dict[int, Probe] = {}

    def __call__(self, order: JobOrder, manager: Ref) -> Ref:
        self.orders.append(order)
        self.managers.append(manager)
        job = self._probe(f"job {order.job_id}")
        self.jobs[order.job_id] = job
        return job.ref

    def started(self) -> list[int]:
        return [order.job_id for order in self.orders]


@pytest.fixture
def starter(probe: Callable[[str], Probe]) -> JobStarter:
    return JobStarter(probe)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def store(probe: Callable[[str], Probe]) -> Probe:
    return probe("job store")


@pytest.fixture
def start_manager(starter: JobStarter, store: Probe, clock: ManualClock) -> StartManager:
    def start(max_active_jobs: int = 32) -> Ref:
        return JobManager.start(
            starter, store.ref, clock=clock, max_active_jobs=max_active_jobs, stop_timeout=WAIT
        )

    return start


def image_url(store_id: str, n: int) -> str:
    return f"https://img.example/{store_id}/{n}.jpg"


def order(
    job_id: int,
    images: int = 1,
    preloaded: tuple[tuple[int, ImageOutcome], ...] = (),
) -> JobOrder:
    specs = tuple(ImageSpec("S1", image_url("S1", n)) for n in range(images))
    return JobOrder(job_id, specs, START + job_id, preloaded)


def run(manager: Ref, *job_ids: int) -> None:
    """Hand the manager stored jobs of one image each, as System does after storing them."""
    for job_id in job_ids:
        manager.ask(RunJob(order(job_id)), block=True, timeout=WAIT)


def find(manager: Ref, job_id: int) -> Ref | JobResults | None:
    found: Ref | JobResults | None = manager.ask(FindJob(job_id), block=True, timeout=WAIT)
    return found


def final_status(job_id: int, failed: bool = False) -> JobStatus:
    """The status a job of one image ends with."""
    state = JobState.FAILED if failed else JobState.COMPLETED
    return JobStatus(job_id, state, Progress(1, 1, int(failed)), START, finished_at=START + 1)


def finish(manager: Ref, job_id: int, failed: bool = False) -> JobStatus:
    """Report ``job_id``'s end committed, as its job actor would, and wait until handled."""
    status = final_status(job_id, failed)
    manager.tell(JobFinished(job_id, status))
    find(manager, job_id)
    return status


def cancel(manager: Ref, job_id: int) -> Ref | CancelAnswer | None:
    answer: Ref | CancelAnswer | None = manager.ask(CancelJob(job_id), block=True, timeout=WAIT)
    return answer


def queued_ids(manager: Ref) -> frozenset[int]:
    ids: frozenset[int] = manager.ask(QueuedJobs(), block=True, timeout=WAIT)
    return ids


def await_job(manager: Ref, job_id: int) -> "pykka.Future[JobStatus | None]":
    future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
    manager.tell(AwaitJob(job_id, future))
    return future


def test_a_job_handed_over_starts_with_its_order_as_stored(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager()
    resumed = order(4, images=3, preloaded=((1, ImageOutcome.measured(1, 2)),))

    manager.ask(RunJob(resumed), block=True, timeout=WAIT)

    assert starter.orders == [resumed]
    assert starter.managers == [manager]


def test_jobs_beyond_the_admission_limit_wait_in_order(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager(max_active_jobs=2)

    run(manager, 1, 2, 3, 4, 5)
    assert starter.started() == [1, 2]
    assert queued_ids(manager) == {3, 4, 5}

    finish(manager, 2)
    assert starter.started() == [1, 2, 3]
    finish(manager, 1)
    assert starter.started() == [1, 2, 3, 4]
    finish(manager, 3)
    finish(manager, 4)
    assert starter.started() == [1, 2, 3, 4, 5]
    assert queued_ids(manager) == frozenset()


def test_queued_job_is_reported_ongoing_and_queued_with_the_outcomes_it_has(
    start_manager: StartManager,
) -> None:
    manager = start_manager(max_active_jobs=1)
    run(manager, 1)
    failed = ImageOutcome.failed("earlier")
    waiting = order(2, images=3, preloaded=((2, failed),))

    manager.ask(RunJob(waiting), block=True, timeout=WAIT)

    found = find(manager, 2)
    assert isinstance(found, JobResults)
    assert found.status == JobStatus(
        2, JobState.ONGOING, Progress(total=3, done=1, failed=1), START + 2, queued=True
    )
    assert found.images == waiting.images
    assert found.outcomes == (None, None, failed)


def test_find_gives_the_ref_of_a_running_job(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager()
    run(manager, 1)

    assert find(manager, 1) is starter.jobs[1].ref


def test_a_finished_job_is_left_to_the_store(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager()
    run(manager, 1)
    starter.jobs[1].kill()

    finish(manager, 1, failed=True)

    assert find(manager, 1) is None


@pytest.mark.parametrize("job_id", [0, 2, -1, 10**9])
def test_a_job_the_manager_does_not_run_is_none(start_manager: StartManager, job_id: int) -> None:
    manager = start_manager()
    run(manager, 1)

    assert find(manager, job_id) is None


def test_await_job_resolves_when_job_finishes(start_manager: StartManager) -> None:
    manager = start_manager()
    run(manager, 1)
    future = await_job(manager, 1)
    find(manager, 1)

    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.05)

    status = finish(manager, 1)
    assert future.get(timeout=WAIT) == status


def test_every_waiter_of_a_job_is_resolved(start_manager: StartManager) -> None:
    manager = start_manager()
    run(manager, 1)
    futures = [await_job(manager, 1) for _ in range(3)]

    status = finish(manager, 1, failed=True)

    assert [future.get(timeout=WAIT) for future in futures] == [status] * 3


def test_await_queued_job_resolves_when_it_has_run(start_manager: StartManager) -> None:
    manager = start_manager(max_active_jobs=1)
    run(manager, 1, 2)
    future = await_job(manager, 2)

    finish(manager, 1)
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.05)

    status = finish(manager, 2)
    assert future.get(timeout=WAIT) == status


@pytest.mark.parametrize("finished", [True, False])
def test_await_a_job_the_manager_does_not_run_resolves_to_none_at_once(
    start_manager: StartManager, finished: bool
) -> None:
    manager = start_manager()
    if finished:
        run(manager, 1)
        finish(manager, 1)

    assert await_job(manager, 1).get(timeout=WAIT) is None


def test_stopping_the_manager_stops_its_running_jobs(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager(max_active_jobs=2)
    run(manager, 1, 2, 3)

    manager.stop(timeout=WAIT)

    assert starter.started() == [1, 2]
    assert [job.ref.is_alive() for job in starter.jobs.values()] == [False, False]


def test_stopping_the_manager_releases_callers_waiting_for_unfinished_jobs(
    start_manager: StartManager,
) -> None:
    manager = start_manager(max_active_jobs=1)
    run(manager, 1, 2)
    futures = [await_job(manager, 1), await_job(manager, 2)]
    find(manager, 1)

    manager.stop(timeout=WAIT)

    for future in futures:
        with pytest.raises(pykka.ActorDeadError):
            future.get(timeout=WAIT)


def test_manager_tells_the_events_ref_of_each_accepted_job_even_when_it_queues(
    starter: JobStarter, store: Probe, clock: ManualClock, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    manager = JobManager.start(
        starter, store.ref, clock=clock, max_active_jobs=1, events=events.ref
    )

    manager.tell(RunJob(order(1, images=2)))
    manager.tell(RunJob(order(2, images=4)))

    assert events.wait_for(JobAccepted, count=2) == [
        JobAccepted(1, images=2),
        JobAccepted(2, images=4),
    ]
    assert starter.started() == [1]


def test_a_job_cancelled_while_queued_is_told_to_the_events_ref_as_ended(
    starter: JobStarter, store: Probe, clock: ManualClock, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    manager = JobManager.start(
        starter, store.ref, clock=clock, max_active_jobs=1, events=events.ref
    )
    run(manager, 1, 2)

    cancel(manager, 2)

    assert events.wait_for(JobEnded) == [JobEnded(2, "", "cancelled", images=1, failed=0)]


# --- cancelling -------------------------------------------------------------------


def test_cancelling_a_running_job_is_left_to_its_actor(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager()
    run(manager, 1)

    assert cancel(manager, 1) is starter.jobs[1].ref


def test_a_queued_job_cancelled_never_starts_and_ends_cancelled_once_stored(
    start_manager: StartManager, starter: JobStarter, store: Probe, clock: ManualClock
) -> None:
    manager = start_manager(max_active_jobs=1)
    run(manager, 1, 2, 3)
    clock.advance(60)
    waiter = await_job(manager, 2)

    answer = cancel(manager, 2)

    queued = JobStatus(2, JobState.ONGOING, Progress(1), START + 2, queued=True)
    assert answer == CancelAnswer(queued, cancelled=True)
    [ending] = store.wait_for(FinishJob)
    assert ending.job_id == 2
    assert ending.notify == manager
    assert ending.status == JobStatus(
        2, JobState.CANCELLED, Progress(1), START + 2, finished_at=START + 60
    )
    found = find(manager, 2)  # not terminal before the store has committed it
    assert isinstance(found, JobResults)
    assert found.status == queued
    assert cancel(manager, 2) == CancelAnswer(ending.status, cancelled=False)

    manager.tell(JobFinished(2, ending.status))

    assert waiter.get(timeout=WAIT) == ending.status
    assert find(manager, 2) is None
    finish(manager, 1)
    assert starter.started() == [1, 3]


def test_cancelling_a_job_the_manager_does_not_run_is_none(start_manager: StartManager) -> None:
    manager = start_manager()
    run(manager, 1)
    finish(manager, 1)

    assert cancel(manager, 1) is None
    assert cancel(manager, 5) is None
