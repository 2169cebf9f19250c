"""ChunkActor and ClusterManager alone: dispatcher, job store and manager are probes;
the test plays the dispatcher's workers and the store's replies."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors.cluster import ChunkActor, ClusterManager
from retailpulse.actors.messages import (
    AwaitJob,
    Beat,
    BeatDone,
    CancelJob,
    ChunkDone,
    ChunksClaimed,
    ClaimChunks,
    ImageDone,
    JobFinished,
    OfferImages,
    OfferWithdrawn,
    RecordChunkOutcomes,
    ReleaseNode,
    WithdrawOffer,
)
from retailpulse.model import ImageOutcome, JobState, JobStatus, Progress, StoreInfo
from retailpulse.stores.jobstore import Chunk, Heartbeat
from retailpulse.submission import ImageSpec
from retailpulse.testing import ManualClock

from .conftest import WAIT, Probe, wait_until, wait_until_stopped

Ref = pykka.ActorRef[Any]
OK = ImageOutcome.measured(10, 20)
KNOWN = {"S1": StoreInfo("One", "7")}


def chunk(job_id: int = 5, number: int = 2, stores: tuple[str, ...] = ("S1", "S1")) -> Chunk:
    first = 64 * number
    images = tuple(ImageSpec(s, f"https://img.example/{n}.jpg") for n, s in enumerate(stores))
    return Chunk(job_id, number, first, images, 1_700_000_000.0, frozenset(), KNOWN)


@pytest.fixture
def start_chunk(
    probe: Callable[[str], Probe],
) -> Callable[[Chunk], tuple[Ref, Probe, Probe, Probe]]:
    def start(c: Chunk) -> tuple[Ref, Probe, Probe, Probe]:
        manager, dispatcher, store = probe("manager"), probe("dispatcher"), probe("store")
        ref = ChunkActor.start(c, manager=manager.ref, dispatcher=dispatcher.ref, store=store.ref)
        return ref, manager, dispatcher, store

    return start


def recorded(store: Probe) -> dict[int, ImageOutcome]:
    return {i: o for m in store.messages(RecordChunkOutcomes) for i, o in m.outcomes}


def test_a_chunk_offers_its_images_and_records_their_outcomes_by_job_index(
    start_chunk: Callable[[Chunk], tuple[Ref, Probe, Probe, Probe]],
) -> None:
    ref, manager, dispatcher, store = start_chunk(chunk())
    (offer,) = dispatcher.wait_for(OfferImages)

    ref.tell(ImageDone(1, OK))
    ref.tell(ImageDone(0, OK))

    (done,) = manager.wait_for(ChunkDone)
    wait_until_stopped(ref)
    assert offer.todo == (0, 1)
    assert recorded(store) == {128: OK, 129: OK}
    assert (done.job_id, done.number) == (5, 2)


def test_an_image_of_an_unknown_store_fails_without_being_offered(
    start_chunk: Callable[[Chunk], tuple[Ref, Probe, Probe, Probe]],
) -> None:
    ref, manager, dispatcher, store = start_chunk(chunk(stores=("S9", "S1")))
    (offer,) = dispatcher.wait_for(OfferImages)

    ref.tell(ImageDone(1, OK))

    manager.wait_for(ChunkDone)
    outcomes = recorded(store)
    assert offer.todo == (1,)
    assert outcomes[129] == OK
    assert outcomes[128].error is not None
    assert "S9 is not in the store master" in outcomes[128].error


def test_a_cancelled_chunk_stops_once_the_images_handed_out_have_reported(
    start_chunk: Callable[[Chunk], tuple[Ref, Probe, Probe, Probe]],
) -> None:
    ref, manager, dispatcher, _ = start_chunk(chunk())
    dispatcher.wait_for(OfferImages)

    ref.tell(CancelJob(5))
    dispatcher.wait_for(WithdrawOffer)
    ref.tell(OfferWithdrawn((1,)))
    assert manager.messages(ChunkDone) == []
    ref.tell(ImageDone(0, OK))

    manager.wait_for(ChunkDone)
    wait_until_stopped(ref)


@pytest.fixture
def cluster(probe: Callable[[str], Probe]) -> Callable[..., tuple[Ref, Probe, list[Probe]]]:
    """Start node 3's manager; each chunk it starts is a probe, listed in order."""

    def start(gpu_slots: int = 64) -> tuple[Ref, Probe, list[Probe]]:
        store = probe("store")
        started: list[Probe] = []

        def start_chunk(c: Chunk, manager: Ref) -> Ref:
            started.append(probe(f"chunk {c.job_id}/{c.number}"))
            return started[-1].ref

        ref = ClusterManager.start(
            start_chunk,
            store.ref,
            node=3,
            gpu_slots=gpu_slots,
            clock=ManualClock(100.0),
            lease=15.0,
            heartbeat=1.0,
        )
        return ref, store, started

    return start


def test_the_manager_beats_and_claims_enough_chunks_for_twice_its_gpu_slots(
    cluster: Callable[..., tuple[Ref, Probe, list[Probe]]],
) -> None:
    ref, store, _ = cluster(gpu_slots=256)

    (beat,) = store.wait_for(Beat)
    (claim,) = store.wait_for(ClaimChunks)

    assert (beat.node, beat.lease_s) == (3, 15.0)
    assert (claim.node, claim.limit, claim.lease_s) == (3, 8, 15.0)
    ref.stop(timeout=WAIT)


def test_claimed_chunks_are_started_and_a_finished_one_makes_room_for_another(
    cluster: Callable[..., tuple[Ref, Probe, list[Probe]]],
) -> None:
    ref, store, started = cluster()
    store.wait_for(ClaimChunks)

    ref.tell(ChunksClaimed((chunk(number=0), chunk(number=1))))
    wait_until(lambda: len(started) == 2, "both chunks started")
    ref.tell(ChunkDone(5, 0))

    claims = store.wait_for(ClaimChunks, count=2)
    assert claims[-1].limit == 1
    ref.stop(timeout=WAIT)
    assert store.wait_for(ReleaseNode)[0].node == 3


def test_a_heartbeat_naming_an_ended_job_stops_its_chunks(
    cluster: Callable[..., tuple[Ref, Probe, list[Probe]]],
) -> None:
    ref, store, started = cluster()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0),)))
    wait_until(lambda: len(started) == 1, "the chunk started")

    ref.tell(BeatDone(Heartbeat(0, frozenset({5}), frozenset())))

    started[0].wait_for(CancelJob)
    ref.stop(timeout=WAIT)


def test_a_chunk_taken_over_by_another_node_is_stopped_here(
    cluster: Callable[..., tuple[Ref, Probe, list[Probe]]],
) -> None:
    ref, store, started = cluster()
    store.wait_for(ClaimChunks)
    ref.tell(ChunksClaimed((chunk(number=0), chunk(number=1))))
    wait_until(lambda: len(started) == 2, "both chunks started")

    ref.tell(BeatDone(Heartbeat(0, frozenset(), frozenset({(5, 1)}))))

    started[0].wait_for(CancelJob)
    assert started[1].messages(CancelJob) == []
    ref.stop(timeout=WAIT)


def test_a_waiter_is_woken_by_the_commit_that_ended_the_job(
    cluster: Callable[..., tuple[Ref, Probe, list[Probe]]],
) -> None:
    ref, _, _ = cluster()
    future: pykka.Future[JobStatus | None] = pykka.ThreadingFuture()
    ref.tell(AwaitJob(5, future))
    status = JobStatus(5, JobState.COMPLETED, Progress(2, 2, 0), 1.0, finished_at=2.0)

    ref.tell(JobFinished(5, status))

    assert future.get(timeout=WAIT) == status
    ref.stop(timeout=WAIT)
