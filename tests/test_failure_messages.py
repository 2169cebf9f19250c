"""Every download failure a client reads names the URL and the cause in plain words.

One representative of each kind of failure, through the real fetcher and, for
the image checks, the real worker code path. "Plain words" is checked by
refusing what the layers below put in their own messages: object reprs, pool
names, "Max retries exceeded".
"""

import socket
from typing import Any

import pytest

import retailpulse
from retailpulse.config import ServiceConfig
from retailpulse.download import HttpFetcher
from retailpulse.download.guard import AddressGuard
from retailpulse.ports import FetchError
from retailpulse.testing import (
    Behaviour,
    FaultyServer,
    ImageServer,
    Route,
    hang,
    reset,
    respond,
)

JARGON = ("0x", "HTTPConnectionPool", "Max retries", "urllib3", "Traceback", "object at")

SETTINGS: dict[str, Any] = {
    "allow_private_urls": True,
    "connect_timeout": 1.0,
    "read_timeout": 0.2,
    "download_timeout": 2.0,
    "retries": 1,
    "retry_backoff": 0.01,
    "max_image_bytes": 1000,
}


def failure_of(url: str, **settings: object) -> str:
    fetcher = HttpFetcher(ServiceConfig(**(SETTINGS | settings)))
    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)
    return str(caught.value)


def assert_plain(message: str, url: str, cause: str) -> None:
    assert message.startswith(f"{url}: "), message
    assert cause in message, message
    for word in JARGON:
        assert word not in message, message


@pytest.mark.parametrize(
    ("script", "cause"),
    [
        pytest.param(respond(404), "the server answered HTTP 404 Not Found", id="404"),
        pytest.param(
            respond(503),
            "the server answered HTTP 503 Service Unavailable (asked 2 times)",
            id="503-after-retrying",
        ),
        pytest.param(
            reset, "the server reset the connection, also on retrying", id="connection-reset"
        ),
        pytest.param(
            hang, "the server did not answer within 0.2 s, also on retrying", id="no-answer"
        ),
        pytest.param(
            respond(200, b"x" * 2000), "the image is 2000 bytes, over the 1000-byte limit", id="big"
        ),
        pytest.param(
            respond(302, headers=[("Location", "gopher://x/")]),
            "only http and https URLs can be downloaded",
            id="bad-redirect",
        ),
    ],
)
def test_a_server_fault_is_reported_with_the_url_and_its_cause(
    script: Behaviour, cause: str
) -> None:
    with FaultyServer(script) as server:
        message = failure_of(server.url())

    assert_plain(message, server.url(), cause)


def test_a_refused_connection_is_reported_in_plain_words() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{held.getsockname()[1]}/a.png"
        message = failure_of(url)

    assert_plain(message, url, "could not connect ([Errno 111] Connection refused)")


def test_a_refused_address_is_reported_naming_the_host_and_its_address() -> None:
    url = "http://metadata.example.test/latest"
    guard = AddressGuard(resolve=lambda host, port: ["169.254.169.254"])
    fetcher = HttpFetcher(ServiceConfig(**(SETTINGS | {"allow_private_urls": False})), guard)

    with pytest.raises(FetchError) as caught:
        fetcher.fetch(url)

    assert_plain(str(caught.value), url, "refused by the address guard: metadata.example.test")
    assert str(caught.value) == (
        f"{url}: refused by the address guard: metadata.example.test (169.254.169.254) "
        "is not a public address"
    )  # how to allow it is said once per store, in the job's status


def test_image_failures_reach_the_client_with_the_url_and_the_cause() -> None:
    routes = {
        "/notes.txt": Route(b"this is not an image", "text/plain"),
        "/empty.png": Route(b"", "image/png"),
    }
    with (
        ImageServer(routes) as images,
        retailpulse.start(gpu_slots=2, **SETTINGS) as service,
    ):
        urls = [images.url("/notes.txt"), images.url("/empty.png")]
        job_id = service.submit(
            {
                "count": 1,
                "visits": [{"store_id": "S00339218", "image_url": urls, "visit_time": "t"}],
            }
        )
        service.wait(job_id, timeout=10)
        errors = [image["error"] for image in service.results(job_id)["images"]]

    assert_plain(errors[0], urls[0], "not an image: 20 bytes that no supported format recognises")
    assert_plain(errors[1], urls[1], "not an image: the response body is empty")
