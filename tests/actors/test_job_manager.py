"""JobManager alone: its job factory starts probes, and the test reports jobs as finished."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import JobManager, JobOrder
from retailpulse.actors.events import JobAccepted
from retailpulse.actors.messages import AwaitJob, FindJob, JobFinished, SubmitJob
from retailpulse.model import ImageOutcome, JobResults, JobState, JobStatus, Progress
from retailpulse.submission import ImageSpec, Submission, Visit
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
def start_manager(starter: JobStarter, clock: ManualClock) -> StartManager:
    def start(max_active_jobs: int = 32) -> Ref:
        return JobManager.start(
            starter, clock=clock, max_active_jobs=max_active_jobs, stop_timeout=WAIT
        )

    return start


def submission(*visits: tuple[str, int]) -> Submission:
    """Visits as ``(store_id, number of images)``; URLs name the store and the image."""
    return Submission(
        tuple(
            Visit(store_id, "2024-01-01T10:00:00", tuple(image_url(store_id, n) for n in range(k)))
            for store_id, k in visits
        )
    )


def image_url(store_id: str, n: int) -> str:
    return f"https://img.example/{store_id}/{n}.jpg"


def submit(manager: Ref, job: Submission | None = None) -> int:
    job_id: int = manager.ask(SubmitJob(job or submission(("S1", 1))), block=True, timeout=WAIT)
    return job_id


def find(manager: Ref, job_id: int) -> Ref | JobResults | None:
    found: Ref | JobResults | None = manager.ask(FindJob(job_id), block=True, timeout=WAIT)
    return found


def final_results(job_id: int, failed: bool = False) -> JobResults:
    """What a job actor sends the manager when its single image is done."""
    state = JobState.FAILED if failed else JobState.COMPLETED
    outcome = ImageOutcome.failed("broken") if failed else ImageOutcome.measured(1, 2)
    status = JobStatus(job_id, state, Progress(1, 1, int(failed)), START, finished_at=START + 1)
    return JobResults(status, (ImageSpec("S1", image_url("S1", 0)),), (outcome,))


def finish(manager: Ref, job_id: int, failed: bool = False) -> JobResults:
    """Report ``job_id`` finished, as its job actor would, and wait until it is handled."""
    results = final_results(job_id, failed)
    manager.tell(JobFinished(job_id, results))
    find(manager, job_id)
    return results


def await_job(manager: Ref, job_id: int) -> "pykka.Future[JobStatus | None]":
    future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
    manager.tell(AwaitJob(job_id, future))
    return future


def test_job_ids_are_consecutive_integers_starting_at_one(start_manager: StartManager) -> None:
    manager = start_manager()

    ids = [submit(manager) for _ in range(4)]

    assert ids == [1, 2, 3, 4]
    assert all(type(job_id) is int for job_id in ids)


def test_job_ids_are_never_reused_after_jobs_finish(start_manager: StartManager) -> None:
    manager = start_manager(max_active_jobs=1)
    first = submit(manager)
    finish(manager, first)

    assert submit(manager) == first + 1


def test_accepted_job_starts_with_its_images_in_submission_order(
    start_manager: StartManager, starter: JobStarter, clock: ManualClock
) -> None:
    manager = start_manager()
    clock.advance(5.0)

    job_id = submit(manager, submission(("S2", 2), ("S1", 1), ("S2", 1)))

    [order] = starter.orders
    assert order == JobOrder(
        job_id,
        (
            ImageSpec("S2", image_url("S2", 0)),
            ImageSpec("S2", image_url("S2", 1)),
            ImageSpec("S1", image_url("S1", 0)),
            ImageSpec("S2", image_url("S2", 0)),
        ),
        START + 5.0,
    )
    assert starter.managers == [manager]


def test_jobs_beyond_the_admission_limit_wait_in_order(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager(max_active_jobs=2)

    for _ in range(5):
        submit(manager)
    assert starter.started() == [1, 2]

    finish(manager, 2)
    assert starter.started() == [1, 2, 3]
    finish(manager, 1)
    assert starter.started() == [1, 2, 3, 4]
    finish(manager, 3)
    finish(manager, 4)
    assert starter.started() == [1, 2, 3, 4, 5]


def test_queued_job_is_reported_ongoing_and_queued_with_its_images(
    start_manager: StartManager, clock: ManualClock
) -> None:
    manager = start_manager(max_active_jobs=1)
    submit(manager)
    clock.advance(3.0)
    job = submission(("S1", 2), ("S3", 1))

    queued_id = submit(manager, job)

    found = find(manager, queued_id)
    assert isinstance(found, JobResults)
    assert found.status == JobStatus(
        queued_id, JobState.ONGOING, Progress(total=3), START + 3.0, queued=True
    )
    assert found.images == tuple(job.images())
    assert found.outcomes == (None, None, None)


def test_find_gives_the_ref_of_a_running_job(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager()
    job_id = submit(manager)

    assert find(manager, job_id) is starter.jobs[job_id].ref


def test_finished_job_record_is_kept_by_the_manager(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager()
    job_id = submit(manager)
    starter.jobs[job_id].kill()

    results = finish(manager, job_id, failed=True)

    assert find(manager, job_id) is results


@pytest.mark.parametrize("job_id", [0, 2, -1, 10**9])
def test_unknown_job_id_is_none(start_manager: StartManager, job_id: int) -> None:
    manager = start_manager()
    submit(manager)

    assert find(manager, job_id) is None


def test_await_job_resolves_when_job_finishes(start_manager: StartManager) -> None:
    manager = start_manager()
    job_id = submit(manager)
    future = await_job(manager, job_id)
    find(manager, job_id)

    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.05)

    results = finish(manager, job_id)
    assert future.get(timeout=WAIT) == results.status


def test_every_waiter_of_a_job_is_resolved(start_manager: StartManager) -> None:
    manager = start_manager()
    job_id = submit(manager)
    futures = [await_job(manager, job_id) for _ in range(3)]

    results = finish(manager, job_id, failed=True)

    assert [future.get(timeout=WAIT) for future in futures] == [results.status] * 3


def test_await_queued_job_resolves_when_it_has_run(start_manager: StartManager) -> None:
    manager = start_manager(max_active_jobs=1)
    first, queued = submit(manager), submit(manager)
    future = await_job(manager, queued)

    finish(manager, first)
    with pytest.raises(pykka.Timeout):
        future.get(timeout=0.05)

    results = finish(manager, queued)
    assert future.get(timeout=WAIT) == results.status


def test_await_finished_job_resolves_at_once(start_manager: StartManager) -> None:
    manager = start_manager()
    job_id = submit(manager)
    results = finish(manager, job_id)

    assert await_job(manager, job_id).get(timeout=WAIT) == results.status


def test_await_unknown_job_resolves_to_none(start_manager: StartManager) -> None:
    manager = start_manager()

    assert await_job(manager, 1).get(timeout=WAIT) is None


def test_stopping_the_manager_stops_its_running_jobs(
    start_manager: StartManager, starter: JobStarter
) -> None:
    manager = start_manager(max_active_jobs=2)
    for _ in range(3):
        submit(manager)

    manager.stop(timeout=WAIT)

    assert starter.started() == [1, 2]
    assert [job.ref.is_alive() for job in starter.jobs.values()] == [False, False]


def test_stopping_the_manager_releases_callers_waiting_for_unfinished_jobs(
    start_manager: StartManager,
) -> None:
    manager = start_manager(max_active_jobs=1)
    running, queued = submit(manager), submit(manager)
    futures = [await_job(manager, running), await_job(manager, queued)]
    find(manager, running)

    manager.stop(timeout=WAIT)

    for future in futures:
        with pytest.raises(pykka.ActorDeadError):
            future.get(timeout=WAIT)


def test_manager_tells_the_events_ref_of_each_accepted_job_even_when_it_queues(
    starter: JobStarter, clock: ManualClock, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    manager = JobManager.start(starter, clock=clock, max_active_jobs=1, events=events.ref)

    first = submit(manager, submission(("S1", 2)))
    second = submit(manager, submission(("S1", 1), ("S2", 3)))

    assert events.wait_for(JobAccepted, count=2) == [
        JobAccepted(first, images=2),
        JobAccepted(second, images=4),
    ]
    assert starter.started() == [first]
