"""A recording stand-in for any actor, and bounded waits, for testing one actor at a time.

To test an actor, start it with probes in place of the actors it talks to, tell
it a message, and check what the probes received. This is how the project tests
its own actors, and how a program can test actors of its own that talk to
Retail Pulse's (for instance one that receives the metrics events).
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pykka

__all__ = ["POLL", "WAIT", "Probe", "ProbeActor", "wait_until", "wait_until_stopped"]

T = TypeVar("T")

WAIT = 3.0
"""Upper bound, in seconds, for any wait on an asynchronous message."""

POLL = 0.005
"""Pause between two looks at a probe while waiting."""


@dataclass(frozen=True, slots=True)
class _Recorded:
    """Ask a probe for every message it has received so far."""


class ProbeActor(pykka.ThreadingActor):
    """A stand-in for any actor: it records every message told to it, in order."""

    use_daemon_thread = True

    def __init__(self) -> None:
        super().__init__()
        self._received: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Recorded):
            return tuple(self._received)
        self._received.append(message)
        return None


class Probe:
    """Test-side handle of a ``ProbeActor``: its ref, and the messages it received.

    Stop it with ``kill()`` (or ``pykka.ActorRegistry.stop_all()`` in teardown).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.ref: pykka.ActorRef[Any] = ProbeActor.start()

    def __repr__(self) -> str:
        return f"Probe({self.name})"

    def messages(self, kind: type[T] | None = None) -> list[T]:
        """Everything received so far (of type ``kind``, when given), oldest first.

        The probe answers after handling every message already in its inbox, so a
        message told to it before this call is always included.
        """
        received: tuple[Any, ...] = self.ref.ask(_Recorded(), block=True, timeout=WAIT)
        return [m for m in received if kind is None or isinstance(m, kind)]

    def wait_for(self, kind: type[T], count: int = 1, timeout: float = WAIT) -> list[T]:
        """Wait until at least ``count`` messages of type ``kind`` arrived; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(kind)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{self} got {len(found)} {kind.__name__} in {timeout} s, expected {count}; "
                    f"all messages: {self.messages()!r}"
                )
            time.sleep(POLL)

    def kill(self) -> None:
        """Stop the probe, so that it stands for an actor that has died."""
        self.ref.stop(timeout=WAIT)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        time.sleep(POLL)


def wait_until_stopped(ref: pykka.ActorRef[Any], timeout: float = WAIT) -> None:
    """Wait until the actor behind ``ref`` has stopped by itself."""
    wait_until(lambda: not ref.is_alive(), f"{ref} has stopped", timeout)
