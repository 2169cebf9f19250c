"""MeteredFetcher: every download attempt is reported, and the fetch itself is unchanged."""

from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from retailpulse.actors.metrics import MetricsActor, RenderMetrics
from retailpulse.fetching import FetchError
from retailpulse.metering import MeteredFetcher
from retailpulse.testing import FakeFetcher, SteppingTimer, metric_value

Ref = pykka.ActorRef[Any]


@pytest.fixture
def metrics() -> Iterator[Ref]:
    ref = MetricsActor.start()
    yield ref
    ref.stop(timeout=5)


def page(metrics: Ref) -> bytes:
    text: bytes = metrics.ask(RenderMetrics(), block=True, timeout=5)
    return text


def test_a_successful_download_returns_the_body_and_reports_its_size_and_time(
    metrics: Ref,
) -> None:
    fetcher = MeteredFetcher(FakeFetcher({"https://x/a": b"12345"}), metrics, SteppingTimer(0.5))

    body = fetcher.fetch("https://x/a")

    text = page(metrics)
    assert body == b"12345"
    assert metric_value(text, "retailpulse_download_bytes_sum") == 5
    assert metric_value(text, "retailpulse_download_seconds_sum") == 0.5


def test_a_failed_download_still_raises_and_is_timed_without_bytes(metrics: Ref) -> None:
    fetcher = MeteredFetcher(FakeFetcher(), metrics, SteppingTimer(0.25))

    with pytest.raises(FetchError, match="404"):
        fetcher.fetch("https://x/missing")

    text = page(metrics)
    assert metric_value(text, "retailpulse_download_seconds_count") == 1
    assert metric_value(text, "retailpulse_download_bytes_count") == 0


def test_a_stopped_metrics_actor_does_not_break_downloads(metrics: Ref) -> None:
    fetcher = MeteredFetcher(FakeFetcher({"https://x/a": b"ok"}), metrics)
    metrics.stop(timeout=5)

    assert fetcher.fetch("https://x/a") == b"ok"
