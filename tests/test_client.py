"""The HTTP client against a stand-in server that answers outside the happy path."""

import socket
import time
from collections.abc import Iterator

import pytest

from retailpulse.cli import main
from retailpulse.cli.client import EXIT_UNREACHABLE
from retailpulse.client import Client, ClientError, ServerError, UnreachableError
from retailpulse.testing import ImageServer, Route

BUSY = Route(b'{"error": "busy"}', "application/json", 503, (("Retry-After", "1"),))
BROKEN = Route(b'{"error": "internal server error"}', "application/json", 500)
NOT_JSON = Route(b"<html>proxy error</html>", "text/html", 502)


@pytest.fixture
def stand_in() -> Iterator[ImageServer]:
    with ImageServer({"/api/status": BUSY, "/api/results": BROKEN, "/metrics": NOT_JSON}) as s:
        yield s


def test_wait_asks_a_busy_service_again_until_its_timeout(stand_in: ImageServer) -> None:
    client = Client(stand_in.base_url)
    started = time.monotonic()

    with pytest.raises(TimeoutError, match=r"still running after 0\.3 s"):
        client.wait(1, interval=0.05, timeout=0.3)

    assert 0.2 < time.monotonic() - started < 2


def test_a_server_error_is_raised_with_its_status(stand_in: ImageServer) -> None:
    with pytest.raises(ServerError, match="HTTP 500: internal server error") as caught:
        Client(stand_in.base_url).results(1)

    assert caught.value.status == 500


def test_an_answer_that_is_not_json_is_a_server_error_not_a_crash(stand_in: ImageServer) -> None:
    client = Client(stand_in.base_url)
    # The stand-in answers POST with a 501 error page in HTML.
    with pytest.raises(ServerError, match="with no JSON object"):
        client.submit(b"{}")
    with pytest.raises(ServerError, match="HTTP 502") as caught:
        client.metrics()
    assert caught.value.status == 502


def test_the_cli_exits_3_when_the_service_answers_outside_its_contract(
    stand_in: ImageServer, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["results", "1", "--url", stand_in.base_url])

    assert code == EXIT_UNREACHABLE
    assert "HTTP 500" in capsys.readouterr().err


# Connection: close, so that a stopped stand-in is gone as a stopped service is (a kept-alive
# connection would go on being answered by the old stand-in's handler thread).
CLOSE = (("Connection", "close"),)
ONGOING = Route(b'{"job_id": 1, "status": "ongoing"}', "application/json", 200, CLOSE)
COMPLETED = Route(b'{"job_id": 1, "status": "completed"}', "application/json", 200, CLOSE)


def test_wait_keeps_polling_a_service_that_restarts_and_says_when_it_is_back() -> None:
    first = ImageServer({"/api/status": ONGOING}).start()
    port = int(first.base_url.rsplit(":", 1)[1])
    client = Client(first.base_url)
    seen: list[str] = []
    restarted: list[ImageServer] = []

    def on_status(status: dict[str, object]) -> None:
        seen.append(str(status["status"]))
        if len(seen) == 1:
            first.stop()  # the service goes away between two polls

    def on_lost(error: ClientError | None, seconds: float) -> None:
        seen.append("back" if error is None else f"lost for up to {seconds:g} s")
        if error is not None:
            restarted.append(ImageServer({"/api/status": COMPLETED}, port=port).start())

    try:
        final = client.wait(1, interval=0.01, on_status=on_status, on_lost=on_lost)
    finally:
        for server in restarted:
            server.stop()
        client.close()

    assert final["status"] == "completed"
    assert seen == ["ongoing", "lost for up to 60 s", "back", "completed"]


def test_wait_gives_up_on_a_service_gone_for_longer_than_reconnect_for() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed at once: nothing listens there
    client = Client(f"http://127.0.0.1:{port}")
    lost: list[float] = []
    started = time.monotonic()

    with pytest.raises(
        UnreachableError, match=f"cannot reach the service at http://127.0.0.1:{port}"
    ):
        client.wait(1, interval=0.05, reconnect_for=0.3, on_lost=lambda e, s: lost.append(s))

    assert lost == [0.3]
    assert time.monotonic() - started >= 0.3
