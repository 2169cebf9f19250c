"""Durable jobs through the embedding API: restarts on the same data, retention, cancel races.

Real actors and a real SQLite file; downloads are fakes (no network), and every
image has its own URL so that the fetcher's log says exactly which were downloaded.
"""

import itertools
import random
import sqlite3
import threading
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import retailpulse
from retailpulse import UnknownJobError
from retailpulse.ports import FetchError
from retailpulse.stores import JobStoreError
from retailpulse.testing import InstantGpu, ManualClock, image_bytes, wait_until

STORE = "S00339218"
DAY = 86_400.0
PNG = image_bytes(30, 20)


def url(job: str, n: int) -> str:
    return f"https://img.example.test/{job}/{n}.png"


def payload(job: str, images: int) -> dict[str, Any]:
    urls = [url(job, n) for n in range(images)]
    return {"count": 1, "visits": [{"store_id": STORE, "image_url": urls, "visit_time": "t"}]}


class CountingFetcher:
    """Serves every URL as a 30x20 PNG and logs it in ``calls``. The first ``allowed``
    downloads go through, later ones wait for ``gate`` (at most 10 s, then fail);
    ``reached`` is set once ``allowed`` downloads have started. ``pause`` adds real
    time per download, to widen races."""

    def __init__(self, allowed: int | None = None, pause: float = 0.0) -> None:
        self._allowed = allowed
        self._pause = pause
        self._started = itertools.count(1)  # next() is atomic: safe across worker threads
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.reached = threading.Event()

    def fetch(self, url: str) -> bytes:
        self.calls.append(url)
        started = next(self._started)
        if self._allowed is not None and started >= self._allowed:
            self.reached.set()
            if started > self._allowed and not self.gate.wait(10):
                raise FetchError(f"{url}: the test never opened the gate")
        if self._pause:
            time.sleep(self._pause)
        return PNG


def start(data: Path, fetcher: CountingFetcher, **settings: Any) -> retailpulse.System:
    return retailpulse.start(
        data=data,
        fetcher_factory=lambda: fetcher,
        gpu=InstantGpu(),
        **{"gpu_slots": 4, "stop_timeout": 2.0, **settings},
    )


def assert_every_image_measured_once(system: retailpulse.System, job_id: int, total: int) -> None:
    results = system.results(job_id)
    assert results["status"] == "completed"
    assert results["progress"] == {"total": total, "done": total, "failed": 0}
    assert [image["perimeter"] for image in results["images"]] == [100] * total


def test_a_restart_resumes_unfinished_jobs_without_redoing_finished_images(
    tmp_path: Path,
) -> None:
    data = tmp_path / "jobs.db"
    first = CountingFetcher(allowed=30)
    system = start(data, first, stop_timeout=0.3)
    job_id = system.submit(payload("a", 100))
    assert first.reached.wait(5)
    system.stop()  # images held at the gate are dropped: they must be redone
    first.gate.set()
    with sqlite3.connect(data) as db:
        stored = {u for (u,) in db.execute("SELECT url FROM images NATURAL JOIN outcomes")}
    assert 0 < len(stored) <= 30

    second = CountingFetcher()
    with start(data, second) as restarted:
        restarted.wait(job_id, timeout=10)

        assert_every_image_measured_once(restarted, job_id, 100)
        assert not stored & set(second.calls)  # measured before the stop: not again
        assert Counter(second.calls).most_common(1)[0][1] == 1
        assert stored | set(second.calls) == {url("a", n) for n in range(100)}
        assert restarted.submit(payload("b", 1)) == job_id + 1


def test_finished_jobs_and_their_results_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "jobs.db"
    with start(data, CountingFetcher()) as system:
        job_id = system.submit(payload("a", 5))
        system.wait(job_id, timeout=5)
        before = system.results(job_id)

    fetcher = CountingFetcher()
    with start(data, fetcher) as restarted:
        assert restarted.results(job_id) == before
        assert fetcher.calls == []
        assert [job["job_id"] for job in restarted.jobs()["jobs"]] == [job_id]


def test_job_ids_are_never_reused_even_after_the_newest_job_is_purged(tmp_path: Path) -> None:
    data = tmp_path / "jobs.db"
    clock = ManualClock()
    with start(data, CountingFetcher(), clock=clock, retention=DAY) as system:
        ids = [system.submit(payload("a", 1)) for _ in range(3)]
        for job_id in ids:
            system.wait(job_id, timeout=5)
        clock.advance(2 * DAY)
        with pytest.raises(UnknownJobError):
            system.status(ids[-1])

    with start(data, CountingFetcher(), clock=clock) as restarted:
        assert restarted.jobs()["jobs"] == []
        assert restarted.submit(payload("b", 1)) == ids[-1] + 1


def test_finished_jobs_are_purged_after_the_retention_time_and_then_unknown(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    fetcher = CountingFetcher()
    with start(tmp_path / "jobs.db", fetcher, clock=clock, retention=3 * DAY) as system:
        old = system.submit(payload("old", 2))
        system.wait(old, timeout=5)
        clock.advance(2 * DAY)
        recent = system.submit(payload("recent", 2))
        system.wait(recent, timeout=5)

        clock.advance(1.5 * DAY)

        for call in (system.status, system.results, system.wait, system.cancel):
            with pytest.raises(UnknownJobError):
                call(old)
        assert system.status(recent)["status"] == "completed"
        assert [job["job_id"] for job in system.jobs()["jobs"]] == [recent]


def test_an_unusable_data_file_fails_start_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "not-a-db.txt"
    path.write_text("hello\n" * 1000)

    with pytest.raises(JobStoreError, match=r"not-a-db\.txt"):
        start(path, CountingFetcher())


def test_a_job_is_in_the_data_file_before_submit_returns(tmp_path: Path) -> None:
    data = tmp_path / "jobs.db"
    fetcher = CountingFetcher(allowed=0)
    with start(data, fetcher) as system:
        job_id = system.submit(payload("a", 3))

        with sqlite3.connect(data) as db:  # another connection: what a crash would leave
            rows = db.execute("SELECT total, state FROM jobs WHERE id = ?", (job_id,)).fetchall()
        fetcher.gate.set()
    assert rows == [(3, "ongoing")]


def all_idle(system: retailpulse.System) -> bool:
    return system.pool_stats().idle == system.config.download_threads


def test_a_cancel_racing_with_workers_picking_up_images_hands_out_nothing_after_it(
    tmp_path: Path,
) -> None:
    workers = 8
    rng = random.Random(7)
    cut_short = 0
    for trial in range(10):
        fetcher = CountingFetcher(allowed=rng.randint(1, 150), pause=0.001)
        fetcher.gate.set()  # never hold: the point is a cancel among busy workers
        with start(tmp_path / f"trial{trial}.db", fetcher, gpu_slots=workers) as system:
            job_id = system.submit(payload(f"t{trial}", 300))
            assert fetcher.reached.wait(5)

            answer = system.cancel(job_id)
            begun_at_cancel = len(fetcher.calls)
            final = system.wait(job_id, timeout=5)
            downloaders = system.config.download_threads
            wait_until(partial(all_idle, system), "every downloader idle")
            images = system.results(job_id)["images"]

        with_outcome = [i["image_url"] for i in images if i["perimeter"] is not None]
        assert Counter(fetcher.calls).most_common(1)[0][1] == 1  # no image twice
        assert set(with_outcome) <= set(fetcher.calls)
        assert final["progress"]["done"] == len(with_outcome)
        if answer["cancelled"]:
            # The job ended when the cancel was answered: nothing is recorded after it.
            assert final["status"] == "cancelled"
            assert final["progress"] == answer["progress"]
            # Begun after the answer: at most one per downloader that the dispatcher
            # handed out before the withdrawal reached it, and one more each that was
            # already in its inbox. After that: none.
            assert len(fetcher.calls) - begun_at_cancel <= 2 * downloaders
            cut_short += len(fetcher.calls) < 300
        else:
            assert final["status"] == "completed"
    assert cut_short >= 5
