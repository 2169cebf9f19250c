"""JobStoreActor alone: a memory store (wrapped to count and fail writes) and probes."""

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pykka
import pytest

from retailpulse.actors import JobStoreActor
from retailpulse.actors.messages import (
    CountOngoing,
    DeliveryTick,
    JobFinished,
    ListJobs,
    ReadFigures,
    ReadImagePage,
    ReadResults,
    ReadStatus,
    RecordChunkOutcomes,
    SubmitJob,
    Submitted,
    WatchDeliveries,
)
from retailpulse.model import (
    ImageOutcome,
    ImagePage,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    Progress,
    StoreFigures,
    StoreInfo,
)
from retailpulse.stores import (
    JobStoreError,
    MemoryJobStore,
    OutcomeRecord,
    Store,
    StoreMaster,
)
from retailpulse.submission import ImageSpec
from retailpulse.testing import ManualClock

from .conftest import WAIT, Probe, wait_until

Ref = pykka.ActorRef[Any]

T0 = 1_700_000_000.0
DAY = 86_400.0
OK = ImageOutcome.measured(4, 3)


class CountingStore(MemoryJobStore):
    """A memory store that counts writes, can fail the next ones, and can hold
    ``create_job`` until the test opens ``gate``."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []  # outcomes per committed write
        self.failures_left = 0
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False

    def create_job(
        self,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> int:
        self.gate.wait(WAIT)
        return super().create_job(
            images, submitted_at, stores, owner=owner, callback_url=callback_url
        )

    def record_outcomes(self, outcomes: Sequence[OutcomeRecord], now: float) -> list[JobStatus]:
        if self.failures_left:
            self.failures_left -= 1
            raise JobStoreError("disk full")
        ended = super().record_outcomes(outcomes, now)
        self.writes.append(len(outcomes))
        return ended

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def inner() -> CountingStore:
    return CountingStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def start_store(inner: CountingStore, clock: ManualClock) -> Callable[..., Ref]:
    def start(**options: Any) -> Ref:
        return JobStoreActor.start(lambda: inner, clock=clock, retention=7 * DAY, **options)

    return start


def ask(store: Ref, question: object) -> Any:
    return store.ask(question, block=True, timeout=WAIT)


def submit(store: Ref, specs: tuple[ImageSpec, ...]) -> JobOrder:
    submitted: Submitted = ask(store, SubmitJob(specs))
    assert submitted.order is not None
    return submitted.order


def create(store: Ref, images: int = 2) -> JobOrder:
    return submit(
        store, tuple(ImageSpec("S1", f"https://img.example/{n}.jpg") for n in range(images))
    )


def record(store: Ref, job_id: int, indexes: range | tuple[int, ...], notify: Probe) -> None:
    store.tell(RecordChunkOutcomes(job_id, tuple((i, OK) for i in indexes), notify.ref))


def hold(store: Ref, inner: CountingStore) -> "pykka.Future[Any]":
    """Keep the store actor busy on a submit until ``inner.gate`` opens."""
    inner.gate.clear()
    return store.ask(SubmitJob(()), block=False)


def test_a_created_job_gets_the_next_id_and_the_store_clock_time(
    start_store: Callable[..., Ref], clock: ManualClock
) -> None:
    store = start_store()
    first = create(store)
    clock.advance(5)

    second = create(store, images=3)

    assert (first.job_id, second.job_id) == (1, 2)
    assert second.submitted_at == T0 + 5
    assert len(second.images) == 3


def test_outcomes_told_before_a_question_are_in_its_answer(
    start_store: Callable[..., Ref], probe: Callable[[str], Probe]
) -> None:
    store = start_store()
    job_id = create(store).job_id

    record(store, job_id, (1,), probe("manager"))
    results: JobResults = ask(store, ReadResults(job_id))

    assert results.outcomes == (None, OK)
    assert results.status.progress == Progress(2, 1, 0)


def test_the_end_of_a_job_is_announced_after_the_commit_of_its_last_outcome(
    start_store: Callable[..., Ref], inner: CountingStore, probe: Callable[[str], Probe]
) -> None:
    store = start_store()
    manager = probe("manager")
    job_id = create(store).job_id
    blocked = hold(store, inner)

    record(store, job_id, (0,), manager)
    record(store, job_id, (1,), manager)
    assert manager.messages() == []
    inner.gate.set()
    blocked.get(timeout=WAIT)

    [finished] = manager.wait_for(JobFinished)
    assert (finished.job_id, finished.status.state) == (job_id, JobState.COMPLETED)
    assert finished.status.finished_at == T0
    assert inner.writes == [2]  # both outcomes, and the ending: one transaction
    status: JobStatus = ask(store, ReadStatus(job_id))
    assert status == finished.status


def test_a_flood_of_outcomes_is_written_in_few_transactions(
    start_store: Callable[..., Ref], inner: CountingStore, probe: Callable[[str], Probe]
) -> None:
    store = start_store(max_batch=1_000)
    manager = probe("manager")
    job_id = create(store, images=10_000).job_id
    blocked = hold(store, inner)
    for index in range(10_000):
        record(store, job_id, (index,), manager)
    inner.gate.set()
    blocked.get(timeout=WAIT)

    status: JobStatus = ask(store, ReadStatus(job_id))

    assert status.progress == Progress(10_000, 10_000, 0)
    assert sum(inner.writes) == 10_000
    assert len(inner.writes) <= 11
    assert len(manager.wait_for(JobFinished)) == 1


def test_a_failed_write_is_retried_and_the_end_is_announced_only_once_it_succeeds(
    start_store: Callable[..., Ref], inner: CountingStore, probe: Callable[[str], Probe]
) -> None:
    store = start_store(tick=0.02)
    manager = probe("manager")
    job_id = create(store).job_id
    inner.failures_left = 3

    record(store, job_id, (0, 1), manager)

    [finished] = manager.wait_for(JobFinished)
    assert finished.job_id == job_id
    assert inner.failures_left == 0
    assert inner.writes == [2]


def test_finished_jobs_are_purged_after_the_retention_time(
    start_store: Callable[..., Ref], clock: ManualClock, probe: Callable[[str], Probe]
) -> None:
    store = start_store(purge_interval=60)
    manager = probe("manager")
    old, recent = create(store).job_id, create(store).job_id
    record(store, old, (0, 1), manager)
    manager.wait_for(JobFinished)
    clock.advance(2 * DAY)
    record(store, recent, (0, 1), manager)
    manager.wait_for(JobFinished, 2)

    clock.advance(5 * DAY + 1)

    assert ask(store, ReadStatus(old)) is None
    assert ask(store, ReadStatus(recent)) is not None
    clock.advance(2 * DAY)
    assert ask(store, ReadStatus(recent)) is None


def test_many_expired_jobs_are_purged_in_chunks_until_none_is_left(
    start_store: Callable[..., Ref], clock: ManualClock, probe: Callable[[str], Probe]
) -> None:
    store = start_store()
    manager = probe("manager")
    ids = [create(store).job_id for _ in range(50)]
    for job_id in ids:
        record(store, job_id, (0, 1), manager)
    manager.wait_for(JobFinished, 50)
    clock.advance(8 * DAY)

    ask(store, ListJobs(1, None))  # the first chunk, then more on its own

    wait_until(lambda: ask(store, ListJobs(100, None)) == [], "every expired job is purged")


def test_jobs_no_chunk_of_which_was_claimed_are_counted_as_queued(
    start_store: Callable[..., Ref], probe: Callable[[str], Probe]
) -> None:
    store = start_store()
    manager = probe("manager")
    ended, waiting = create(store).job_id, create(store).job_id
    record(store, ended, (0, 1), manager)
    manager.wait_for(JobFinished)

    counts: tuple[int, int] = ask(store, CountOngoing())
    status: JobStatus = ask(store, ReadStatus(waiting))

    assert counts == (1, 1)
    assert status.queued


def test_a_store_that_cannot_be_opened_answers_every_question_with_the_reason(
    clock: ManualClock,
) -> None:
    def broken() -> MemoryJobStore:
        raise JobStoreError("/nowhere/jobs.db: cannot open the job store")

    store = JobStoreActor.start(broken, clock=clock, retention=DAY)

    with pytest.raises(JobStoreError, match=r"/nowhere/jobs\.db"):
        ask(store, ReadStatus(1))
    assert store.is_alive()


def test_stopping_commits_what_is_buffered_and_closes_the_store(
    start_store: Callable[..., Ref], inner: CountingStore, probe: Callable[[str], Probe]
) -> None:
    store = start_store()
    job_id = create(store).job_id
    blocked = hold(store, inner)
    record(store, job_id, (0,), probe("manager"))
    stopped = store.stop(block=False)
    inner.gate.set()

    blocked.get(timeout=WAIT)
    stopped.get(timeout=WAIT)

    assert inner.closed
    status = inner.job_status(job_id)
    assert status is not None
    assert status.progress == Progress(2, 1, 0)


def test_a_job_is_stored_with_its_stores_as_the_master_has_them_and_read_by_page(
    start_store: Callable[..., Ref], probe: Callable[[str], Probe]
) -> None:
    master = StoreMaster([Store("S1", "Corner Shop", "A7"), Store("S2", "Elsewhere", "B1")])
    store = start_store(store_master=master)
    specs = (
        ImageSpec("S1", "https://img.example/a.jpg"),
        ImageSpec("S9", "https://img.example/b.jpg"),
    )
    job_id = submit(store, specs).job_id

    record(store, job_id, (0,), probe("manager"))
    page: ImagePage = ask(store, ReadImagePage(job_id, 0, 1))
    figures: list[StoreFigures] = ask(store, ReadFigures(job_id, "store"))

    assert [(r.spec, r.store, r.outcome) for r in page.images] == [
        (specs[0], StoreInfo("Corner Shop", "A7"), OK)
    ]
    assert page.next == 1
    assert [(f.store_id, f.store, f.measured) for f in figures] == [
        ("S1", StoreInfo("Corner Shop", "A7"), 1),
        ("S9", None, 0),
    ]
    assert ask(store, ReadImagePage(job_id + 1, 0, 1)) is None


def test_a_commit_that_ends_jobs_tells_the_delivery_watcher(
    start_store: Callable[..., Ref], probe: Callable[[str], Probe]
) -> None:
    store = start_store()
    watcher, manager = probe("webhooks"), probe("manager")
    store.tell(WatchDeliveries(watcher.ref))
    job_id = create(store).job_id
    record(store, job_id, (0,), manager)
    ask(store, ReadStatus(job_id))  # that commit is made
    assert watcher.messages(DeliveryTick) == []  # an outcome alone: nothing to send

    record(store, job_id, (1,), manager)

    manager.wait_for(JobFinished)
    assert len(watcher.wait_for(DeliveryTick)) == 1
