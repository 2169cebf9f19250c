"""DelayLine alone: real (short) delays, probes as the recipients."""

import time
from collections.abc import Callable

from retailpulse.actors.delayline import DelayLine
from retailpulse.actors.messages import Batch

from .conftest import Probe


def test_messages_arrive_in_order_of_due_time_not_of_arrival(
    probe: Callable[[str], Probe],
) -> None:
    target = probe("target")
    line = DelayLine().start()
    try:
        line.after(0.06, (target.ref, "late"))
        line.after(0.0, (target.ref, "now"))
        line.after(0.03, (target.ref, "soon"))

        assert target.wait_for(str, count=3) == ["now", "soon", "late"]
    finally:
        line.stop()


def test_a_message_is_not_delivered_before_its_time(probe: Callable[[str], Probe]) -> None:
    target = probe("target")
    line = DelayLine().start()
    try:
        started = time.monotonic()
        line.after(0.05, (target.ref, "done"))

        target.wait_for(str)
        assert time.monotonic() - started >= 0.05
    finally:
        line.stop()


def test_every_delivery_of_one_call_goes_to_its_own_recipient(
    probe: Callable[[str], Probe],
) -> None:
    job, dispatcher = probe("job"), probe("dispatcher")
    line = DelayLine().start()
    try:
        line.after(0.01, (job.ref, "image done"), (dispatcher.ref, "slot freed"))

        assert job.wait_for(str) == ["image done"]
        assert dispatcher.wait_for(str) == ["slot freed"]
    finally:
        line.stop()


def test_a_stopped_recipient_does_not_stop_the_line(probe: Callable[[str], Probe]) -> None:
    gone, alive = probe("gone"), probe("alive")
    gone.kill()
    line = DelayLine().start()
    try:
        line.after(0.0, (gone.ref, "lost"))
        line.after(0.01, (alive.ref, "kept"))

        assert alive.wait_for(str) == ["kept"]
    finally:
        line.stop()


def test_stop_ends_the_thread_at_once_and_drops_pending_deliveries(
    probe: Callable[[str], Probe],
) -> None:
    target = probe("target")
    line = DelayLine().start()
    line.after(30.0, (target.ref, "never"))

    started = time.monotonic()
    line.stop(timeout=5)

    assert time.monotonic() - started < 1
    assert not line.running
    assert target.messages() == []


def test_messages_due_together_for_one_actor_arrive_as_one_batch(
    probe: Callable[[str], Probe],
) -> None:
    job, dispatcher = probe("job"), probe("dispatcher")
    line = DelayLine().start()
    try:
        line.after(0.3, (job.ref, "image 1 done"), (dispatcher.ref, "wake up"))
        line.after(0.3, (job.ref, "image 2 done"))  # due within the same tick

        assert job.wait_for(Batch) == [Batch(("image 1 done", "image 2 done"))]
        assert dispatcher.wait_for(str) == ["wake up"]  # alone: as it is, not batched
        assert job.messages(str) == []
    finally:
        line.stop()


def test_the_line_tells_the_time_its_delays_count_on() -> None:
    line = DelayLine(monotonic=lambda: 42.0)

    assert line.now() == 42.0
