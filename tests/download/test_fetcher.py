"""HttpFetcher against a real image server on 127.0.0.1: bodies, errors, redirects, limits."""

import socket
import time
from collections.abc import Iterator

import pytest

from retailpulse.ports import FetchError
from retailpulse.testing import (
    Behaviour,
    FaultyServer,
    ImageServer,
    Route,
    continue_forever,
    drip,
    drip_head,
    hang_up_early,
    image_bytes,
    loopback_fetcher,
    raw,
    stall,
    stream_steadily,
    unsized,
)

PNG = image_bytes(40, 30)


def redirect(location: str, status: int = 302) -> Route:
    return Route(b"", "text/plain", status, headers=(("Location", location),))


@pytest.fixture(scope="module")
def server() -> Iterator[ImageServer]:
    """One server for the module; tests that add routes use paths of their own."""
    with ImageServer(
        {
            "/a.png": Route(PNG, "image/png"),
            "/gone.png": Route(b"gone", "text/plain", 410),
            "/broken": Route(b"oops", "text/plain", 500),
            "/moved.png": redirect("/a.png"),
            "/moved-permanently.png": redirect("/a.png", 301),
            "/moved-absolute.png": redirect("/a.png", 307),
            "/hop1": redirect("/hop2"),
            "/hop2": redirect("/hop3"),
            "/hop3": redirect("/a.png"),
            "/loop": redirect("/loop"),
        }
    ) as running:
        yield running


def test_a_200_answer_returns_the_body_bytes(server: ImageServer) -> None:
    assert loopback_fetcher().fetch(server.url("/a.png")) == PNG


def test_a_query_string_is_sent_and_the_route_still_matches(server: ImageServer) -> None:
    assert loopback_fetcher().fetch(server.url("/a.png?w=40")) == PNG


def test_one_fetcher_can_download_many_times_in_a_row(server: ImageServer) -> None:
    fetcher = loopback_fetcher()

    bodies = [fetcher.fetch(server.url("/a.png")) for _ in range(5)]

    assert bodies == [PNG] * 5


def test_a_404_is_a_fetch_error_naming_the_url_and_the_status(server: ImageServer) -> None:
    url = server.url("/missing.png")

    with pytest.raises(FetchError) as caught:
        loopback_fetcher().fetch(url)

    assert url in str(caught.value)
    assert "HTTP 404" in str(caught.value)
    assert "Not Found" in str(caught.value)


@pytest.mark.parametrize(("path", "status"), [("/gone.png", 410), ("/broken", 500)])
def test_any_status_other_than_200_is_a_fetch_error(
    server: ImageServer, path: str, status: int
) -> None:
    with pytest.raises(FetchError, match=f"HTTP {status}"):
        loopback_fetcher().fetch(server.url(path))


@pytest.mark.parametrize("path", ["/moved.png", "/moved-permanently.png", "/moved-absolute.png"])
def test_a_redirect_to_another_route_is_followed(server: ImageServer, path: str) -> None:
    assert loopback_fetcher().fetch(server.url(path)) == PNG


def test_a_redirect_to_an_absolute_url_is_followed(server: ImageServer) -> None:
    url = server.add("/absolute", redirect(server.url("/a.png")))

    assert loopback_fetcher().fetch(url) == PNG


def test_a_chain_of_redirects_within_the_limit_is_followed(server: ImageServer) -> None:
    assert loopback_fetcher(max_redirects=3).fetch(server.url("/hop1")) == PNG


def test_a_chain_of_redirects_over_the_limit_is_a_fetch_error(server: ImageServer) -> None:
    url = server.url("/hop1")

    with pytest.raises(FetchError) as caught:
        loopback_fetcher(max_redirects=2).fetch(url)

    assert url in str(caught.value)
    assert "more than 2 redirects" in str(caught.value)


def test_a_redirect_loop_ends_in_a_fetch_error(server: ImageServer) -> None:
    with pytest.raises(FetchError, match="more than 5 redirects"):
        loopback_fetcher(max_redirects=5).fetch(server.url("/loop"))


def test_a_redirect_that_fails_reports_the_url_that_was_asked_for(server: ImageServer) -> None:
    url = server.add("/to-nowhere", redirect("/missing.png"))

    with pytest.raises(FetchError) as caught:
        loopback_fetcher().fetch(url)

    assert str(caught.value).startswith(f"{url}: ")
    assert "HTTP 404" in str(caught.value)


def test_a_body_over_max_image_bytes_is_a_fetch_error(server: ImageServer) -> None:
    url = server.add("/big.png", Route(b"x" * 5000, "image/png"))

    with pytest.raises(FetchError) as caught:
        loopback_fetcher(max_image_bytes=4096).fetch(url)

    assert url in str(caught.value)
    assert "4096-byte limit" in str(caught.value)


def test_a_body_exactly_at_max_image_bytes_is_returned(server: ImageServer) -> None:
    url = server.add("/edge.png", Route(b"y" * 4096, "image/png"))

    assert loopback_fetcher(max_image_bytes=4096).fetch(url) == b"y" * 4096


def test_a_refused_connection_is_a_fetch_error() -> None:
    # A socket that is bound but not listening holds the port, so connecting is refused.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        url = f"http://127.0.0.1:{port}/a.png"

        with pytest.raises(FetchError) as caught:
            loopback_fetcher().fetch(url)

    assert url in str(caught.value)
    assert "could not connect" in str(caught.value)


def test_a_loopback_url_is_refused_when_private_urls_are_not_allowed(
    server: ImageServer,
) -> None:
    url = server.url("/a.png")

    with pytest.raises(FetchError) as caught:
        loopback_fetcher(allow_private_urls=False).fetch(url)

    assert str(caught.value) == (
        f"{url}: refused by the address guard: 127.0.0.1 is not a public address"
    )


def test_the_metadata_address_is_refused_before_any_connection() -> None:
    url = "http://169.254.169.254/latest/meta-data/"

    with pytest.raises(FetchError) as caught:
        loopback_fetcher(allow_private_urls=False, connect_timeout=0.01).fetch(url)

    assert "refused" in str(caught.value)
    assert "169.254.169.254" in str(caught.value)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd", "gopher://127.0.0.1:70/"]
)
def test_a_url_that_is_not_http_or_https_is_refused(url: str) -> None:
    with pytest.raises(FetchError) as caught:
        loopback_fetcher().fetch(url)

    assert url in str(caught.value)
    assert "only http and https" in str(caught.value)


def test_a_redirect_to_a_non_http_scheme_is_refused(server: ImageServer) -> None:
    url = server.add("/to-file", redirect("file:///etc/passwd"))

    with pytest.raises(FetchError, match="only http and https"):
        loopback_fetcher().fetch(url)


def failing_fetch(behaviour: Behaviour, **settings: float) -> tuple[str, float, str]:
    """Fetch from a server that behaves so, expecting a failure: its reason, the seconds
    it took, and the URL asked for."""
    with FaultyServer(behaviour) as server:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            loopback_fetcher(**settings).fetch(server.url())
        return str(caught.value), time.monotonic() - started, server.url()


def test_a_server_that_drips_bytes_is_cut_off_at_the_total_download_deadline() -> None:
    reason, elapsed, url = failing_fetch(drip, download_timeout=0.5, read_timeout=5)

    assert "took over 0.5 s in total" in reason
    assert url in reason
    assert elapsed < 3


def test_a_server_that_stops_sending_late_cannot_hold_the_download_past_its_deadline() -> None:
    """It goes quiet 1 s in: a 1.4 s read timeout would then wait until 2.4 s, past the
    1.5 s deadline; near the deadline each receive gets only the time left."""
    reason, elapsed, _ = failing_fetch(stall, download_timeout=1.5, read_timeout=1.4)

    assert "took over 1.5 s in total" in reason
    assert 1.4 < elapsed < 2.0


def test_a_body_shorter_than_its_content_length_is_a_fetch_error() -> None:
    with FaultyServer(hang_up_early) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher().fetch(server.url())

    assert "broke off" in str(caught.value)
    assert server.url() in str(caught.value)


def test_a_server_that_streams_steadily_past_the_deadline_fails_at_it() -> None:
    """No pause long enough for any socket timeout: only the deadline check stops it."""
    reason, elapsed, url = failing_fetch(stream_steadily, download_timeout=0.5, read_timeout=5)

    assert reason == f"{url}: the download took over 0.5 s in total (the server sends too slowly)"
    assert elapsed < 2


def test_a_server_that_drips_its_status_line_and_headers_fails_at_the_deadline() -> None:
    reason, elapsed, url = failing_fetch(drip_head, download_timeout=0.5, read_timeout=5)

    assert reason == f"{url}: the download took over 0.5 s in total (no answer in time)"
    assert elapsed < 2  # the head alone would take 10 s, each byte well within 5 s


def test_a_server_that_sends_100_continue_forever_fails_at_the_deadline() -> None:
    reason, elapsed, url = failing_fetch(
        continue_forever, download_timeout=0.5, read_timeout=5, retries=0
    )

    assert reason == f"{url}: the download took over 0.5 s in total (no answer in time)"
    assert elapsed < 2


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
def test_a_body_without_content_length_is_capped_while_it_streams(chunked: bool) -> None:
    with (
        FaultyServer(unsized(b"z" * 5000, chunked=chunked)) as server,
        pytest.raises(FetchError) as caught,
    ):
        loopback_fetcher(max_image_bytes=4096).fetch(server.url())

    assert str(caught.value) == f"{server.url()}: the image is over the 4096-byte limit"


@pytest.mark.parametrize("chunked", [False, True], ids=["until-close", "chunked"])
def test_a_body_without_content_length_within_the_cap_is_returned(chunked: bool) -> None:
    with FaultyServer(unsized(PNG, chunked=chunked)) as server:
        assert loopback_fetcher(max_image_bytes=len(PNG)).fetch(server.url()) == PNG


def lying_length(value: bytes) -> Behaviour:
    """A PNG whose Content-Length header says ``value`` (raw bytes, as sent)."""
    return raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: " + value + b"\r\nConnection: close\r\n\r\n" + PNG
    )


@pytest.mark.parametrize(
    "value",
    [b"\xb2", b"\xb9\xb3", b"-1", b"0x10", b" ", b"1e3", b"9" * 5000],
    ids=[
        "superscript-two",
        "superscripts",
        "negative",
        "hex",
        "blank",
        "exponent",
        "5000-digits",
    ],
)
def test_a_content_length_that_is_not_a_number_is_ignored_and_the_body_read_to_its_end(
    value: bytes,
) -> None:
    """``"²".isdigit()`` is true and ``int("²")`` raises: such a header killed a worker
    per image. Any value that is not plain digits is treated as no length at all."""
    with FaultyServer(lying_length(value)) as server:
        assert loopback_fetcher().fetch(server.url()) == PNG


def test_a_huge_content_length_is_refused_as_over_the_limit_before_reading() -> None:
    with FaultyServer(lying_length(b"99999999999")) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher(max_image_bytes=4096).fetch(server.url())

    assert str(caught.value) == (
        f"{server.url()}: the image is 99999999999 bytes, over the 4096-byte limit"
    )


@pytest.mark.parametrize(
    "head", [b"Content-Length: 5, 6", b"Content-Length: 5\r\nContent-Length: 6"]
)
def test_content_lengths_that_disagree_are_a_plain_failure(head: bytes) -> None:
    behaviour = raw(b"HTTP/1.1 200 OK\r\n" + head + b"\r\nConnection: close\r\n\r\nhello")
    with FaultyServer(behaviour) as server, pytest.raises(FetchError) as caught:
        loopback_fetcher(retries=0).fetch(server.url())

    assert str(caught.value).startswith(f"{server.url()}: ")
    assert "Content-Length" in str(caught.value)


def test_content_lengths_that_agree_are_one_length() -> None:
    body = PNG
    size = str(len(body)).encode()
    behaviour = raw(
        b"HTTP/1.1 200 OK\r\nContent-Length: " + size + b", " + size + b"\r\n\r\n" + body
    )
    with FaultyServer(behaviour) as server:
        assert loopback_fetcher().fetch(server.url()) == body


def test_a_redirect_or_an_error_page_with_a_body_leaves_the_fetcher_usable(
    server: ImageServer,
) -> None:
    """Their bodies are never read; the next downloads must not trip over them."""
    moved = Route(b"m" * 200_000, "text/html", 302, headers=(("Location", "/a.png"),))
    moved_url = server.add("/moved-with-body.png", moved)
    error_url = server.add("/error-page.png", Route(b"e" * 200_000, "text/html", 404))
    fetcher = loopback_fetcher()

    assert fetcher.fetch(moved_url) == PNG
    with pytest.raises(FetchError, match="HTTP 404"):
        fetcher.fetch(error_url)
    assert [fetcher.fetch(moved_url) for _ in range(3)] == [PNG] * 3


def test_a_redirect_to_a_location_that_is_no_url_is_a_plain_failure(server: ImageServer) -> None:
    url = server.add("/to-nowhere", redirect("http://[::1"))

    with pytest.raises(FetchError) as caught:
        loopback_fetcher().fetch(url)

    assert str(caught.value) == f"{url}: redirected to an invalid location (Invalid IPv6 URL)"
