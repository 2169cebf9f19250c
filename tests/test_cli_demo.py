"""``retailpulse demo``: the whole product in one command, bounded, leaving nothing running."""

import threading
import time

import pykka
import pytest

from retailpulse.cli import main
from retailpulse.cli.demo import _OnlyFrom
from retailpulse.ports import FetchError
from retailpulse.testing import FakeFetcher


def ours() -> set[threading.Thread]:
    """Live threads, less tqdm's monitor: a daemon tqdm keeps for the whole process."""
    return {t for t in threading.enumerate() if t.name != "tqdm_monitor"}


def test_demo_shows_the_spec_perimeters_both_failures_and_stops_everything(
    capsys: pytest.CaptureFixture[str],
) -> None:
    threads_before = ours()
    started = time.monotonic()

    code = main(["demo", "--workers", "4"])

    took = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 0
    assert took < 15
    table = out.split("image_url\n")[1].split("\n\n")[0].splitlines()
    cells = [line.split() for line in table]
    assert [(c[0], c[1], c[2]) for c in cells] == [
        ("S00339218", "550x368", "1836"),
        ("S00339218", "1280x720", "4000"),
        ("S01408764", "1280x720", "4000"),
        ("S99999999", "-", "failed"),
        ("S00339204", "-", "failed"),
    ]
    assert "job 1 failed in " in out
    assert "S99999999: store_id S99999999 is not in the store master" in out
    assert "S00339204: http://127.0.0.1:" in out
    assert "/missing.jpg: the server answered HTTP 404 Not Found" in out
    assert 'retailpulse_images_processed_total{outcome="measured"} 3' in out
    assert "job 1: 100%" not in err  # stderr is not a terminal here: no progress bar
    assert "\r" not in err
    assert pykka.ActorRegistry.get_all() == []
    deadline = time.monotonic() + 5  # server threads end just after their stop returns
    while ours() - threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ours() - threads_before == set()


def test_demo_downloads_only_from_its_own_image_server() -> None:
    fetcher = _OnlyFrom("http://127.0.0.1:9000", FakeFetcher({"http://127.0.0.1:9000/a": b"ok"}))

    assert fetcher.fetch("http://127.0.0.1:9000/a") == b"ok"
    for url in ("http://127.0.0.1:9001/a", "http://127.0.0.1:90001/a", "http://10.0.0.1/a"):
        with pytest.raises(FetchError, match="own image server only"):
            fetcher.fetch(url)
