"""WebhookActor: sends completion webhooks, on its own thread, never a download worker's.

Pending deliveries live in the job store (written in the transaction that ends the
job), not here: this actor asks the store for the due ones when the store says it
has just ended jobs and every ``poll`` seconds (for retries that come due), sends
them one at a time, and tells the store how each attempt went. A restart
therefore loses nothing; at worst an attempt that was in flight is sent again with
the same ``webhook-id``, which is what that header is for.
"""

import json
import logging
import threading
from collections import deque
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
from retailpulse.webhooks import DEFAULT_SCHEDULE, WebhookSender, WebhookSigner, next_attempt

__all__ = ["WebhookActor"]

logger = logging.getLogger(__name__)

BATCH = 20
"""Due deliveries asked for at a time."""


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
        """A look at the store is due once the deliveries in hand are sent."""
        self._due: deque[Delivery] = deque()
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
            self._due.extend(message.deliveries)
            self._wanted = self._wanted or len(message.deliveries) == BATCH  # more wait
        elif isinstance(message, _SendNext):
            if self._due:
                self._deliver(self._due.popleft())
        else:
            return super().on_receive(message)
        # One delivery per message, so a stop is heard between two of them.
        if self._due and isinstance(message, DeliveriesDue | _SendNext):
            self.actor_ref.tell(_SendNext())
        elif self._wanted and not self._asked and not self._due:
            self._wanted = False
            self._ask_store()
        return None

    def _ask_store(self) -> None:
        self._asked = tell_quietly(
            self._store, FindDueDeliveries(self._clock(), BATCH, self.actor_ref)
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


class _SendNext:
    """WebhookActor -> itself: send the next due delivery."""
