"""JobActor alone: manager, dispatcher and job store are probes; the test plays the
dispatcher (reading the job's offer), the workers and the store."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import JobActor
from retailpulse.actors.messages import (
    Batch,
    CancelAnswer,
    CancelJob,
    FinishJob,
    GetResults,
    GetStatus,
    ImageDone,
    JobEnded,
    JobFinished,
    JobStarted,
    OfferImages,
    OfferWithdrawn,
    ProcessImage,
    RecordOutcomes,
    WithdrawOffer,
)
from retailpulse.model import (
    ImageOutcome,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    Progress,
    StoreError,
)
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
def store(probe: Callable[[str], Probe]) -> Probe:
    return probe("job store")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(SUBMITTED_AT)


@pytest.fixture
def start_job(
    manager: Probe, dispatcher: Probe, store: Probe, store_master: StoreMaster, clock: ManualClock
) -> StartJob:
    """Start job 7 over the given images; S1, S2 and S3 are the known stores."""

    def start(
        images: tuple[ImageSpec, ...],
        job_id: int = 7,
        preloaded: tuple[tuple[int, ImageOutcome], ...] = (),
        events: Ref | None = None,
    ) -> Ref:
        job = JobActor.start(
            JobOrder(job_id, images, SUBMITTED_AT, preloaded),
            manager=manager.ref,
            dispatcher=dispatcher.ref,
            store=store.ref,
            store_master=store_master,
            clock=clock,
            events=events,
        )
        _dispatchers[job.actor_urn] = dispatcher
        return job

    return start


_dispatchers: dict[str, Probe] = {}
"""The dispatcher probe of each job started (by the job's unique URN), for ``hand_out``."""
_handed: dict[str, int] = {}
"""How many images of each job's offer ``hand_out`` has handed out."""


def commit(store: Probe) -> FinishJob:
    """Play the job store: take the job's ending and say it is committed."""
    [finish] = store.wait_for(FinishJob)
    finish.notify.tell(JobFinished(finish.job_id, finish.status))
    return finish


def recorded(store: Probe) -> dict[int, ImageOutcome]:
    """Every outcome the job told the store, by image index; each told only once."""
    outcomes: dict[int, ImageOutcome] = {}
    for message in store.messages(RecordOutcomes):
        for index, outcome in message.outcomes:
            assert index not in outcomes, f"image {index} recorded twice"
            outcomes[index] = outcome
    return outcomes


def cancel(job: Ref) -> CancelAnswer:
    answer: CancelAnswer = job.ask(CancelJob(7), block=True, timeout=WAIT)
    return answer


def status(job: Ref) -> JobStatus:
    answer: JobStatus = job.ask(GetStatus(), block=True, timeout=WAIT)
    return answer


def results(job: Ref) -> JobResults:
    answer: JobResults = job.ask(GetResults(), block=True, timeout=WAIT)
    return answer


def offer_of(job: Ref) -> OfferImages:
    """The job's offer, as its dispatcher received it (exactly one)."""
    [offer] = _dispatchers[job.actor_urn].wait_for(OfferImages)
    return offer


def hand_out(job: Ref) -> ProcessImage:
    """Play the dispatcher: the next image of the job's offer, as a worker would get it."""
    offer = offer_of(job)
    cursor = _handed.get(job.actor_urn, 0)
    _handed[job.actor_urn] = cursor + 1
    index = offer.todo[cursor]
    return ProcessImage(job, index, offer.images[index].url)


def test_job_offers_the_dispatcher_its_images_to_download_once(
    start_job: StartJob, dispatcher: Probe
) -> None:
    images = specs("S1", "S2", "S404", "S1")
    job = start_job(images)

    status(job)
    assert dispatcher.messages() == [OfferImages(job, images, (0, 1, 3))]
    assert offer_of(job).images is images  # the job's own tuple, shared, not copied


def test_unknown_store_fails_the_job_without_downloading(
    start_job: StartJob, manager: Probe, dispatcher: Probe, store: Probe
) -> None:
    job = start_job(specs("S404", "S404"))

    finish = commit(store)
    [finished] = manager.wait_for(JobFinished)
    assert finished == JobFinished(7, finish.status)
    assert len(store.messages(RecordOutcomes)) == 1  # both failures in one message
    assert sorted(recorded(store)) == [0, 1]
    final = finish.status
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


def test_the_offer_lists_the_images_to_download_in_submission_order(
    start_job: StartJob,
) -> None:
    job = start_job(specs("S1", "S404", "S2", "S3"))

    handed = [hand_out(job) for _ in range(3)]

    assert [(work.index, work.url) for work in handed] == [(0, url(0)), (2, url(2)), (3, url(3))]


def test_status_is_ongoing_until_every_image_has_an_outcome(
    start_job: StartJob, manager: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    first = hand_out(job)

    job.tell(ImageDone(first.index, OK))

    current = status(job)
    assert current.state is JobState.ONGOING
    assert not current.terminal
    assert current.progress == Progress(total=2, done=1, failed=0)
    assert current.submitted_at == SUBMITTED_AT
    assert current.finished_at is None
    assert manager.messages() == []


def test_job_completes_when_every_image_is_measured(
    start_job: StartJob,
    store: Probe,
    clock: ManualClock,
    probe: Callable[[str], Probe],
) -> None:
    images = specs("S1", "S2", "S1")
    job = start_job(images)
    for n in range(3):
        work = hand_out(job)
        job.tell(ImageDone(work.index, ImageOutcome.measured(10 * (n + 1), 5)))
        if n == 1:
            status(job)
            clock.advance(42.0)

    [finish] = store.wait_for(FinishJob)
    assert finish.status == JobStatus(
        7,
        JobState.COMPLETED,
        Progress(total=3, done=3, failed=0),
        SUBMITTED_AT,
        finished_at=SUBMITTED_AT + 42.0,
    )
    assert finish.notify == job
    final = results(job)
    assert final.images == images
    assert [o.width if o else None for o in final.outcomes] == [10, 20, 30]
    assert {i: o.width for i, o in recorded(store).items()} == {0: 10, 1: 20, 2: 30}


def test_the_end_is_reported_only_once_the_store_has_committed_it(
    start_job: StartJob, manager: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"))
    job.tell(ImageDone(hand_out(job).index, OK))
    store.wait_for(FinishJob)

    assert status(job).state is JobState.ONGOING
    assert status(job).progress == Progress(1, 1, 0)
    assert manager.messages() == []

    finish = commit(store)

    assert manager.wait_for(JobFinished) == [JobFinished(7, finish.status)]
    assert finish.status.state is JobState.COMPLETED
    wait_until_stopped(job)


def test_one_failed_image_fails_its_store_and_the_job(
    start_job: StartJob, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    first, second = hand_out(job), hand_out(job)

    job.tell(ImageDone(first.index, OK))
    job.tell(ImageDone(second.index, ImageOutcome.failed(f"{url(1)}: HTTP 404")))

    final = commit(store).status
    assert final.state is JobState.FAILED
    assert final.errors == (StoreError("S2", f"{url(1)}: HTTP 404"),)
    assert final.progress == Progress(total=2, done=2, failed=1)


def test_each_image_outcome_is_recorded_exactly_once(
    start_job: StartJob, manager: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    first = hand_out(job)

    job.tell(ImageDone(first.index, OK))
    job.tell(ImageDone(first.index, ImageOutcome.failed("late duplicate")))
    job.tell(ImageDone(first.index, OK))

    current = results(job)
    assert current.status.progress == Progress(total=2, done=1, failed=0)
    assert current.outcomes == (OK, None)
    assert current.status.state is JobState.ONGOING
    assert recorded(store) == {0: OK}
    assert manager.messages() == []


def test_finished_job_reports_to_manager_and_stops(
    start_job: StartJob, manager: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"), job_id=12)
    work = hand_out(job)

    job.tell(ImageDone(work.index, OK))
    commit(store)

    wait_until_stopped(job)
    finished = manager.messages(JobFinished)
    assert [f.job_id for f in finished] == [12]
    assert finished[0].status.progress == Progress(1, 1, 0)


def test_store_errors_follow_the_order_of_first_appearance_not_of_failure(
    start_job: StartJob, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S2", "S1", "S2", "S404", "S3"))  # image index = position
    work = {hand_out(job).index for n in range(4)}
    assert work == {0, 1, 2, 4}

    # S404 failed first (at start), then S1, then S2; S3 succeeded.
    job.tell(ImageDone(1, ImageOutcome.failed("S1 image broken")))
    job.tell(ImageDone(2, ImageOutcome.failed("S2 image broken")))
    job.tell(ImageDone(0, OK))
    job.tell(ImageDone(4, OK))

    errors = commit(store).status.errors
    assert [e.store_id for e in errors] == ["S2", "S1", "S404"]
    assert errors[0].error == "1 of 2 images failed: S2 image broken"
    assert errors[1].error == "S1 image broken"


def test_results_keep_submission_order_and_leave_unfinished_images_empty(
    start_job: StartJob, probe: Callable[[str], Probe]
) -> None:
    images = specs("S1", "S2", "S3")
    job = start_job(images)
    for _ in range(3):
        hand_out(job)

    job.tell(ImageDone(2, ImageOutcome.measured(3, 4)))

    current = results(job)
    assert current.images == images
    assert current.outcomes == (None, None, ImageOutcome.measured(3, 4))
    assert [image["perimeter"] for image in current.to_dict()["images"]] == [None, None, 14]


def test_a_crash_inside_the_job_still_finishes_it_as_failed(
    start_job: StartJob, manager: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1", "S2"))
    work = hand_out(job)
    job.tell(ImageDone(work.index, OK))

    job.tell(ImageDone(99, OK))  # no such image: the actor raises and pykka stops it

    finish = commit(store)  # the dead actor cannot hear back: the store tells the manager
    assert finish.notify == manager.ref
    assert finish.status.state is JobState.FAILED
    assert [e.store_id for e in finish.status.errors] == ["S2"]
    outcomes = recorded(store)
    assert outcomes[0] == OK
    assert outcomes[1].error is not None
    assert "internal error in job 7" in outcomes[1].error
    assert manager.wait_for(JobFinished) == [JobFinished(7, finish.status)]
    wait_until_stopped(job)


class BrokenStoreMaster(StoreMaster):
    def __contains__(self, store_id: object) -> bool:
        raise RuntimeError("store master lookup broke")


def test_a_crash_while_starting_still_finishes_the_job_as_failed(
    manager: Probe, dispatcher: Probe, store: Probe, clock: ManualClock
) -> None:
    job = JobActor.start(
        JobOrder(7, specs("S1", "S2"), SUBMITTED_AT),
        manager=manager.ref,
        dispatcher=dispatcher.ref,
        store=store.ref,
        store_master=BrokenStoreMaster([]),
        clock=clock,
    )

    final = commit(store).status
    assert final.state is JobState.FAILED
    assert [e.store_id for e in final.errors] == ["S1", "S2"]
    assert "store master lookup broke" in final.errors[0].error
    assert sorted(recorded(store)) == [0, 1]
    manager.wait_for(JobFinished)
    wait_until_stopped(job)


def test_outcomes_not_yet_saved_go_to_the_store_when_the_job_is_stopped(
    start_job: StartJob, store: Probe
) -> None:
    """Outcomes go to the store once the inbox is empty; a stop behind them in the inbox
    must not drop them, or a restart would download those images again."""
    job = start_job(specs(*["S1"] * 500))
    work = [hand_out(job) for _ in range(499)]

    # One message with 499 outcomes, then the stop: the job is still busy with the
    # first when the second arrives, so its inbox is not empty when it would save.
    job.tell(Batch(tuple(ImageDone(each.index, OK) for each in work)))
    job.stop(block=True, timeout=WAIT)

    assert sorted(recorded(store)) == list(range(499))


def test_job_still_stops_when_its_manager_is_gone(
    start_job: StartJob, manager: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"))
    work = hand_out(job)
    manager.kill()

    job.tell(ImageDone(work.index, OK))
    commit(store)

    wait_until_stopped(job)


def test_job_tells_the_events_ref_when_it_starts_and_when_it_ends(
    start_job: StartJob, probe: Callable[[str], Probe], manager: Probe, store: Probe
) -> None:
    events = probe("events")
    job = start_job(specs("S1", "S9", "S2"), events=events.ref)
    [started] = events.wait_for(JobStarted)
    urn = job.actor_urn

    for _ in range(2):
        work = hand_out(job)
        job.tell(ImageDone(work.index, OK))

    commit(store)
    manager.wait_for(JobFinished)
    assert started == JobStarted(7, urn, images=3, to_download=2)
    assert events.messages(JobEnded) == [JobEnded(7, urn, "failed", images=3, failed=1)]


def test_job_logs_its_start_each_failed_image_and_its_end_as_key_value_lines(
    start_job: StartJob,
    manager: Probe,
    store: Probe,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="retailpulse.actors.job")
    clock.advance(1.5)
    start_job(specs("S9"))

    commit(store)
    manager.wait_for(JobFinished)
    lines = [r.getMessage() for r in caplog.records if r.name == "retailpulse.actors.job"]
    assert lines == [
        "job=7 event=job_started images=1 already_done=0 to_download=0",
        f"job=7 store=S9 event=image_failed url={url(0)} reason="
        '"store_id S9 is not in the store master; its images were not downloaded"',
        "job=7 event=job_finished status=failed images=1 done=1 failed=1 seconds=1.500",
    ]


def test_job_reports_its_end_to_the_manager_itself_when_the_store_is_gone(
    start_job: StartJob, manager: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"))
    work = hand_out(job)
    store.kill()

    job.tell(ImageDone(work.index, OK))

    [finished] = manager.wait_for(JobFinished)
    assert finished.status.state is JobState.COMPLETED
    wait_until_stopped(job)


# --- resuming --------------------------------------------------------------------


def test_a_resumed_job_keeps_its_outcomes_and_hands_out_only_the_rest(
    start_job: StartJob, dispatcher: Probe, store: Probe, probe: Callable[[str], Probe]
) -> None:
    failed = ImageOutcome.failed("earlier failure")
    job = start_job(specs("S1", "S2", "S3", "S1"), preloaded=((0, OK), (2, failed)))

    assert offer_of(job).todo == (1, 3)
    assert status(job).progress == Progress(4, 2, 1)
    assert [hand_out(job).index for n in range(2)] == [1, 3]
    assert store.messages(RecordOutcomes) == []  # what is stored is not written again
    assert results(job).outcomes[:3] == (OK, None, failed)


def test_a_resumed_job_with_every_outcome_ends_at_once(
    start_job: StartJob, dispatcher: Probe, store: Probe
) -> None:
    job = start_job(specs("S1", "S2"), preloaded=((0, OK), (1, OK)))

    finish = commit(store)

    assert finish.status.state is JobState.COMPLETED
    assert finish.status.progress == Progress(2, 2, 0)
    assert dispatcher.messages() == []
    wait_until_stopped(job)


# --- cancelling -------------------------------------------------------------------


def test_cancel_withdraws_the_offer_lets_images_handed_out_finish_then_ends_cancelled(
    start_job: StartJob, dispatcher: Probe, store: Probe, manager: Probe
) -> None:
    job = start_job(specs("S1", "S2", "S3", "S1"))
    first, second = hand_out(job), hand_out(job)
    job.tell(ImageDone(first.index, OK))

    answer = cancel(job)

    assert answer == CancelAnswer(
        JobStatus(7, JobState.ONGOING, Progress(4, 1), SUBMITTED_AT), True
    )
    assert dispatcher.wait_for(WithdrawOffer) == [WithdrawOffer(job)]
    job.tell(OfferWithdrawn((2, 3)))  # the dispatcher never handed out images 2 and 3
    assert status(job).state is JobState.ONGOING  # image 1 was handed out: it will report
    assert store.messages(FinishJob) == []

    job.tell(ImageDone(second.index, OK))

    finish = commit(store)
    assert finish.status.state is JobState.CANCELLED
    assert finish.status.progress == Progress(4, 2, 0)
    assert finish.status.to_dict()["status"] == "cancelled"
    assert sorted(recorded(store)) == [0, 1]
    assert manager.wait_for(JobFinished) == [JobFinished(7, finish.status)]
    wait_until_stopped(job)


def test_a_cancelled_job_waits_for_the_dispatcher_to_say_what_it_never_handed_out(
    start_job: StartJob, dispatcher: Probe, store: Probe
) -> None:
    job = start_job(specs("S1", "S2"))
    work = hand_out(job)
    cancel(job)
    job.tell(ImageDone(work.index, OK))

    # Image 1 may still be on its way to a worker: until the dispatcher answers, the job
    # cannot know, so it does not end.
    assert status(job).progress == Progress(2, 1)
    assert store.messages(FinishJob) == []

    job.tell(OfferWithdrawn((1,)))

    assert commit(store).status.progress == Progress(2, 1, 0)
    wait_until_stopped(job)


def test_cancel_with_nothing_handed_out_ends_the_job_once_the_offer_is_withdrawn(
    start_job: StartJob, dispatcher: Probe, store: Probe
) -> None:
    job = start_job(specs("S1", "S2"))

    assert cancel(job).cancelled
    dispatcher.wait_for(WithdrawOffer)
    job.tell(OfferWithdrawn((0, 1)))

    finish = commit(store)
    assert finish.status.state is JobState.CANCELLED
    assert finish.status.progress == Progress(2, 0, 0)
    wait_until_stopped(job)


def test_a_second_cancel_is_a_no_op(start_job: StartJob, probe: Callable[[str], Probe]) -> None:
    job = start_job(specs("S1", "S2"))
    hand_out(job)

    first, second = cancel(job), cancel(job)

    assert (first.cancelled, second.cancelled) == (True, False)


def test_cancel_after_the_last_outcome_does_not_change_how_the_job_ended(
    start_job: StartJob, store: Probe, probe: Callable[[str], Probe]
) -> None:
    job = start_job(specs("S1"))
    job.tell(ImageDone(hand_out(job).index, OK))
    store.wait_for(FinishJob)

    answer = cancel(job)

    assert not answer.cancelled
    assert answer.status.state is JobState.COMPLETED
    assert commit(store).status == answer.status
