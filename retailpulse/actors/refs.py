"""Helpers for talking to actors that may already have stopped."""

import logging
from collections.abc import Iterable

import pykka

from retailpulse.actors.messages import AnyRef

__all__ = ["deliver", "stop_and_wait", "tell_quietly"]

logger = logging.getLogger(__name__)


def tell_quietly(ref: AnyRef, message: object) -> bool:
    """Tell, tolerating a recipient that has stopped; True if the message was delivered.

    A stopped recipient is normal at the edges of a life cycle (a job that just
    finished, a service shutting down), never a reason to crash the sender.
    """
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        logger.debug("dropped %r: %s has stopped", message, ref)
        return False
    return True


def deliver(deliveries: Iterable[tuple[AnyRef, object]]) -> None:
    """Tell each ``(ref, message)`` quietly: how the simulated GPU hands images back."""
    for ref, message in deliveries:
        tell_quietly(ref, message)


def stop_and_wait(refs: Iterable[AnyRef], timeout: float) -> None:
    """Ask every actor to stop, then wait for all of them, at most ``timeout`` seconds.

    Stopping them all before waiting on any lets them wind down in parallel, so the
    wait is bounded by the slowest one, not by their sum.
    """
    futures = [ref.stop(block=False) for ref in refs]
    try:
        pykka.get_all(futures, timeout=timeout)
    except pykka.Timeout:
        logger.warning("some actors did not stop within %.1f s", timeout)
