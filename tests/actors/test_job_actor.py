"""JobActor alone: manager, dispatcher and workers are probes; the test plays the workers."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import JobActor
from retailpulse.actors.events import JobEnded, JobStarted
from retailpulse.actors.messages import (
    GetResults,
    GetStatus,
    ImageDone,
    JobFinished,
    ProcessImage,
    WantWorkers,
    WorkerGranted,
    WorkerIdle,
)
from retailpulse.model import ImageOutcome, JobResults, JobState, JobStatus, Progress, StoreError
from retailpulse.stores import StoreMaster
from retailpulse.submission import ImageSpec
from retailpulse.testing import ManualClock

from .conftest import WAIT, Probe, wait_until_stopped

Ref = pykka.ActorRef[Any]
StartJob = Callable[..., Ref]

SUBMITTED_AT = 1_700_000_000.0
OK = ImageOutcome.measured(100, 50)


def url(n: int) -> str:
    return f"https://img.example/{n}.jpg"


def specs(*store_ids: str) -> tuple[ImageSpec, ...]:
    """One image per store id given, with URLs 0.jpg, 1.jpg... in that order."""
    return tuple(ImageSpec(store_id, url(n)) for n, store_id in enumerate(store_ids))


@pytest.fixture
def manager(probe: Callable[[str], Probe]) -> Probe:
    return probe("manager")


@pytest.fixture
def dispatcher(probe: Callable[[str], Probe]) -> Probe:
    return probe("dispatcher")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SUBMITTED_AT)


@pytest.fixture
def start_job(
    manager: Probe, dispatcher: Probe, store_master: StoreMaster, clock: ManualClock
) -> StartJob:
    """Start job 7 over the given images; S1, S2 and S3 are the known stores."""

    def start(images: tuple[ImageSpec, ...], job_id: int = 7, events: Ref | None = None) -> Ref:
        return JobActor.start(
            job_id,
            images,
            SUBMITTED_AT,
            manager=manager.ref,
            dispatcher=dispatcher.ref,
            store_master=store_master,
            clock=clock,
            events=events,
        )

    return start


def status(job: Ref) -> JobStatus:
    answer: JobStatus = job.ask(GetStatus(), block=True, timeout=WAIT)
    return answer


def results(job: Ref) -> JobResults:
    answer: JobResults = job.ask(GetResults(), block=True, timeout=WAIT)
    return answer


def hand_out(job: Ref, worker: Probe) -> ProcessImage:
    """Grant ``worker`` to ``job`` and return the image the job gave it."""
    job.tell(WorkerGranted(worker.ref))
    [work] = worker.wait_for(ProcessImage)
    return work


def test_job_asks_the_dispatcher_for_one_worker_per_image_to_download(
    start_job: StartJob, dispatcher: Probe
) -> None:
    job = start_job(specs("S1", "S2", "S404", "S1"))

    assert dispatcher.wait_for(WantWorkers) == [WantWorkers(job, 3)]


def test_unknown_store_fails_the_job_without_downloading(
    start_job: StartJob, manager: Probe, dispatcher: Probe
) -> None:
    job = start_job(specs("S404", "S404"))

    [finished] = manager.wait_for(JobFinished)
    assert finished.job_id == 7
    final = finished.results.status
    assert final.state is JobState.FAILED
    assert final.progress == Progress(total=2, done=2, failed=2)
    [error] = final.errors
    assert error.store_id == "S404"
    assert "S404 is not in the store master" in error.error
    assert "not downloaded" in error.error
    wait_until_stopped(job)
    assert dispatcher.messages() == []


def test_images_of_an_unknown_store_fail_at_once_while_the_rest_wait_for_workers(
    start_job: StartJob, manager: Probe
) -> None:
    job = start_job(specs("S1", "S404", "S2"))

    current = status(job)
    assert current.state is JobState.ONGOING
    assert current.progress == Progress(total=3, done=1, failed=1)
    assert current.errors == ()
    outcomes = results(job).outcomes
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert outcomes[1] is not None
    assert outcomes[1].error is not None
    assert manager.messages() == []


def test_granted_workers_get_the_images_to_download_in_submission_order(
    start_job: StartJob, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S404", "S2", "S3"))

    handed = [hand_out(job, probe(f"w{n}")) for n in range(3)]

    assert [(work.index, work.url) for work in handed] == [(0, url(0)), (2, url(2)), (3, url(3))]
    assert all(work.job is job for work in handed)


def test_grant_beyond_the_images_to_download_is_returned_to_the_dispatcher(
    start_job: StartJob, dispatcher: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"))
    hand_out(job, probe("w1"))
    spare = probe("spare")

    job.tell(WorkerGranted(spare.ref))

    [idle] = dispatcher.wait_for(WorkerIdle)
    assert idle.worker is spare.ref
    assert spare.messages() == []
    assert dispatcher.messages(WantWorkers) == [WantWorkers(job, 1)]


def test_grant_of_a_dead_worker_is_returned_and_the_image_asked_for_again(
    start_job: StartJob, dispatcher: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    dead = probe("dead")
    dead.kill()

    job.tell(WorkerGranted(dead.ref))

    status(job)
    assert [m.worker for m in dispatcher.messages(WorkerIdle)] == [dead.ref]
    assert dispatcher.messages(WantWorkers) == [WantWorkers(job, 2), WantWorkers(job, 1)]
    assert hand_out(job, probe("alive")).index == 0


def test_status_is_ongoing_until_every_image_has_an_outcome(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    first = hand_out(job, probe("w1"))

    job.tell(ImageDone(first.index, OK))

    current = status(job)
    assert current.state is JobState.ONGOING
    assert not current.terminal
    assert current.progress == Progress(total=2, done=1, failed=0)
    assert current.submitted_at == SUBMITTED_AT
    assert current.finished_at is None
    assert manager.messages() == []


def test_job_completes_when_every_image_is_measured(
    start_job: StartJob, manager: Probe, clock: ManualClock, probe: Callable[[str], Probe]
) -> None:
    images = specs("S1", "S2", "S1")
    job = start_job(images)
    for n in range(3):
        work = hand_out(job, probe(f"w{n}"))
        job.tell(ImageDone(work.index, ImageOutcome.measured(10 * (n + 1), 5)))
        if n == 1:
            status(job)
            clock.advance(42.0)

    [finished] = manager.wait_for(JobFinished)
    final = finished.results
    assert final.status == JobStatus(
        7,
        JobState.COMPLETED,
        Progress(total=3, done=3, failed=0),
        SUBMITTED_AT,
        finished_at=SUBMITTED_AT + 42.0,
    )
    assert final.images == images
    assert [o.width if o else None for o in final.outcomes] == [10, 20, 30]


def test_one_failed_image_fails_its_store_and_the_job(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    first, second = hand_out(job, probe("w1")), hand_out(job, probe("w2"))

    job.tell(ImageDone(first.index, OK))
    job.tell(ImageDone(second.index, ImageOutcome.failed(f"{url(1)}: HTTP 404")))

    [finished] = manager.wait_for(JobFinished)
    final = finished.results.status
    assert final.state is JobState.FAILED
    assert final.errors == (StoreError("S2", f"{url(1)}: HTTP 404"),)
    assert final.progress == Progress(total=2, done=2, failed=1)


def test_each_image_outcome_is_recorded_exactly_once(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    first = hand_out(job, probe("w1"))

    job.tell(ImageDone(first.index, OK))
    job.tell(ImageDone(first.index, ImageOutcome.failed("late duplicate")))
    job.tell(ImageDone(first.index, OK))

    current = results(job)
    assert current.status.progress == Progress(total=2, done=1, failed=0)
    assert current.outcomes == (OK, None)
    assert current.status.state is JobState.ONGOING
    assert manager.messages() == []


def test_finished_job_reports_to_manager_and_stops(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"), job_id=12)
    work = hand_out(job, probe("w1"))

    job.tell(ImageDone(work.index, OK))

    wait_until_stopped(job)
    finished = manager.messages(JobFinished)
    assert [f.job_id for f in finished] == [12]
    assert finished[0].results.outcomes == (OK,)


def test_store_errors_follow_the_order_of_first_appearance_not_of_failure(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S2", "S1", "S2", "S404", "S3"))  # image index = position
    work = {hand_out(job, probe(f"w{n}")).index for n in range(4)}
    assert work == {0, 1, 2, 4}

    # S404 failed first (at start), then S1, then S2; S3 succeeded.
    job.tell(ImageDone(1, ImageOutcome.failed("S1 image broken")))
    job.tell(ImageDone(2, ImageOutcome.failed("S2 image broken")))
    job.tell(ImageDone(0, OK))
    job.tell(ImageDone(4, OK))

    [finished] = manager.wait_for(JobFinished)
    errors = finished.results.status.errors
    assert [e.store_id for e in errors] == ["S2", "S1", "S404"]
    assert errors[0].error == "1 of 2 images failed: S2 image broken"
    assert errors[1].error == "S1 image broken"


def test_results_keep_submission_order_and_leave_unfinished_images_empty(
    start_job: StartJob, probe: Callable[[str], Probe]
) -> None:
    images = specs("S1", "S2", "S3")
    job = start_job(images)
    for n in range(3):
        hand_out(job, probe(f"w{n}"))

    job.tell(ImageDone(2, ImageOutcome.measured(3, 4)))

    current = results(job)
    assert current.images == images
    assert current.outcomes == (None, None, ImageOutcome.measured(3, 4))
    assert [image["perimeter"] for image in current.to_dict()["images"]] == [None, None, 14]


def test_a_crash_inside_the_job_still_finishes_it_as_failed(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    work = hand_out(job, probe("w1"))
    job.tell(ImageDone(work.index, OK))

    job.tell(ImageDone(99, OK))  # no such image: the actor raises and pykka stops it

    [finished] = manager.wait_for(JobFinished)
    final = finished.results
    assert final.status.state is JobState.FAILED
    assert final.outcomes[0] == OK
    assert final.outcomes[1] is not None
    assert final.outcomes[1].error is not None
    assert "internal error in job 7" in final.outcomes[1].error
    assert [e.store_id for e in final.status.errors] == ["S2"]
    wait_until_stopped(job)


class BrokenStoreMaster(StoreMaster):
    def __contains__(self, store_id: object) -> bool:
        raise RuntimeError("store master lookup broke")


def test_a_crash_while_starting_still_finishes_the_job_as_failed(
    manager: Probe, dispatcher: Probe, clock: ManualClock
) -> None:
    job = JobActor.start(
        7,
        specs("S1", "S2"),
        SUBMITTED_AT,
        manager=manager.ref,
        dispatcher=dispatcher.ref,
        store_master=BrokenStoreMaster([]),
        clock=clock,
    )

    [finished] = manager.wait_for(JobFinished)
    assert finished.results.status.state is JobState.FAILED
    assert [e.store_id for e in finished.results.status.errors] == ["S1", "S2"]
    assert "store master lookup broke" in finished.results.status.errors[0].error
    wait_until_stopped(job)


def test_job_still_stops_when_its_manager_is_gone(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"))
    work = hand_out(job, probe("w1"))
    manager.kill()

    job.tell(ImageDone(work.index, OK))

    wait_until_stopped(job)


def test_job_tells_the_events_ref_when_it_starts_and_when_it_ends(
    start_job: StartJob, probe: Callable[[str], Probe], manager: Probe
) -> None:
    events = probe("events")
    job = start_job(specs("S1", "S9", "S2"), events=events.ref)
    [started] = events.wait_for(JobStarted)
    urn = job.actor_urn

    for worker in (probe("w1"), probe("w2")):
        work = hand_out(job, worker)
        job.tell(ImageDone(work.index, OK))

    manager.wait_for(JobFinished)
    assert started == JobStarted(7, urn, images=3, to_download=2)
    assert events.messages(JobEnded) == [JobEnded(7, urn, "failed", images=3, failed=1)]


def test_job_logs_its_start_each_failed_image_and_its_end_as_key_value_lines(
    start_job: StartJob, manager: Probe, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="retailpulse.actors.job")
    clock.advance(1.5)
    start_job(specs("S9"))

    manager.wait_for(JobFinished)
    lines = [r.getMessage() for r in caplog.records if r.name == "retailpulse.actors.job"]
    assert lines == [
        "job=7 event=job_started images=1 to_download=0",
        f"job=7 store=S9 event=image_failed url={url(0)} reason="
        '"store_id S9 is not in the store master; its images were not downloaded"',
        "job=7 event=job_finished status=failed images=1 failed=1 seconds=1.500",
    ]
