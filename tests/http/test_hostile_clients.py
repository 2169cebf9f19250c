"""Hostile clients on 127.0.0.1 against real waitress: nobody can stall everyone else.

Each test plays one kind of attacker with raw sockets (idle or trickling
connections, bodies declared or sent over the limit, broken protocol) against the
whole service, and checks both that the attacker is refused or cut off and that an
ordinary client is still answered. Every socket has a timeout, so a server that
does not defend itself fails the test instead of hanging it.
"""

import json
import select
import socket
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpLimits, HttpServer, create_app

ANSWER_WITHIN = 5.0
"""Seconds an ordinary request may take before the test calls the service stalled."""

BODY_LIMIT = 64 * 1024


@contextmanager
def service(
    body_limit: int = BODY_LIMIT, max_images: int = 100_000, **limits: Any
) -> Iterator[str]:
    """The whole service on an ephemeral port, with ``limits`` for its HTTP server."""
    with retailpulse.start(
        min_sleep=0, max_sleep=0, max_body_bytes=body_limit, max_images_per_job=max_images
    ) as system:
        http = HttpLimits(**{"max_body_bytes": body_limit, **limits})
        server = HttpServer(create_app(system), "127.0.0.1", 0, limits=http).start()
        try:
            yield server.url
        finally:
            assert server.stop(timeout=10)


@pytest.fixture
def base_url() -> Iterator[str]:
    with service(head_timeout=1.0) as url:
        yield url


def connect(base_url: str, timeout: float = ANSWER_WITHIN) -> socket.socket:
    host, port = base_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one response; the body is read
    to Content-Length, or to the end of the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines)}
    length = int(headers.get("content-length", "-1"))
    while len(body) < length or length < 0:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


def exchange(base_url: str, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(base_url) as sock:
        sock.sendall(raw)
        return read_response(sock)


def healthz_answers(base_url: str) -> bool:
    return requests.get(f"{base_url}/healthz", timeout=ANSWER_WITHIN).status_code == 200


# 3. Idle and trickling connections


def test_hundreds_of_idle_and_trickling_connections_leave_the_api_answering() -> None:
    with service() as base_url, ExitStack() as held:
        socks = [held.enter_context(connect(base_url)) for _ in range(300)]
        for i, sock in enumerate(socks):
            if i % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # a head never finished

        assert all(healthz_answers(base_url) for _ in range(5))


def test_a_connection_that_never_finishes_its_head_is_closed(base_url: str) -> None:
    with connect(base_url, timeout=0.2) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        deadline = time.monotonic() + 10  # head_timeout is 1 s
        closed = False
        while not closed and time.monotonic() < deadline:
            try:
                sock.sendall(b"X")  # a byte now and then: activity, but never a head
                closed = sock.recv(1024) == b""
            except TimeoutError:
                continue
            except OSError:  # reset: closed just the same
                closed = True

    assert closed


def test_a_connection_that_sends_nothing_is_closed(base_url: str) -> None:
    with connect(base_url, timeout=10) as sock:
        assert sock.recv(1024) == b""


def test_a_kept_alive_connection_may_send_its_next_request_later(base_url: str) -> None:
    """The head deadline runs from a request's first byte, not from the connection's opening."""
    with requests.Session() as client:
        assert client.get(f"{base_url}/healthz", timeout=ANSWER_WITHIN).status_code == 200
        time.sleep(1.5)  # longer than head_timeout, shorter than idle_timeout
        assert client.get(f"{base_url}/healthz", timeout=ANSWER_WITHIN).status_code == 200


# 4. Bodies over the limit


def test_a_declared_length_over_the_limit_is_refused_before_the_body(base_url: str) -> None:
    status, headers, body = exchange(
        base_url,
        b"POST /api/submit HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000\r\n\r\n",
    )

    assert status == 413
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": f"body too large: body must be at most {BODY_LIMIT} bytes"}


def test_expect_continue_with_a_length_over_the_limit_gets_413_not_continue(
    base_url: str,
) -> None:
    status, _, _ = exchange(
        base_url,
        b"POST /api/submit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        b"Content-Length: 1000000000\r\n\r\n",
    )

    assert status == 413


def test_expect_continue_within_the_limit_is_invited() -> None:
    with service() as base_url, connect(base_url) as sock:
        sock.sendall(
            b"POST /api/submit HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 2\r\n\r\n"
        )
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"{}")
        status, _, body = read_response(sock)

    assert (status, json.loads(body)["field"]) == (400, "count")


def test_a_chunked_upload_is_refused_while_it_is_still_being_sent(base_url: str) -> None:
    chunk = b"[" * 4096
    sent = 0
    answered = False
    with connect(base_url) as sock:
        sock.sendall(b"POST /api/submit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < 100 * BODY_LIMIT and not answered:  # no end, unless the server ends it
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                answered = bool(select.select([sock], [], [], 0)[0])
        except OSError:
            answered = True  # closed on us: the answer is waiting
        status, _, body = read_response(sock)

    assert answered
    assert status == 413
    assert "at most" in json.loads(body)["error"]


# 5. Bodies that cannot be a submission


def nested_lists(size: int) -> bytes:
    prefix = b'{"count": 1, "visits": ['
    return prefix + b"[]," * ((size - len(prefix) - 2) // 3) + b"[]]}"


def test_a_body_of_nested_empty_lists_is_refused_without_being_parsed() -> None:
    """Parsing costs ~80 bytes per empty list: 256 KiB of them, about 7 MB (32 MiB: 820 MB)."""
    limit = 256 * 1024
    body = nested_lists(limit - 8)
    with service(body_limit=limit, max_images=1000) as base_url:
        tracemalloc.start()
        try:
            response = requests.post(f"{base_url}/api/submit", data=body, timeout=ANSWER_WITHIN)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

    assert response.status_code == 413
    assert response.json()["field"] == "body"
    assert peak < 8 * limit  # the body's few copies (client, server, spool), no parse


def test_a_job_of_the_largest_size_still_passes_the_structure_check() -> None:
    visits = [
        {"store_id": "S00339218", "image_url": [f"http://h/{i}.jpg,w_1,h_1"], "visit_time": "t"}
        for i in range(3)
    ]
    with retailpulse.start(min_sleep=0, max_sleep=0, max_images_per_job=3) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            response = requests.post(
                f"{server.url}/api/submit", json={"count": 3, "visits": visits}, timeout=5
            )
        finally:
            assert server.stop(timeout=10)

    assert response.status_code == 201, response.text


# 6. Huge URLs


def submit_url(base_url: str, url: str) -> requests.Response:
    visit = {"store_id": "S00339218", "image_url": [url], "visit_time": "t"}
    return requests.post(
        f"{base_url}/api/submit", json={"count": 1, "visits": [visit]}, timeout=ANSWER_WITHIN
    )


def test_an_image_url_over_the_length_limit_is_400_naming_it(base_url: str) -> None:
    response = submit_url(base_url, "http://example.com/" + "a" * 9000)

    assert response.status_code == 400
    assert response.json()["field"] == "visits[0].image_url[0]"
    assert "at most 8192 characters" in response.json()["error"]
    assert len(response.text) < 1000


def test_an_invalid_long_url_is_quoted_cut_short(base_url: str) -> None:
    response = submit_url(base_url, "ftp://example.com/" + "a" * 5000)

    assert response.status_code == 400
    assert len(response.json()["error"]) < 400


# 7. Query strings, HEAD and waitress's own errors


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/status"), ("GET", "/api/results"), ("POST", "/api/cancel")]
)
def test_a_jobid_given_twice_is_400(method: str, path: str) -> None:
    with service() as base_url:
        job_id = submit_url(base_url, "http://example.com/a.jpg").json()["job_id"]
        response = requests.request(
            method, f"{base_url}{path}?jobid={job_id}&jobid={job_id}", timeout=ANSWER_WITHIN
        )

    assert (response.status_code, response.json()) == (400, {})


def test_head_healthz_is_200_without_a_body(base_url: str) -> None:
    status, headers, body = exchange(
        base_url, b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )

    assert (status, body) == (200, b"")
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"POST /api/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n", 400),
        (b"POST /api/submit HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431),
    ],
)
def test_protocol_errors_answer_json(base_url: str, raw: bytes, status: int) -> None:
    answer, headers, body = exchange(base_url, raw)

    assert answer == status
    assert headers["content-type"] == "application/json"
    assert isinstance(json.loads(body)["error"], str)
