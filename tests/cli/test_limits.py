"""The ``serve`` limit options: parsed into ``start()`` settings, refused when out of range."""

import dataclasses

import pytest

from retailpulse.cli import build_parser
from retailpulse.cli.limits import LIMITS, limit_settings
from retailpulse.config import ServiceConfig


def test_without_options_every_limit_is_the_config_default() -> None:
    args = build_parser().parse_args(["serve"])

    settings = limit_settings(args)

    defaults = ServiceConfig()
    assert settings == {limit.field: getattr(defaults, limit.field) for limit in LIMITS}
    assert settings["max_images_per_job"] == 100_000
    assert settings["max_body_bytes"] == 32 * 1024 * 1024
    assert settings["max_image_bytes"] == 20 * 1024 * 1024


def test_every_limit_option_reaches_its_config_field() -> None:
    argv = ["serve"]
    argv += ["--connect-timeout", "1.5", "--read-timeout", "2.5", "--download-timeout", "9"]
    argv += ["--max-image-bytes", "1000", "--max-redirects", "0", "--retries", "7"]
    argv += ["--retry-backoff", "0", "--retry-backoff-max", "3"]
    argv += ["--max-images-per-job", "12", "--max-body-bytes", "2048"]

    config = ServiceConfig(**limit_settings(build_parser().parse_args(argv)))

    assert dataclasses.asdict(config) == dataclasses.asdict(ServiceConfig()) | {
        "connect_timeout": 1.5,
        "read_timeout": 2.5,
        "download_timeout": 9.0,
        "max_image_bytes": 1000,
        "max_redirects": 0,
        "retries": 7,
        "retry_backoff": 0.0,
        "retry_backoff_max": 3.0,
        "max_images_per_job": 12,
        "max_body_bytes": 2048,
    }


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--connect-timeout", "0", "must be above 0"),
        ("--read-timeout", "-1", "must be above 0"),
        ("--download-timeout", "soon", "invalid float value"),
        ("--max-image-bytes", "0", "must be at least 1"),
        ("--max-redirects", "-1", "must be at least 0"),
        ("--retries", "-2", "must be at least 0"),
        ("--retry-backoff", "-0.5", "must be at least 0"),
        ("--max-images-per-job", "0", "must be at least 1"),
        ("--max-body-bytes", "1.5", "invalid int value"),
    ],
)
def test_a_limit_out_of_range_is_refused_naming_the_option(
    capsys: pytest.CaptureFixture[str], flag: str, value: str, says: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", flag, value])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert flag in error
    assert says in error
