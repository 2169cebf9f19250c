"""When a failed webhook delivery is tried again.

Standard Webhooks' own schedule: at once, then after 5 seconds, 5 minutes, 30 minutes,
2 hours, 5 hours and 10 hours, each with jitter of up to 20% either way, so receivers
that come back after an outage are not hit by every delivery in the same second. That
is 7 attempts over about 17.6 hours (at most 21.1 with jitter), inside the 24 hours
after the job's end that a delivery may take; a ``Retry-After`` (429, 503) pushes one
retry later, never past those 24 hours.
"""

from collections.abc import Sequence

from retailpulse.ports import RandomSource

__all__ = ["DEFAULT_SCHEDULE", "GIVE_UP_AFTER", "JITTER", "next_attempt"]

DEFAULT_SCHEDULE: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0)
"""Seconds to wait after the 1st, 2nd... failed attempt; after the last, give up."""
GIVE_UP_AFTER = 24 * 3600.0
"""No attempt is made later than this after the job ended."""
JITTER = 0.2


def next_attempt(
    failed_attempts: int,
    ended_at: float,
    now: float,
    random: RandomSource,
    *,
    schedule: Sequence[float] = DEFAULT_SCHEDULE,
    retry_after: float | None = None,
) -> float | None:
    """When to try again after ``failed_attempts`` failures (at ``now``), or ``None``
    to give up."""
    if not 1 <= failed_attempts <= len(schedule):
        return None
    delay = schedule[failed_attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + delay
    return at if at <= ended_at + GIVE_UP_AFTER else None
