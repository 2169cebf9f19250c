"""WebhookActor alone: a probe for the job store, a scripted sender, a manual clock."""

import json
from collections.abc import Iterator

import pytest

from retailpulse.actors.messages import (
    DeliveriesDue,
    DeliveryTick,
    FindDueDeliveries,
    RecordDelivery,
    WatchDeliveries,
)
from retailpulse.actors.webhooks import WebhookActor
from retailpulse.model import DeliveryState, JobState, JobStatus, Progress, WebhookState
from retailpulse.stores import Delivery
from retailpulse.testing import ManualClock, Probe, SeededRandom
from retailpulse.webhooks import ATTEMPT_LIMIT, PostResult, WebhookSigner

SIGNER = WebhookSigner(b"k" * 32)
T0 = 1_700_000_000.0


class ScriptedSender:
    """Answers each post with the next scripted result and remembers what was sent."""

    def __init__(self, *results: PostResult) -> None:
        self.results = list(results)
        self.sent: list[tuple[str, dict[str, str], bytes]] = []

    def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult:
        self.sent.append((url, headers, body))
        return self.results.pop(0)

    def close(self) -> None:
        pass


def delivery(attempts: int = 0) -> Delivery:
    status = JobStatus(
        7,
        JobState.COMPLETED,
        Progress(1, 1),
        T0,
        finished_at=T0,
        webhook=WebhookState(DeliveryState.PENDING),
    )
    return Delivery(7, "msg_abc", "https://hooks.example/in", attempts, T0, status)


@pytest.fixture
def store() -> Iterator[Probe]:
    probe = Probe("store")
    yield probe
    probe.ref.stop()


def run(store: Probe, sender: ScriptedSender, item: Delivery) -> RecordDelivery:
    actor = WebhookActor.start(
        store.ref, sender, SIGNER, clock=ManualClock(T0), random=SeededRandom(), tick=False
    )
    try:
        store.wait_for(FindDueDeliveries)
        actor.tell(DeliveriesDue((item,)))
        (recorded,) = store.wait_for(RecordDelivery)
    finally:
        actor.stop()
    return recorded


def test_at_start_it_claims_one_due_delivery_for_longer_than_an_attempt_can_take(
    store: Probe,
) -> None:
    actor = WebhookActor.start(
        store.ref,
        ScriptedSender(),
        SIGNER,
        clock=ManualClock(T0),
        random=SeededRandom(),
        tick=False,
    )
    try:
        (asked,) = store.wait_for(FindDueDeliveries)
    finally:
        actor.stop()

    assert (asked.now, asked.reply_to, asked.limit) == (T0, actor, 1)
    # Held until the attempt is recorded, so no other node sends it meanwhile.
    assert asked.claim_s >= ATTEMPT_LIMIT + 30


def test_once_a_claimed_delivery_is_recorded_it_claims_the_next_at_once(store: Probe) -> None:
    actor = WebhookActor.start(
        store.ref,
        ScriptedSender(PostResult(204)),
        SIGNER,
        clock=ManualClock(T0),
        random=SeededRandom(),
        tick=False,
    )
    try:
        store.wait_for(FindDueDeliveries)
        actor.tell(DeliveriesDue((delivery(),)))
        store.wait_for(FindDueDeliveries, count=2)
        told = [type(m) for m in store.messages(object) if not isinstance(m, WatchDeliveries)]
    finally:
        actor.stop()

    assert told == [FindDueDeliveries, RecordDelivery, FindDueDeliveries]


def test_after_an_empty_claim_it_waits_for_a_tick_before_claiming_again(store: Probe) -> None:
    actor = WebhookActor.start(
        store.ref,
        ScriptedSender(),
        SIGNER,
        clock=ManualClock(T0),
        random=SeededRandom(),
        tick=False,
    )
    try:
        store.wait_for(FindDueDeliveries)
        actor.tell(DeliveriesDue(()))
        actor.ask(DeliveriesDue(()), timeout=5)  # a round trip: the first is handled
        before_tick = len(store.messages(FindDueDeliveries))
        actor.tell(DeliveryTick())
        after_tick = len(store.wait_for(FindDueDeliveries, count=2))
    finally:
        actor.stop()

    assert (before_tick, after_tick) == (1, 2)


def test_a_2xx_is_delivered_and_the_body_is_the_status_without_the_webhook(
    store: Probe,
) -> None:
    sender = ScriptedSender(PostResult(204))

    recorded = run(store, sender, delivery())

    assert recorded.attempt.state is DeliveryState.DELIVERED
    assert (recorded.attempt.attempts, recorded.attempt.next_at) == (1, None)
    url, headers, body = sender.sent[0]
    document = json.loads(body)
    assert url == "https://hooks.example/in"
    assert (document["job_id"], document["status"]) == (7, "completed")
    assert "webhook" not in document
    assert headers["webhook-id"] == "msg_abc"
    assert headers["webhook-signature"] == SIGNER.signature("msg_abc", int(T0), body)


def test_a_503_is_tried_again_within_ten_seconds(store: Probe) -> None:
    recorded = run(store, ScriptedSender(PostResult(503, "HTTP 503")), delivery())

    attempt = recorded.attempt
    assert attempt.state is DeliveryState.PENDING
    assert attempt.last_error == "HTTP 503"
    assert attempt.next_at is not None
    assert T0 < attempt.next_at <= T0 + 10


def test_a_429_waits_as_long_as_retry_after_says(store: Probe) -> None:
    recorded = run(store, ScriptedSender(PostResult(429, "HTTP 429", retry_after=60)), delivery())

    assert recorded.attempt.next_at == T0 + 60


def test_a_410_gives_up_at_once(store: Probe) -> None:
    recorded = run(store, ScriptedSender(PostResult(410, "HTTP 410 Gone")), delivery())

    assert recorded.attempt.state is DeliveryState.FAILED
    assert recorded.attempt.next_at is None


def test_a_refusal_by_the_address_guard_gives_up_at_once(store: Probe) -> None:
    refused = PostResult(None, "refused, host is private", permanent=True)

    recorded = run(store, ScriptedSender(refused), delivery())

    assert recorded.attempt.state is DeliveryState.FAILED
    assert recorded.attempt.last_error == "refused, host is private"


def test_the_last_attempt_of_the_schedule_gives_up(store: Probe) -> None:
    recorded = run(store, ScriptedSender(PostResult(500, "HTTP 500")), delivery(attempts=6))

    assert (recorded.attempt.state, recorded.attempt.attempts) == (DeliveryState.FAILED, 7)


def test_it_watches_the_store_and_looks_again_when_told_jobs_ended(store: Probe) -> None:
    actor = WebhookActor.start(
        store.ref,
        ScriptedSender(),
        SIGNER,
        clock=ManualClock(T0),
        random=SeededRandom(),
        tick=False,
    )
    try:
        (watch,) = store.wait_for(WatchDeliveries)
        store.wait_for(FindDueDeliveries)
        actor.tell(DeliveryTick())  # while the first question is unanswered: kept for later
        actor.tell(DeliveriesDue(()))
        asked = store.wait_for(FindDueDeliveries, count=2)
    finally:
        actor.stop()

    assert watch.watcher == actor
    assert len(asked) == 2
