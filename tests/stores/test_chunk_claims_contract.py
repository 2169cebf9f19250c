"""The cluster protocol's contract, on every store: chunks, fair claims, leases,
heartbeats, the final status decided once, cancel, the node registry.

Leases are timed by ``now`` in the one-node stores and by the database's clock in
PostgreSQL, so these tests use only leases that are clearly alive (60 s) or
already over (0 s): they hold on every store without sleeping.
"""

import random

import pytest

from retailpulse.model import ImageOutcome, JobState, JobStatus, Progress, StoreError, StoreInfo
from retailpulse.stores import JobStore, OutcomeRecord
from retailpulse.stores.jobstore import CHUNK_SIZE, Chunk
from retailpulse.submission import ImageSpec
from retailpulse.testing.jobstores import Stores

T0 = 1_700_000_000.0
CLAIM_S = 60.0
LIVE = 60.0
OVER = 0.0
SHORT = 0.005
OK = ImageOutcome.measured(40, 30)


def images(count: int, store_id: str = "S1") -> list[ImageSpec]:
    return [ImageSpec(store_id, f"https://img.example/{store_id}/{n}.jpg") for n in range(count)]


def node(store: JobStore, name: str = "n") -> int:
    return store.register_node(name, 4, T0)


def finish(store: JobStore, chunk: Chunk, outcome: ImageOutcome = OK) -> list[JobStatus]:
    """Record an outcome for every image of ``chunk`` still without one."""
    records = [OutcomeRecord(chunk.job_id, i, outcome) for i, _ in chunk.todo()]
    return store.record_outcomes(records, T0 + 10)


def test_a_job_is_stored_in_chunks_of_the_chunk_size(store: JobStore) -> None:
    specs = images(2 * CHUNK_SIZE + 22)
    job_id = store.create_job(specs, T0, {"S1": StoreInfo("One", "7")})

    chunks = store.claim_chunks(node(store), 10, LIVE, T0)

    assert [(c.job_id, c.number, c.first, len(c.images)) for c in chunks] == [
        (job_id, 0, 0, CHUNK_SIZE),
        (job_id, 1, CHUNK_SIZE, CHUNK_SIZE),
        (job_id, 2, 2 * CHUNK_SIZE, 22),
    ]
    assert [spec for c in chunks for spec in c.images] == specs
    assert all(c.submitted_at == T0 and c.done == frozenset() for c in chunks)
    assert chunks[0].stores == {"S1": StoreInfo("One", "7")}


def test_a_chunk_with_a_live_lease_is_not_claimed_again(stores: Stores) -> None:
    store, other = stores.current, stores.another()
    store.create_job(images(CHUNK_SIZE + 1), T0)
    first, second = node(store, "a"), node(other, "b")

    mine = store.claim_chunks(first, 1, LIVE, T0)
    theirs = other.claim_chunks(second, 5, LIVE, T0 + 1)
    left = store.claim_chunks(first, 5, LIVE, T0 + 2)

    assert [c.number for c in mine] == [0]
    assert [c.number for c in theirs] == [1]
    assert left == []


def test_claims_are_fair_a_small_job_is_not_starved_behind_big_ones(store: JobStore) -> None:
    me = node(store)
    big_a = store.create_job(images(5_000), T0)
    big_b = store.create_job(images(5_000), T0)
    early = store.claim_chunks(me, 2, LIVE, T0)
    small = store.create_job(images(10), T0 + 1)

    next_one = store.claim_chunks(me, 1, LIVE, T0 + 2)
    after = store.claim_chunks(me, 3, LIVE, T0 + 3)

    assert [(c.job_id, c.number) for c in early] == [(big_a, 0), (big_b, 0)]
    assert [(c.job_id, c.number) for c in next_one] == [(small, 0)]
    assert [(c.job_id, c.number) for c in after] == [(big_a, 1), (big_b, 1), (big_a, 2)]


def test_a_claim_for_new_jobs_takes_only_the_first_chunk_of_jobs_nobody_started(
    store: JobStore,
) -> None:
    me = node(store)
    started = store.create_job(images(CHUNK_SIZE * 3), T0)
    store.claim_chunks(me, 1, LIVE, T0)
    new_big = store.create_job(images(CHUNK_SIZE * 3), T0 + 1)
    new_small = store.create_job(images(10), T0 + 2)

    fresh = store.claim_chunks(me, 5, LIVE, T0 + 3, new_jobs_only=True)
    again = store.claim_chunks(me, 5, LIVE, T0 + 4, new_jobs_only=True)
    usual = store.claim_chunks(me, 1, LIVE, T0 + 5)

    assert [(c.job_id, c.number) for c in fresh] == [(new_big, 0), (new_small, 0)]
    assert again == []  # both have been started now, and the first job long before
    assert [(c.job_id, c.number) for c in usual] == [(started, 1)]


def test_an_expired_lease_is_claimed_by_another_node_which_skips_done_images(
    stores: Stores,
) -> None:
    store, other = stores.current, stores.another()
    job_id = store.create_job(images(5), T0)
    dead, alive = node(store, "dead"), node(other, "alive")
    (taken,) = store.claim_chunks(dead, 1, OVER, T0)
    store.record_outcomes([OutcomeRecord(job_id, 0, OK), OutcomeRecord(job_id, 3, OK)], T0)

    (rescued,) = other.claim_chunks(alive, 1, LIVE, T0 + 1)

    assert (rescued.job_id, rescued.number) == (taken.job_id, taken.number)
    assert rescued.done == {0, 3}
    assert [i for i, _ in rescued.todo()] == [1, 2, 4]


def test_a_heartbeat_renews_a_lease_so_no_one_else_claims_it(stores: Stores) -> None:
    store, other = stores.current, stores.another()
    store.create_job(images(3), T0)
    holder, rival = node(store, "holder"), node(other, "rival")
    store.claim_chunks(holder, 1, OVER, T0)

    beat = store.heartbeat(holder, LIVE, T0)
    taken = other.claim_chunks(rival, 1, LIVE, T0 + 1)

    assert beat.renewed == 1
    assert beat.ended == frozenset()
    assert taken == []


def test_a_heartbeat_tells_a_stalled_node_which_chunks_were_taken_over(stores: Stores) -> None:
    store, other = stores.current, stores.another()
    job_id = store.create_job(images(CHUNK_SIZE * 2), T0)
    stalled, rescuer = node(store, "stalled"), node(other, "rescuer")
    store.claim_chunks(stalled, 1, OVER, T0)
    other.claim_chunks(rescuer, 1, LIVE, T0 + 1)  # chunk 0: its lease ran out
    store.claim_chunks(stalled, 1, LIVE, T0 + 1)

    beat = store.heartbeat(stalled, LIVE, T0 + 2)

    assert beat.held == {(job_id, 1)}
    assert other.heartbeat(rescuer, LIVE, T0 + 2).held == {(job_id, 0)}


def test_a_fresh_lease_is_not_rewritten_by_every_heartbeat(store: JobStore) -> None:
    me = node(store)
    store.create_job(images(3), T0)
    store.claim_chunks(me, 1, LIVE, T0)

    beat = store.heartbeat(me, LIVE, T0)

    assert beat.renewed == 0


def test_the_last_outcome_decides_completed_once(store: JobStore) -> None:
    me = node(store)
    job_id = store.create_job(images(CHUNK_SIZE + 2), T0)
    first, last = store.claim_chunks(me, 2, LIVE, T0)

    assert finish(store, first) == []
    (status,) = finish(store, last)
    again = store.record_outcomes([OutcomeRecord(job_id, 0, OK)], T0 + 11)

    assert status.job_id == job_id
    assert status.state is JobState.COMPLETED
    assert status.finished_at == T0 + 10
    assert again == []
    assert store.job_status(job_id) == status
    assert store.claim_chunks(me, 5, LIVE, T0 + 12) == []


def test_the_last_outcome_decides_failed_with_one_error_per_failed_store_in_order(
    store: JobStore,
) -> None:
    me = node(store)
    specs = images(2, "S2") + images(3, "S1") + images(1, "S3")
    job_id = store.create_job(specs, T0)
    (chunk,) = store.claim_chunks(me, 1, LIVE, T0)
    outcomes = [OK, OK, ImageOutcome.failed("a: 404"), OK, ImageOutcome.failed("b: 500")]
    outcomes.append(ImageOutcome.failed("unknown store S3"))

    (status,) = store.record_outcomes(
        [OutcomeRecord(job_id, i, o) for i, o in enumerate(outcomes)], T0 + 3
    )

    assert status.state is JobState.FAILED
    assert status.errors == (
        StoreError("S1", "2 of 3 images failed: a: 404; b: 500"),
        StoreError("S3", "unknown store S3"),
    )
    assert status.progress == Progress(6, 6, 3)
    assert chunk.job_id == job_id


def test_outcomes_recorded_twice_count_once_and_the_first_wins(stores: Stores) -> None:
    store, other = stores.current, stores.another()
    job_id = store.create_job(images(2), T0)
    bad = ImageOutcome.failed("late: 404")

    store.record_outcomes([OutcomeRecord(job_id, 0, OK)], T0)
    other.record_outcomes([OutcomeRecord(job_id, 0, bad), OutcomeRecord(job_id, 0, bad)], T0)

    status = store.job_status(job_id)
    results = store.job_results(job_id)
    assert status is not None
    assert results is not None
    assert status.progress == Progress(2, 1, 0)
    assert results.outcomes == (OK, None)


def test_a_cancel_ends_the_job_for_every_node_and_drops_its_leases(stores: Stores) -> None:
    store, other = stores.current, stores.another()
    job_id = store.create_job(images(CHUNK_SIZE * 3), T0)
    worker = node(other, "worker")
    other.claim_chunks(worker, 1, LIVE, T0)

    answer = store.cancel_job(job_id, T0 + 1)
    beat = other.heartbeat(worker, LIVE, T0 + 2)
    late = other.record_outcomes([OutcomeRecord(job_id, 0, OK)], T0 + 3)

    assert answer is not None
    cancelled, by_this_call = answer
    assert by_this_call
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.finished_at == T0 + 1
    assert beat.ended == {job_id}
    assert late == []
    assert other.claim_chunks(worker, 5, LIVE, T0 + 4) == []
    assert other.heartbeat(worker, LIVE, T0 + 5).ended == frozenset()
    status = other.job_status(job_id)
    assert status is not None
    assert status.progress.done == 0


def test_a_cancel_leaves_a_finished_job_as_it_was_and_knows_no_unknown_job(
    store: JobStore,
) -> None:
    me = node(store)
    job_id = store.create_job(images(1), T0)
    (chunk,) = store.claim_chunks(me, 1, LIVE, T0)
    finish(store, chunk)

    answer = store.cancel_job(job_id, T0 + 20)

    assert answer is not None
    after, by_this_call = answer
    assert not by_this_call
    assert after.state is JobState.COMPLETED
    assert after.finished_at == T0 + 10
    assert store.cancel_job(job_id + 1, T0) is None


def test_a_second_cancel_says_it_did_nothing(store: JobStore) -> None:
    job_id = store.create_job(images(2), T0)

    first, second = store.cancel_job(job_id, T0 + 1), store.cancel_job(job_id, T0 + 2)

    assert first is not None
    assert second is not None
    assert (first[1], second[1]) == (True, False)
    assert second[0].state is JobState.CANCELLED
    assert second[0].finished_at == T0 + 1


def test_nodes_get_new_ids_and_are_listed_while_alive(store: JobStore) -> None:
    first = store.register_node("alpha", 8, T0)
    second = store.register_node("beta", 2, T0)
    store.release_node(first)
    third = store.register_node("alpha", 8, T0)

    live = store.live_nodes(T0, 3600.0)

    assert first < second < third
    assert [(n.node_id, n.name, n.gpu_slots) for n in live] == [
        (second, "beta", 2),
        (third, "alpha", 8),
    ]


def test_a_node_that_stops_cleanly_frees_its_chunks_at_once(stores: Stores) -> None:
    store, other = stores.current, stores.another()
    store.create_job(images(3), T0)
    leaving, staying = node(store, "leaving"), node(other, "staying")
    store.claim_chunks(leaving, 1, LIVE, T0)

    store.release_node(leaving)
    taken = other.claim_chunks(staying, 1, LIVE, T0 + 1)

    assert [c.number for c in taken] == [0]


def test_purging_a_job_removes_its_chunks(store: JobStore) -> None:
    me = node(store)
    job_id = store.create_job(images(3), T0)
    store.cancel_job(job_id, T0)

    assert store.purge(T0 + 1, 10) == 1
    assert store.claim_chunks(me, 5, LIVE, T0 + 2) == []
    assert store.job_status(job_id) is None


@pytest.mark.parametrize("size", [1, CHUNK_SIZE, CHUNK_SIZE + 1])
def test_every_image_of_a_job_is_in_exactly_one_chunk(store: JobStore, size: int) -> None:
    me = node(store)
    store.create_job(images(size), T0)

    chunks = store.claim_chunks(me, 100, LIVE, T0)

    indexes = [i for c in chunks for i, _ in c.todo()]
    assert indexes == list(range(size))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_nodes_that_die_and_stall_at_random_still_give_every_image_one_outcome(
    stores: Stores, seed: int
) -> None:
    """Three nodes claim, work part of a chunk, stall past their lease or die, at
    random; others take over. Every job ends exactly once with every image counted."""
    chance = random.Random(seed)
    store = stores.current
    stores_by_node = [store, stores.another(), stores.another()]
    jobs = {store.create_job(images(chance.randint(1, 200)), T0): 0 for _ in range(4)}
    alive = {node(s, f"n{n}"): s for n, s in enumerate(stores_by_node)}
    held: dict[int, list[Chunk]] = {n: [] for n in alive}
    endings: list[int] = []
    for step in range(2_000):
        if all(store.job_status(j).terminal for j in jobs):  # type: ignore[union-attr]
            break
        me = chance.choice(list(alive))
        mine = alive[me]
        if held[me] and chance.random() < 0.7:
            chunk = held[me].pop(0)
            todo = chunk.todo()
            part = todo[: chance.randint(0, len(todo))]
            outcomes = [OutcomeRecord(chunk.job_id, i, OK) for i, _ in part]
            endings += [s.job_id for s in mine.record_outcomes(outcomes, T0 + step)]
        elif chance.random() < 0.05 and len(alive) > 1:
            del alive[me]  # it dies: its leases are left to run out
        else:
            # Leases of a few ms (PostgreSQL's clock) or one step (the others'): a
            # dead node's chunks are free again soon on every store.
            lease = chance.choice([OVER, SHORT])
            held[me] += mine.claim_chunks(me, chance.randint(1, 3), lease, T0 + step)
        if step % 50 == 49:  # leases of the living expire now and then (a stall)
            for other in alive:
                held[other] = []

    assert sorted(endings) == sorted(jobs)
    for job_id in jobs:
        status = store.job_status(job_id)
        assert status is not None
        assert status.state is JobState.COMPLETED
        assert status.progress.done == status.progress.total
    for extra in stores_by_node[1:]:
        if extra is not store:
            extra.close()


def test_a_retried_failed_job_has_its_failed_images_claimed_again(store: JobStore) -> None:
    me = node(store)
    job_id = store.create_job(images(3), T0)
    (chunk,) = store.claim_chunks(me, 1, LIVE, T0)
    bad = ImageOutcome.failed("x: 404")
    (failed,) = store.record_outcomes(
        [OutcomeRecord(job_id, 0, OK), OutcomeRecord(job_id, 1, bad), OutcomeRecord(job_id, 2, OK)],
        T0 + 1,
    )

    store.reopen_failed(job_id)
    (again,) = store.claim_chunks(me, 1, LIVE, T0 + 2)
    (completed,) = store.record_outcomes([OutcomeRecord(job_id, 1, OK)], T0 + 3)

    assert failed.state is JobState.FAILED
    assert (again.job_id, again.number) == (chunk.job_id, chunk.number)
    assert [i for i, _ in again.todo()] == [1]
    assert completed.state is JobState.COMPLETED
    assert completed.attempts == 2


@pytest.mark.parametrize("end", ["last outcome", "cancel"])
def test_an_ending_the_protocol_decides_queues_the_jobs_webhook(store: JobStore, end: str) -> None:
    job_id = store.create_job(images(1), T0, callback_url="https://hooks.example/done")
    if end == "cancel":
        store.cancel_job(job_id, T0 + 1)
    else:
        store.record_outcomes([OutcomeRecord(job_id, 0, OK)], T0 + 1)

    (delivery,) = store.claim_deliveries(T0 + 2, 10, CLAIM_S)

    assert delivery.job_id == job_id
    assert delivery.url == "https://hooks.example/done"
    assert delivery.status.terminal
    assert delivery.webhook_id.startswith("msg_")
