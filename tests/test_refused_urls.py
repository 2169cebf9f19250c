"""A job whose URLs the address guard refuses: said short, once per store, and at submit.

The job semantics stay the spec's (accepted with 201, then failed per store); what
these pin is that the reason is one sentence per store naming the URLs, not the
guard's explanation repeated for every image, and that the log says so at once.
"""

import logging

import pytest

import retailpulse
from retailpulse.download.guard import names_private_address
from retailpulse.model import ImageOutcome, summarize_failures
from retailpulse.submission import ImageSpec
from retailpulse.testing import FakeFetcher, InstantGpu


def refused(url: str, host: str = "127.0.0.1") -> ImageOutcome:
    return ImageOutcome.failed(
        f"{url}: refused by the address guard: {host} is not a public address"
    )


def test_a_store_whose_every_url_is_refused_gets_one_short_reason_naming_them() -> None:
    urls = [f"http://127.0.0.1:9/{n}.jpg" for n in range(3)]
    images = [ImageSpec("S1", url) for url in urls]

    (error,) = summarize_failures(images, [refused(url) for url in urls])

    assert error.error == (
        "all 3 images were refused by the address guard, not public addresses: "
        f"{urls[0]}, {urls[1]}, {urls[2]}; allow such URLs with --allow-private-urls"
    )
    assert error.error.count("--allow-private-urls") == 1


def test_a_store_of_one_refused_image_is_told_so_in_the_singular() -> None:
    url = "http://localhost/a.jpg"

    (error,) = summarize_failures([ImageSpec("S1", url)], [refused(url, "localhost (127.0.0.1)")])

    assert error.error == (
        f"its image was refused by the address guard, not a public address: {url}; "
        "allow such URLs with --allow-private-urls"
    )


def test_refusals_beyond_three_are_counted_and_other_failures_follow() -> None:
    urls = [f"http://10.0.0.{n}/a.jpg" for n in range(5)]
    images = [ImageSpec("S1", url) for url in [*urls, "https://img.example/b.jpg"]]
    outcomes = [
        *[refused(url, url[7:15]) for url in urls],
        ImageOutcome.failed("https://img.example/b.jpg: the server answered HTTP 404 Not Found"),
    ]

    (error,) = summarize_failures(images, outcomes)

    assert error.error == (
        "5 of 6 images were refused by the address guard, not public addresses: "
        f"{urls[0]}, {urls[1]}, {urls[2]} and 2 more; allow such URLs with --allow-private-urls; "
        "1 of 6 images failed: https://img.example/b.jpg: the server answered HTTP 404 Not Found"
    )


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1:8000/a.jpg", True),
        ("http://[::1]/a.jpg", True),
        ("http://10.1.2.3/a.jpg", True),
        ("http://localhost:8000/a.jpg", True),
        ("http://img.localhost/a.jpg", True),
        ("https://8.8.8.8/a.jpg", False),
        ("https://images.example.com/a.jpg", False),  # a name: only the connection can tell
    ],
)
def test_private_urls_are_recognised_without_dns(url: str, private: bool) -> None:
    assert names_private_address(url) is private


def test_submitting_private_urls_warns_at_once_with_how_to_allow_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    urls = ["http://127.0.0.1:9/a.jpg", "https://images.example.com/b.jpg", "http://[::1]/c.jpg"]
    payload = {
        "count": 1,
        "visits": [{"store_id": "S00339218", "image_url": urls, "visit_time": "t"}],
    }
    with (
        caplog.at_level(logging.WARNING, logger="retailpulse.system"),
        retailpulse.start(fetcher_factory=FakeFetcher, gpu=InstantGpu()) as system,
    ):
        job_id = system.submit(payload)

    assert [r.getMessage() for r in caplog.records if r.name == "retailpulse.system"] == [
        f"job {job_id} accepted, but 2 of its 3 image URLs name a private or loopback host, "
        "which the address guard refuses (allow such URLs with --allow-private-urls)"
    ]


def test_submitting_private_urls_where_they_are_allowed_warns_of_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    payload = {
        "count": 1,
        "visits": [
            {"store_id": "S00339218", "image_url": ["http://127.0.0.1:9/a"], "visit_time": "t"}
        ],
    }
    with (
        caplog.at_level(logging.WARNING, logger="retailpulse.system"),
        retailpulse.start(
            fetcher_factory=FakeFetcher, gpu=InstantGpu(), allow_private_urls=True
        ) as system,
    ):
        system.submit(payload)

    assert [r for r in caplog.records if r.name == "retailpulse.system"] == []
