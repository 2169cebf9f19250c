"""The retry schedule: a first retry within 10 s, jittered, never past 24 h."""

from retailpulse.testing import SeededRandom
from retailpulse.webhooks import DEFAULT_SCHEDULE, GIVE_UP_AFTER, JITTER, next_attempt

T0 = 1_700_000_000.0


class Extreme:
    """A random source that always answers one end of the range."""

    def __init__(self, high: bool) -> None:
        self.high = high

    def uniform(self, a: float, b: float, /) -> float:
        return b if self.high else a


def test_the_first_retry_comes_within_ten_seconds_even_with_full_jitter() -> None:
    at = next_attempt(1, T0, T0, Extreme(high=True))

    assert at is not None
    assert T0 < at <= T0 + 10


def test_every_attempt_of_the_schedule_falls_within_24_hours_of_the_end() -> None:
    now, attempts = T0, 1
    while (at := next_attempt(attempts, T0, now, Extreme(high=True))) is not None:
        now, attempts = at, attempts + 1

    assert attempts == len(DEFAULT_SCHEDULE) + 1  # the first try and one per delay
    assert now <= T0 + GIVE_UP_AFTER
    assert now - T0 > 17 * 3600  # and the schedule does use most of the day


def test_delays_are_jittered_within_twenty_percent() -> None:
    random = SeededRandom(7)
    delays = {next_attempt(2, T0, T0, random) for _ in range(50)}

    assert len(delays) > 40
    assert all(d is not None and 300 * (1 - JITTER) <= d - T0 <= 300 * (1 + JITTER) for d in delays)


def test_retry_after_pushes_a_retry_later_but_not_past_the_day() -> None:
    later = next_attempt(1, T0, T0, Extreme(high=False), retry_after=120)
    too_late = next_attempt(1, T0, T0 + GIVE_UP_AFTER - 10, Extreme(high=False), retry_after=60)

    assert later == T0 + 120
    assert too_late is None
