"""JobManager alone: the job store and every chunk actor it starts are probes; the test
plays the store's replies."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors import JobManager
from retailpulse.actors.messages import (
    AwaitJob,
    Beat,
    BeatDone,
    CancelHere,
    CancelJob,
    ChunkDone,
    ChunkDrained,
    ChunksClaimed,
    ClaimChunks,
    JobEnded,
    JobFinished,
    PollEnded,
    ReleaseNode,
    RunJob,
    StatusesPolled,
    WhichNode,
    WithdrawOffer,
)
from retailpulse.model import JobOrder, JobState, JobStatus, Progress, StoreInfo
from retailpulse.stores.jobstore import Chunk, Heartbeat
from retailpulse.submission import ImageSpec
from retailpulse.testing import ManualClock

from .conftest import WAIT, Probe, wait_until

Ref = pykka.ActorRef[Any]
Node = tuple[Ref, Probe, list[Probe]]
KNOWN = {"S1": StoreInfo("One", "7")}


def chunk(job_id: int = 5, number: int = 0) -> Chunk:
    images = (ImageSpec("S1", "https://img.example/a.jpg"),)
    return Chunk(job_id, number, 64 * number, images, 1_700_000_000.0, frozenset(), KNOWN)


def ended(job_id: int = 5, state: JobState = JobState.COMPLETED) -> JobStatus:
    return JobStatus(job_id, state, Progress(2, 2, 0), 1.0, finished_at=2.5)


@pytest.fixture
def node(probe: Callable[[str], Probe]) -> Callable[..., Node]:
    """Start node 3's manager; each chunk it starts is a probe, listed in order."""

    def start(
        gpu_slots: int = 64, events: Probe | None = None, dispatcher: Probe | None = None
    ) -> Node:
        store = probe("store")
        started: list[Probe] = []

        def start_chunk(c: Chunk, manager: Ref) -> Ref:
            started.append(probe(f"chunk {c.job_id}/{c.number}"))
            return started[-1].ref

        ref = JobManager.start(
            start_chunk,
            store.ref,
            node=3,
            gpu_slots=gpu_slots,
            clock=ManualClock(100.0),
            lease=15.0,
            heartbeat=1.0,
            events=None if events is None else events.ref,
            dispatcher=None if dispatcher is None else dispatcher.ref,
        )
        return ref, store, started

    return start


def wait_for(ref: Ref, job_id: int) -> "pykka.Future[JobStatus | None]":
    future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
    ref.tell(AwaitJob(job_id, future))
    return future


def test_the_manager_beats_and_claims_enough_chunks_for_twice_its_gpu_slots(
    node: Callable[..., Node],
) -> None:
    ref, store, _ = node(gpu_slots=256)

    (beat,) = store.wait_for(Beat)
    (claim,) = store.wait_for(ClaimChunks)

    assert (beat.node, beat.lease_s) == (3, 15.0)
    assert (claim.node, claim.limit, claim.lease_s) == (3, 8, 15.0)
    ref.stop(timeout=WAIT)


def full(node: Callable[..., Node]) -> Node:
    """A node (64 GPU slots) given the two chunks that fill it, which found no new job."""
    ref, store, started = node()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0), chunk(number=1))))
    wait_until(lambda: len(started) == 2, "both chunks started")
    store.wait_for(ClaimChunks, count=2)  # full: it looks for new jobs
    ref.tell(ChunksClaimed(()))  # none
    return ref, store, started


def test_claimed_chunks_are_started_and_a_finished_one_makes_room_for_another(
    node: Callable[..., Node],
) -> None:
    ref, store, _ = full(node)

    ref.tell(ChunkDone(5, 0))

    claims = store.wait_for(ClaimChunks, count=3)
    assert (claims[-1].limit, claims[-1].new_jobs_only) == (1, False)
    ref.stop(timeout=WAIT)
    assert store.wait_for(ReleaseNode)[0].node == 3


def test_a_drained_chunk_makes_room_for_the_next_before_it_ends(
    node: Callable[..., Node],
) -> None:
    ref, store, started = full(node)

    ref.tell(ChunkDrained(5, 0))

    claims = store.wait_for(ClaimChunks, count=3)
    assert (claims[-1].limit, claims[-1].new_jobs_only) == (1, False)
    ref.tell(ChunksClaimed((chunk(number=2),)))
    wait_until(lambda: len(started) == 3, "the next chunk started")
    assert started[0].messages(CancelJob) == []  # it goes on with its images in work
    ref.stop(timeout=WAIT)


def test_a_new_job_is_claimed_at_once_when_there_is_room(node: Callable[..., Node]) -> None:
    ref, store, _ = node()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed(()))  # nothing to do yet

    ref.tell(RunJob(JobOrder(6, (), 1.0)))

    store.wait_for(ClaimChunks, count=2)
    ref.stop(timeout=WAIT)


def test_a_full_node_still_takes_the_first_chunks_of_jobs_nobody_has_started(
    node: Callable[..., Node],
) -> None:
    """Two chunks make it full (64 GPU slots); new jobs may add two more, never more."""
    ref, store, started = node()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(5, 0), chunk(5, 1))))
    wait_until(lambda: len(started) == 2, "the node is full")

    ref.tell(RunJob(JobOrder(6, (), 1.0)))
    (_, fresh) = store.wait_for(ClaimChunks, count=2)
    ref.tell(ChunksClaimed((chunk(6, 0), chunk(7, 0))))
    wait_until(lambda: len(started) == 4, "the new jobs' chunks started")
    ref.tell(RunJob(JobOrder(8, (), 1.0)))
    ref.ask(WhichNode(), timeout=WAIT)  # the RunJob is handled

    assert (fresh.limit, fresh.new_jobs_only) == (2, True)
    assert len(store.messages(ClaimChunks)) == 2  # four chunks: no room, even for new jobs
    ref.stop(timeout=WAIT)


def test_a_heartbeat_naming_an_ended_job_stops_its_chunks(node: Callable[..., Node]) -> None:
    ref, store, started = node()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0),)))
    wait_until(lambda: len(started) == 1, "the chunk started")

    ref.tell(BeatDone(Heartbeat(0, frozenset({5}), frozenset())))

    started[0].wait_for(CancelJob)
    ref.stop(timeout=WAIT)


def test_a_chunk_taken_over_by_another_node_is_stopped_here(node: Callable[..., Node]) -> None:
    ref, store, started = node()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0), chunk(number=1))))
    wait_until(lambda: len(started) == 2, "both chunks started")

    ref.tell(BeatDone(Heartbeat(0, frozenset(), frozenset({(5, 1)}))))

    started[0].wait_for(CancelJob)
    assert started[1].messages(CancelJob) == []
    ref.stop(timeout=WAIT)


def test_a_waiter_is_woken_by_the_commit_that_ended_the_job(node: Callable[..., Node]) -> None:
    ref, _, _ = node()
    future = wait_for(ref, 5)

    ref.tell(JobFinished(5, ended()))

    assert future.get(timeout=WAIT) == ended()
    ref.stop(timeout=WAIT)


def test_a_waiter_asks_the_store_at_once_and_is_woken_by_an_end_it_reads(
    node: Callable[..., Node],
) -> None:
    """A job another node ended, or one that had ended before the wait began."""
    ref, store, _ = node()
    future = wait_for(ref, 5)

    (poll,) = store.wait_for(PollEnded)
    ongoing = JobStatus(5, JobState.ONGOING, Progress(2, 1, 0), 1.0)
    ref.tell(StatusesPolled(((5, ongoing),)))
    ref.tell(StatusesPolled(((5, ended(state=JobState.FAILED)),)))

    assert poll.job_ids == (5,)
    assert future.get(timeout=WAIT) == ended(state=JobState.FAILED)
    ref.stop(timeout=WAIT)


def test_a_waiter_for_a_job_the_store_does_not_know_gets_none(node: Callable[..., Node]) -> None:
    ref, store, _ = node()
    future = wait_for(ref, 404)
    store.wait_for(PollEnded)

    ref.tell(StatusesPolled(((404, None),)))

    assert future.get(timeout=WAIT) is None
    ref.stop(timeout=WAIT)


def test_a_cancel_here_stops_the_jobs_chunks_wakes_its_waiters_and_counts_it_once(
    node: Callable[..., Node], probe: Callable[[str], Probe]
) -> None:
    events, dispatcher = probe("events"), probe("dispatcher")
    ref, store, started = node(events=events, dispatcher=dispatcher)
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0),)))
    wait_until(lambda: len(started) == 1, "the chunk started")
    future = wait_for(ref, 5)
    cancelled = ended(state=JobState.CANCELLED)

    ref.ask(CancelHere(5, cancelled), timeout=WAIT)
    ref.tell(CancelHere(5))  # a second cancel: the job had ended, nothing to count

    # The manager withdraws the offer itself: the chunk's own withdrawal is a hop later.
    assert dispatcher.wait_for(WithdrawOffer)[0].job == started[0].ref
    started[0].wait_for(CancelJob)
    assert future.get(timeout=WAIT) == cancelled
    ref.stop(timeout=WAIT)
    assert events.messages(JobEnded) == [JobEnded(5, "cancelled")]


def test_an_end_committed_here_is_told_to_the_events_ref_and_logged(
    node: Callable[..., Node], probe: Callable[[str], Probe], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="retailpulse.actors.manager")
    events = probe("events")
    ref, _, _ = node(events=events)

    ref.tell(JobFinished(5, ended()))

    assert events.wait_for(JobEnded) == [JobEnded(5, "completed")]
    lines = [r.getMessage() for r in caplog.records if r.name == "retailpulse.actors.manager"]
    assert lines == [
        "job=5 event=job_finished status=completed images=2 done=2 failed=0 seconds=1.500"
    ]
    ref.stop(timeout=WAIT)


def test_stopping_the_manager_stops_its_chunks_and_releases_its_waiters(
    node: Callable[..., Node],
) -> None:
    ref, store, started = node()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0),)))
    wait_until(lambda: len(started) == 1, "the chunk started")
    future = wait_for(ref, 5)

    ref.stop(timeout=WAIT)

    with pytest.raises(pykka.ActorDeadError):
        future.get(timeout=WAIT)
    assert not started[0].ref.is_alive()
    assert store.wait_for(ReleaseNode)[0].node == 3
