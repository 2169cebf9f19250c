"""HttpServer: waitress stopped from code, even when its loop cannot be woken."""

import errno
import socket
from collections.abc import Iterable
from typing import Any

import pytest
import requests

from retailpulse.http import HttpServer


def hello(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED


def test_stop_closes_the_port_and_reports_a_clean_stop() -> None:
    server = HttpServer(hello, "127.0.0.1", 0).start()
    assert requests.get(server.url, timeout=5).text == "hello"

    assert server.stop(timeout=5) is True

    assert refuses_connections(server.port)


def test_a_loop_that_cannot_be_woken_still_stops_without_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = HttpServer(hello, "127.0.0.1", 0).start()
    with requests.Session() as client:  # keeps a connection open: a channel to close too
        assert client.get(server.url, timeout=5).text == "hello"

        def broken_pull() -> None:
            raise OSError(errno.EBADF, "Bad file descriptor")

        trigger = server._server.trigger  # the fault goes inside waitress
        monkeypatch.setattr(trigger, "_physical_pull", broken_pull)

        assert server.stop(timeout=5) is True

    assert refuses_connections(server.port)
