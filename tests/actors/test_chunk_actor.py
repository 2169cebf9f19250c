"""ChunkActor alone: dispatcher, job store, manager and metrics are probes; the test
plays the dispatcher's workers."""

from collections.abc import Callable
from typing import Any

import pykka
import pytest

from retailpulse.actors.chunk import ChunkActor
from retailpulse.actors.messages import (
    Batch,
    CancelJob,
    ChunkDone,
    ChunkDrained,
    ChunkEnded,
    ChunkStarted,
    ImageDone,
    OfferDrained,
    OfferImages,
    OfferWithdrawn,
    RecordChunkOutcomes,
    WithdrawOffer,
)
from retailpulse.model import ImageOutcome, StoreInfo
from retailpulse.stores.jobstore import Chunk
from retailpulse.submission import ImageSpec

from .conftest import Probe, wait_until_stopped

Ref = pykka.ActorRef[Any]
OK = ImageOutcome.measured(10, 20)
KNOWN = {"S1": StoreInfo("One", "7")}
StartChunk = Callable[..., tuple[Ref, Probe, Probe, Probe]]


def chunk(
    job_id: int = 5,
    number: int = 2,
    stores: tuple[str, ...] = ("S1", "S1"),
    done: frozenset[int] = frozenset(),
) -> Chunk:
    first = 64 * number
    images = tuple(ImageSpec(s, url(n)) for n, s in enumerate(stores))
    return Chunk(job_id, number, first, images, 1_700_000_000.0, done, KNOWN)


def url(n: int) -> str:
    return f"https://img.example/{n}.jpg"


@pytest.fixture
def start_chunk(probe: Callable[[str], Probe]) -> StartChunk:
    def start(c: Chunk, events: Probe | None = None) -> tuple[Ref, Probe, Probe, Probe]:
        manager, dispatcher, store = probe("manager"), probe("dispatcher"), probe("store")
        ref = ChunkActor.start(
            c,
            manager=manager.ref,
            dispatcher=dispatcher.ref,
            store=store.ref,
            events=None if events is None else events.ref,
        )
        return ref, manager, dispatcher, store

    return start


def recorded(store: Probe) -> dict[int, ImageOutcome]:
    """Every outcome told to the store, by job index; each told once only."""
    told = [(i, o) for m in store.messages(RecordChunkOutcomes) for i, o in m.outcomes]
    assert len(told) == len(dict(told)), f"an outcome was told twice: {told}"
    return dict(told)


def test_a_chunk_offers_its_images_and_records_their_outcomes_by_job_index(
    start_chunk: StartChunk,
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
    start_chunk: StartChunk,
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


def test_images_that_already_have_an_outcome_are_not_offered_again(
    start_chunk: StartChunk,
) -> None:
    ref, manager, dispatcher, store = start_chunk(chunk(stores=("S1",) * 3, done=frozenset({129})))
    (offer,) = dispatcher.wait_for(OfferImages)

    ref.tell(ImageDone(0, OK))
    ref.tell(ImageDone(2, OK))

    manager.wait_for(ChunkDone)
    assert offer.todo == (0, 2)
    assert sorted(recorded(store)) == [128, 130]


def test_a_chunk_whose_images_all_have_outcomes_ends_at_once_without_an_offer(
    start_chunk: StartChunk,
) -> None:
    ref, manager, dispatcher, store = start_chunk(chunk(done=frozenset({128, 129})))

    manager.wait_for(ChunkDone)
    wait_until_stopped(ref)
    assert dispatcher.messages(OfferImages) == []
    assert recorded(store) == {}


def test_a_cancelled_chunk_stops_once_the_images_handed_out_have_reported(
    start_chunk: StartChunk,
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


def test_a_drained_offer_is_passed_on_to_the_manager(start_chunk: StartChunk) -> None:
    ref, manager, dispatcher, _ = start_chunk(chunk(job_id=5, number=2))
    dispatcher.wait_for(OfferImages)

    ref.tell(OfferDrained())

    assert manager.wait_for(ChunkDrained) == [ChunkDrained(5, 2)]
    assert manager.messages(ChunkDone) == []  # its images are still in work


def test_a_second_cancel_withdraws_the_offer_only_once(start_chunk: StartChunk) -> None:
    ref, manager, dispatcher, _ = start_chunk(chunk())
    dispatcher.wait_for(OfferImages)

    ref.tell(CancelJob(5))
    ref.tell(CancelJob(5))
    ref.tell(OfferWithdrawn((0, 1)))

    manager.wait_for(ChunkDone)
    assert len(dispatcher.messages(WithdrawOffer)) == 1


def test_outcomes_not_yet_saved_go_to_the_store_when_the_chunk_is_stopped(
    start_chunk: StartChunk,
) -> None:
    """Outcomes go to the store once the inbox is empty; a stop behind them in the inbox
    must not drop them, or a restart would download those images again."""
    ref, _, dispatcher, store = start_chunk(chunk(stores=("S1",) * 64))
    dispatcher.wait_for(OfferImages)

    # One message with 63 outcomes, then the stop: the chunk is still busy with the
    # first when the second arrives, so its inbox is not empty when it would save.
    ref.tell(Batch(tuple(ImageDone(n, OK) for n in range(63))))
    ref.stop(block=True, timeout=5)

    assert sorted(recorded(store)) == list(range(128, 128 + 63))


def test_a_crash_fails_the_images_left_and_still_ends_the_chunk(
    start_chunk: StartChunk,
) -> None:
    ref, manager, dispatcher, store = start_chunk(chunk(stores=("S1",) * 3))
    dispatcher.wait_for(OfferImages)
    ref.tell(ImageDone(0, OK))

    ref.tell(ImageDone(99, ImageOutcome.failed("x")))  # no such image: the handler raises

    manager.wait_for(ChunkDone)
    wait_until_stopped(ref)
    outcomes = recorded(store)
    assert outcomes[128] == OK
    for index in (129, 130):
        assert "internal error in job 5" in (outcomes[index].error or "")
    assert dispatcher.wait_for(WithdrawOffer)


def test_a_chunk_tells_the_events_ref_when_it_starts_and_when_it_ends(
    start_chunk: StartChunk, probe: Callable[[str], Probe]
) -> None:
    events = probe("events")
    ref, manager, _, _ = start_chunk(chunk(stores=("S1", "S9", "S1")), events)
    urn = ref.actor_urn
    (started,) = events.wait_for(ChunkStarted)

    ref.tell(ImageDone(0, OK))
    ref.tell(ImageDone(2, OK))

    manager.wait_for(ChunkDone)
    assert started == ChunkStarted(5, urn, images=3, to_download=2)
    assert events.wait_for(ChunkEnded) == [ChunkEnded(5, urn)]


def test_each_failed_image_is_logged_as_a_key_value_line(
    start_chunk: StartChunk, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="retailpulse.actors.chunk")
    ref, manager, _, _ = start_chunk(chunk(stores=("S9", "S1")))

    ref.tell(ImageDone(1, ImageOutcome.failed("HTTP 404")))

    manager.wait_for(ChunkDone)
    lines = [r.getMessage() for r in caplog.records if r.name == "retailpulse.actors.chunk"]
    assert lines == [
        f"job=5 store=S9 event=image_failed url={url(0)} reason="
        '"store_id S9 is not in the store master; its images were not downloaded"',
        f'job=5 store=S1 event=image_failed url={url(1)} reason="HTTP 404"',
    ]
