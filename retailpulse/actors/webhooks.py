"""WebhookActor: sends completion webhooks, on its own thread, never a download worker's.

Pending deliveries live in the job store (written in the transaction that ends the
job), not here: this actor claims the due ones when the store says it has just
ended jobs and every ``poll`` seconds (for retries that come due), sends each at
once, and tells the store how the attempt went. A claim holds the delivery for
``CLAIM`` seconds, longer than an attempt can take, so on a database that several
nodes share each attempt is sent by one node only. A restart or a crash therefore
loses nothing; at worst an attempt that was in flight is sent again, by any node,
once its claim has run out, with the same ``webhook-id``, which is what that header
is for.
"""

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pykka

from retailpulse.actors.messages import (
    AnyRef,
    DeliveriesDue,
    DeliveryTick,
    FindDueDeliveries,
    RecordDelivery,
    WatchDeliveries,
)
from retailpulse.actors.refs import tell_quietly
from retailpulse.logs import log_event
from retailpulse.model import DeliveryState
from retailpulse.ports import Clock, RandomSource
from retailpulse.stores.jobstore import Delivery, DeliveryAttempt
from retailpulse.webhooks import (
    ATTEMPT_LIMIT,
    DEFAULT_SCHEDULE,
    WebhookSender,
    WebhookSigner,
    next_attempt,
)

__all__ = ["BATCH", "CLAIM", "WebhookActor"]

logger = logging.getLogger(__name__)

BATCH = 1
"""Due deliveries claimed at a time. One: a claim must outlast the sending of every
delivery it holds, and a slow receiver then holds back only its own delivery (other
nodes claim the rest) and a node that dies strands only one until its claim ends."""

CLAIM = BATCH * ATTEMPT_LIMIT + 45.0
"""Seconds a claimed delivery is kept from every other claimer (60). The margin
covers what ``ATTEMPT_LIMIT`` does not time: name resolution, a connect per address
of the name, and the attempt's record waiting its turn in the job store's inbox; a
claim that ran out before the record is written means a second send."""


def _tick(actor: AnyRef, every: float, stopped: threading.Event) -> None:
    while not stopped.wait(every):
        if not tell_quietly(actor, DeliveryTick()):
            return


class WebhookActor(pykka.ThreadingActor):
    """Finds due deliveries in the job store, POSTs them signed, records each attempt."""

    use_daemon_thread = True

    def __init__(
        self,
        store: AnyRef,
        sender: WebhookSender,
        signer: WebhookSigner,
        *,
        clock: Clock,
        random: RandomSource,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        poll: float = 1.0,
        tick: bool = True,
    ) -> None:
        super().__init__()
        self._store = store
        self._sender = sender
        self._signer = signer
        self._clock = clock
        self._random = random
        self._schedule = tuple(schedule)
        self._poll = poll
        self._ticking = tick
        self._asked = False
        self._wanted = False
        """A look at the store is due once the claim asked for is answered."""
        self._stopped = threading.Event()

    def on_start(self) -> None:
        tell_quietly(self._store, WatchDeliveries(self.actor_ref))
        self._ask_store()
        if self._ticking:
            threading.Thread(
                target=_tick,
                args=(self.actor_ref, self._poll, self._stopped),
                name="webhook-ticker",
                daemon=True,
            ).start()

    def on_stop(self) -> None:
        self._stopped.set()
        self._sender.close()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, DeliveryTick):
            self._wanted = True
        elif isinstance(message, DeliveriesDue):
            self._asked = False
            # Claimed deliveries are sent at once: their claim is running.
            for delivery in message.deliveries:
                self._deliver(delivery)
            self._wanted = self._wanted or len(message.deliveries) == BATCH  # more wait
        else:
            return super().on_receive(message)
        # One claim at a time, so a stop is heard between two of them.
        if self._wanted and not self._asked:
            self._wanted = False
            self._ask_store()
        return None

    def _ask_store(self) -> None:
        self._asked = tell_quietly(
            self._store, FindDueDeliveries(self._clock(), BATCH, self.actor_ref, CLAIM)
        )

    def _deliver(self, delivery: Delivery) -> None:
        document = replace(delivery.status, webhook=None).to_dict()
        body = json.dumps(document, separators=(",", ":")).encode()
        timestamp = int(self._clock())
        headers = self._signer.headers(delivery.webhook_id, timestamp, body)
        result = self._sender.post(delivery.url, headers, body)
        attempts = delivery.attempts + 1
        now = self._clock()
        next_at = None
        if result.error is None:
            state = DeliveryState.DELIVERED
        elif result.status == 410 or result.permanent:
            state = DeliveryState.FAILED
        else:
            next_at = next_attempt(
                attempts,
                delivery.ended_at,
                now,
                self._random,
                schedule=self._schedule,
                retry_after=result.retry_after,
            )
            state = DeliveryState.FAILED if next_at is None else DeliveryState.PENDING
        attempt = DeliveryAttempt(
            delivery.job_id, delivery.webhook_id, state, attempts, result.error, next_at
        )
        tell_quietly(self._store, RecordDelivery(attempt))
        log_event(
            logger,
            logging.INFO if result.error is None else logging.WARNING,
            "webhook_" + ("delivered" if result.error is None else "attempt_failed"),
            job=delivery.job_id,
            webhook_id=delivery.webhook_id,
            attempt=attempts,
            state=state.value,
            error=result.error,
        )
