"""ServiceConfig refuses settings that would make the service refuse everything or nothing."""

import pytest

from retailpulse.config import ServiceConfig


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("read_timeout", -1.0),
        ("download_timeout", 0.0),
        ("max_image_bytes", 0),
        ("max_body_bytes", -5),
        ("max_images_per_job", 0),
        ("max_redirects", -1),
        ("retries", -1),
        ("retry_backoff", -0.1),
        ("retry_backoff_max", -1),
        ("gpu_slots", 0),
        ("max_active_jobs", 0),
    ],
)
def test_a_limit_out_of_range_is_a_value_error_naming_it(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ServiceConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"), [("max_redirects", 0), ("retries", 0), ("retry_backoff", 0)]
)
def test_zero_is_allowed_where_it_means_never(field: str, value: float) -> None:
    assert getattr(ServiceConfig(**{field: value}), field) == value  # type: ignore[arg-type]


def test_the_documented_defaults() -> None:
    config = ServiceConfig()

    assert (config.connect_timeout, config.read_timeout, config.download_timeout) == (5, 15, 60)
    assert config.max_image_bytes == 20 * 1024 * 1024
    assert config.max_body_bytes == 32 * 1024 * 1024
    assert config.max_images_per_job == 100_000
    assert (config.max_redirects, config.retries) == (5, 3)
    assert (config.retry_backoff, config.retry_backoff_max) == (0.5, 10)
