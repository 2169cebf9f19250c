"""The ``serve`` options of the HTTP server: each reaches its ``HttpLimits`` field."""

import pytest

from retailpulse.cli import build_parser
from retailpulse.cli.serve import http_limits
from retailpulse.config import ServiceConfig
from retailpulse.http import HttpLimits


def test_without_options_the_server_gets_the_default_limits_and_the_body_limit() -> None:
    args = build_parser().parse_args(["serve", "--max-body-bytes", "1000"])

    limits = http_limits(args, ServiceConfig(max_body_bytes=1000))

    assert limits == HttpLimits(max_body_bytes=1000)


def test_every_http_option_reaches_its_field() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            *("--http-threads", "3", "--heavy-http-threads", "4", "--heavy-queue", "0"),
            *("--max-connections", "50", "--head-timeout", "2.5"),
            *("--request-timeout", "30", "--idle-timeout", "7"),
        ]
    )

    limits = http_limits(args, ServiceConfig())

    assert (limits.threads, limits.heavy_threads, limits.heavy_queue) == (3, 4, 0)
    assert (limits.connection_limit, limits.head_timeout) == (50, 2.5)
    assert (limits.request_timeout, limits.idle_timeout) == (30, 7)


@pytest.mark.parametrize(
    "argv", [["--head-timeout", "0"], ["--heavy-queue", "-1"], ["--max-connections", "0"]]
)
def test_an_option_out_of_range_is_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", *argv])
