"""The HTTP client against a stand-in server that answers outside the happy path."""

import time
from collections.abc import Iterator

import pytest

from retailpulse.cli import main
from retailpulse.cli.client import EXIT_UNREACHABLE
from retailpulse.client import Client, ServerError
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
