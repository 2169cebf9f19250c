"""The HTTP sender against a real receiver on 127.0.0.1: statuses, Retry-After, the guard."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from retailpulse.config import ServiceConfig
from retailpulse.download import AddressGuard
from retailpulse.webhooks import HttpWebhookSender, PostResult


class Answers(ThreadingHTTPServer):
    daemon_threads = True
    status = 200
    headers: tuple[tuple[str, str], ...] = ()


class Handler(BaseHTTPRequestHandler):
    server: Answers

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.server.status)
        for name, value in self.server.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Answers]:
    server = Answers(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    yield server
    server.shutdown()
    thread.join(5)
    server.server_close()


def post(receiver: Answers, *, allow_private: bool = True, host: str = "127.0.0.1") -> PostResult:
    config = ServiceConfig(allow_private_urls=allow_private)
    guard = AddressGuard(resolve=lambda name, port: ["127.0.0.1"])
    sender = HttpWebhookSender(config, guard)
    try:
        return sender.post(f"http://{host}:{receiver.server_address[1]}/in", {}, b"{}")
    finally:
        sender.close()


def test_a_2xx_is_success(receiver: Answers) -> None:
    receiver.status = 204

    assert post(receiver) == PostResult(204)


def test_a_429_brings_its_retry_after(receiver: Answers) -> None:
    receiver.status, receiver.headers = 429, (("Retry-After", "120"),)

    result = post(receiver)

    assert (result.status, result.retry_after) == (429, 120.0)
    assert result.error == "HTTP 429 Too Many Requests"


def test_a_redirect_is_not_followed(receiver: Answers) -> None:
    receiver.status, receiver.headers = 307, (("Location", "http://127.0.0.1:9/"),)

    result = post(receiver)

    assert result.status == 307
    assert result.error is not None


def test_a_name_that_resolves_to_loopback_is_refused_by_the_guard(receiver: Answers) -> None:
    result = post(receiver, allow_private=False, host="hooks.example.test")

    assert result.permanent
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("refused")


def test_a_closed_port_is_a_failure_to_try_again() -> None:
    sender = HttpWebhookSender(ServiceConfig(allow_private_urls=True, connect_timeout=2))
    try:
        result = sender.post("http://127.0.0.1:9/in", {}, b"{}")
    finally:
        sender.close()

    assert not result.permanent
    assert result.status is None
    assert result.error is not None
