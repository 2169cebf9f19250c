"""ThroughputHistory alone: the ring buffer behind the dashboard's images-per-second chart."""

import pytest

from retailpulse.actors.throughput import ThroughputHistory

T0 = 1_700_000_000.0  # a multiple of every step used here


def test_images_are_counted_per_step_as_rates_per_second() -> None:
    history = ThroughputHistory(step=5.0, steps=4)
    for offset in (0.1, 1.0, 4.9):
        history.record(T0 + offset, ok=True)
    history.record(T0 + 6.0, ok=False)

    series = history.series(T0 + 10.5)

    assert series.images_per_second == (0.0, 0.0, 3 / 5, 1 / 5)
    assert series.failed_per_second == (0.0, 0.0, 0.0, 1 / 5)
    assert series.end == T0 + 10.0


def test_the_step_under_way_is_left_out() -> None:
    history = ThroughputHistory(step=5.0, steps=3)
    history.record(T0 + 1.0, ok=True)

    assert history.series(T0 + 2.0).images_per_second == (0.0, 0.0, 0.0)
    assert history.series(T0 + 5.0).images_per_second == (0.0, 0.0, 0.2)


def test_steps_older_than_the_window_are_forgotten() -> None:
    history = ThroughputHistory(step=1.0, steps=3)
    history.record(T0, ok=True)
    history.record(T0 + 1, ok=True)
    history.record(T0 + 1, ok=True)

    assert history.series(T0 + 3).images_per_second == (1.0, 2.0, 0.0)
    assert history.series(T0 + 4).images_per_second == (2.0, 0.0, 0.0)
    assert history.series(T0 + 100).images_per_second == (0.0, 0.0, 0.0)


def test_a_slot_reused_after_a_long_pause_starts_from_zero() -> None:
    history = ThroughputHistory(step=1.0, steps=2)
    history.record(T0, ok=False)
    history.record(T0 + 3, ok=True)  # the same slot as T0 in a ring of 3

    series = history.series(T0 + 4)

    assert series.images_per_second == (0.0, 1.0)
    assert series.failed_per_second == (0.0, 0.0)


def test_a_clock_that_steps_back_counts_into_the_newest_step() -> None:
    history = ThroughputHistory(step=1.0, steps=2)
    history.record(T0 + 5, ok=True)
    history.record(T0 + 2, ok=True)

    assert history.series(T0 + 6).images_per_second == (0.0, 2.0)


def test_a_window_without_steps_is_refused() -> None:
    with pytest.raises(ValueError, match="steps"):
        ThroughputHistory(step=1.0, steps=0)
