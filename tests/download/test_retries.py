"""Retries of HttpFetcher against a real loopback server that counts the requests it gets."""

import socket
import time

import pytest

from retailpulse.config import ServiceConfig
from retailpulse.download.retries import DeadlineRetry, download_retry
from retailpulse.ports import FetchError
from retailpulse.testing import FaultyServer, hang, image_bytes, loopback_fetcher, reset, respond

PNG = image_bytes(12, 8)
OK = respond(200, PNG, [("Content-Type", "image/png")])


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_a_transient_status_twice_then_200_succeeds_on_the_third_request(status: int) -> None:
    with FaultyServer([respond(status), respond(status), OK]) as server:
        body = loopback_fetcher().fetch(server.url())

    assert body == PNG
    assert server.requests == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 500])
def test_a_final_status_is_asked_for_exactly_once(status: int) -> None:
    with FaultyServer([respond(status), OK]) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher().fetch(server.url())

    assert f"HTTP {status}" in str(caught.value)
    assert server.requests == 1


def test_a_413_with_retry_after_is_not_retried_either() -> None:
    """urllib3 alone would retry it; a 4xx other than 429 is final here."""
    late = respond(413, headers=[("Retry-After", "0")])
    with FaultyServer([late, OK]) as server, pytest.raises(FetchError, match="HTTP 413"):
        loopback_fetcher().fetch(server.url())

    assert server.requests == 1


def test_a_status_that_stays_transient_becomes_a_failure_after_all_retries() -> None:
    with FaultyServer(respond(503)) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher(retries=2).fetch(server.url())

    message = str(caught.value)
    assert server.requests == 3
    assert message.startswith(f"{server.url()}: ")
    assert "HTTP 503 Service Unavailable (asked 3 times)" in message


def test_no_retries_means_one_request() -> None:
    with FaultyServer([respond(503), OK]) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher(retries=0).fetch(server.url())

    assert server.requests == 1
    assert "HTTP 503 Service Unavailable" in str(caught.value)
    assert "asked" not in str(caught.value)


def test_a_reset_connection_is_retried() -> None:
    with FaultyServer([reset, reset, OK]) as server:
        body = loopback_fetcher().fetch(server.url())

    assert body == PNG
    assert server.requests == 3


def test_a_server_that_always_resets_fails_naming_the_cause() -> None:
    with FaultyServer(reset) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher(retries=2).fetch(server.url())

    assert server.requests == 3
    assert str(caught.value) == (
        f"{server.url()}: the server reset the connection, also on retrying"
    )


def test_a_server_that_does_not_answer_in_time_is_asked_again() -> None:
    with FaultyServer([hang, OK]) as server:
        body = loopback_fetcher(read_timeout=0.2).fetch(server.url())

    assert body == PNG
    assert server.requests == 2


def test_retries_stop_at_the_total_download_deadline() -> None:
    """Ten retries of a 0.2 s read timeout would take 2.2 s; the deadline ends them."""
    with FaultyServer(hang) as server:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            loopback_fetcher(read_timeout=0.2, retries=10, download_timeout=0.5).fetch(server.url())
        elapsed = time.monotonic() - started

    # The last attempt had only the time left: the deadline, not its read timeout, ended it.
    assert "took over 0.5 s in total (no answer in time)" in str(caught.value)
    assert elapsed < 1.2
    assert server.requests <= 4


def test_a_late_retry_gets_only_the_time_left_before_the_deadline() -> None:
    """The reset is retried after a pause of 1-2 s; that attempt hangs. With the read
    timeout fixed at the start it would wait 3 s more; it gets only what is left of 3 s."""
    with FaultyServer([reset, hang]) as server:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            loopback_fetcher(download_timeout=3, read_timeout=10, retry_backoff=1).fetch(
                server.url()
            )
        elapsed = time.monotonic() - started

    assert server.requests == 2
    assert "took over 3 s in total (no answer in time)" in str(caught.value)
    assert 2.9 < elapsed < 3.8


def test_a_long_retry_after_cannot_hold_the_download_past_its_deadline() -> None:
    with FaultyServer([respond(503, headers=[("Retry-After", "3600")]), OK]) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="HTTP 503"):
            loopback_fetcher(download_timeout=0.5, retry_backoff_max=60).fetch(server.url())
        elapsed = time.monotonic() - started

    assert elapsed < 1.5
    assert server.requests == 1


def test_a_short_retry_after_is_honoured() -> None:
    with FaultyServer([respond(429, headers=[("Retry-After", "1")]), OK]) as server:
        started = time.monotonic()
        body = loopback_fetcher().fetch(server.url())
        elapsed = time.monotonic() - started

    assert body == PNG
    assert server.requests == 2
    assert elapsed >= 0.9


def test_retry_after_is_capped_at_the_backoff_maximum() -> None:
    with FaultyServer([respond(503, headers=[("Retry-After", "30")]), OK]) as server:
        started = time.monotonic()
        body = loopback_fetcher(retry_backoff_max=0.1).fetch(server.url())
        elapsed = time.monotonic() - started

    assert body == PNG
    assert elapsed < 2


def test_a_refused_connection_is_retried_then_reported() -> None:
    # A socket that is bound but not listening holds the port, so connecting is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/a.png"

        with pytest.raises(FetchError) as caught:
            loopback_fetcher(retries=2).fetch(url)

    assert str(caught.value).startswith(f"{url}: could not connect (")
    assert "Connection refused" in str(caught.value)
    assert "also on retrying" in str(caught.value)


def test_the_policy_retries_only_gets_with_growing_jittered_capped_pauses() -> None:
    retry = download_retry(ServiceConfig(retries=3, retry_backoff=0.5, retry_backoff_max=10))

    assert retry.total == 3
    assert retry.allowed_methods == frozenset({"GET"})
    assert retry.status_forcelist == frozenset({429, 502, 503, 504})
    assert retry.backoff_factor == 0.5
    assert retry.backoff_jitter == 0.5
    assert retry.backoff_max == 10
    assert retry.raise_on_status is False


def test_a_deadline_travels_with_every_new_retry_and_exhausts_it() -> None:
    retry = DeadlineRetry(total=5).until(time.monotonic() + 60)

    assert retry.new(total=4).deadline == retry.deadline
    assert not retry.is_exhausted()
    assert DeadlineRetry(total=5).until(time.monotonic() - 1).is_exhausted()
