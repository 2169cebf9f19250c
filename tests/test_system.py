"""The embedding API over the real actors, with fakes for downloads and sleeping."""

import threading
from collections.abc import Iterator
from typing import Any

import pytest

import retailpulse
from retailpulse import ServiceBusyError, UnknownJobError, ValidationError
from retailpulse.ports import FetchError
from retailpulse.testing import FakeFetcher, HeldGpu, InstantGpu, SeededRandom, wait_until

GOOD = "https://img.example.test/good.png"
CRASH = "https://img.example.test/crash.png"
BROKEN = "https://img.example.test/broken.png"


class GatedFetcher(FakeFetcher):
    """A FakeFetcher whose downloads wait until the test opens the gate (at most 10 s)."""

    def __init__(self, gate: threading.Event, answers: dict[str, Any]) -> None:
        super().__init__(answers)
        self._gate = gate

    def fetch(self, url: str) -> bytes:
        self._gate.wait(timeout=10)
        return super().fetch(url)


def payload(*urls: str, store_id: str = "S00339218") -> dict[str, Any]:
    visits = [{"store_id": store_id, "image_url": [url], "visit_time": "09:00"} for url in urls]
    return {"count": len(visits), "visits": visits}


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    opened = threading.Event()
    opened.set()
    yield opened
    opened.set()  # never leave a worker parked on a closed gate


def start(gate: threading.Event, **settings: Any) -> retailpulse.System:
    answers: dict[str, Any] = {
        GOOD: (30, 20),
        CRASH: RuntimeError("bug in a fetcher"),
        BROKEN: FetchError(f"{BROKEN}: the server answered HTTP 500"),
    }
    return retailpulse.start(
        fetcher_factory=lambda: GatedFetcher(gate, answers),
        gpu=InstantGpu(),
        **settings,
    )


def test_submit_wait_and_results_agree_with_each_other(gate: threading.Event) -> None:
    with start(gate, gpu_slots=2) as system:
        job_id = system.submit(payload(GOOD, GOOD, BROKEN))

        final = system.wait(job_id, timeout=5)

        assert final == system.status(job_id)
        assert final["status"] == "failed"
        assert final["progress"] == {"total": 3, "done": 3, "failed": 1}
        images = system.results(job_id)["images"]
        assert [i["perimeter"] for i in images] == [100, 100, None]


def test_a_crashing_worker_fails_its_image_and_is_replaced_while_the_service_goes_on(
    gate: threading.Event,
) -> None:
    with start(gate, gpu_slots=2) as system:
        crashed = system.submit(payload(CRASH, GOOD))
        assert system.wait(crashed, timeout=5)["status"] == "failed"

        after = system.submit(payload(GOOD, GOOD, GOOD))

        assert system.wait(after, timeout=5)["status"] == "completed"
        [image, _] = system.results(crashed)["images"]
        assert "internal error" in image["error"]
        stats = system.pool_stats()
        assert stats.replaced == 1
        assert stats.workers == 2


def test_jobs_beyond_the_chunks_a_node_holds_are_queued_then_run(gate: threading.Event) -> None:
    gate.clear()
    # One GPU slot: the node holds 2 chunks, 2 more of jobs nobody had started, and 1
    # whose image is in work (one downloader, held at the gate).
    with start(gate, gpu_slots=1) as system:
        first, *others = [system.submit(payload(GOOD)) for _ in range(5)]
        wait_until(
            lambda: not any(system.status(job)["queued"] for job in (first, *others)),
            "the first five jobs claimed",
        )
        third = system.submit(payload(GOOD, GOOD))

        waiting = system.status(third)
        gate.set()

        assert waiting["status"] == "ongoing"
        assert waiting["queued"] is True
        assert waiting["progress"] == {"total": 2, "done": 0, "failed": 0}
        assert system.wait(first, timeout=5)["status"] == "completed"
        assert system.wait(third, timeout=5)["queued"] is False
        assert [i["perimeter"] for i in system.results(third)["images"]] == [100, 100]


def test_a_small_job_is_not_held_up_by_a_big_one_already_running(gate: threading.Event) -> None:
    with start(gate, gpu_slots=2) as system:
        gate.clear()
        big = system.submit(payload(*[GOOD] * 2000))
        small = system.submit(payload(GOOD, GOOD))
        gate.set()

        assert system.wait(small, timeout=5)["status"] == "completed"
        progress_of_big = system.status(big)["progress"]["done"]

        # The pool alternates between the jobs, so the small one ends long before the big.
        assert progress_of_big < 1000
        assert system.wait(big, timeout=10)["status"] == "completed"


def test_wait_gives_up_after_its_timeout(gate: threading.Event) -> None:
    gate.clear()
    with start(gate, gpu_slots=1) as system:
        job_id = system.submit(payload(GOOD))

        with pytest.raises(TimeoutError):
            system.wait(job_id, timeout=0.2)

        gate.set()
        assert system.wait(job_id, timeout=5)["status"] == "completed"


def test_stopping_the_service_releases_a_caller_waiting_for_a_job(gate: threading.Event) -> None:
    gate.clear()
    system = start(gate, gpu_slots=1, stop_timeout=1)
    job_id = system.submit(payload(GOOD))
    outcome: list[BaseException] = []

    def waiter() -> None:
        try:
            system.wait(job_id)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            outcome.append(exc)

    thread = threading.Thread(target=waiter)
    thread.start()
    system.stop()
    gate.set()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ServiceBusyError)


@pytest.mark.parametrize("job_id", [0, 99, -1, True, "1", None])
def test_unknown_or_malformed_job_ids_raise_unknown_job(gate: threading.Event, job_id: Any) -> None:
    with start(gate, gpu_slots=1) as system:
        for call in (system.status, system.results, system.wait):
            with pytest.raises(UnknownJobError):
                call(job_id)


def test_an_invalid_payload_raises_validation_error_and_creates_no_job(
    gate: threading.Event,
) -> None:
    with start(gate, gpu_slots=1) as system:
        with pytest.raises(ValidationError) as caught:
            system.submit({"count": 1, "visits": [{"store_id": "S00339218"}]})

        assert caught.value.field == "visits[0].visit_time"
        assert system.submit(payload(GOOD)) == 1


def test_calls_after_stop_raise_service_busy_and_stop_is_idempotent(
    gate: threading.Event,
) -> None:
    system = start(gate, gpu_slots=1)
    system.stop()
    system.stop()

    with pytest.raises(ServiceBusyError):
        system.submit(payload(GOOD))


def test_private_urls_are_allowed_by_the_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RETAILPULSE_ALLOW_PRIVATE_URLS", "1")
    with retailpulse.start(gpu_slots=1) as allowed:
        assert allowed.config.allow_private_urls is True
    with retailpulse.start(gpu_slots=1, allow_private_urls=False) as explicit:
        assert explicit.config.allow_private_urls is False
    monkeypatch.delenv("RETAILPULSE_ALLOW_PRIVATE_URLS")
    with retailpulse.start(gpu_slots=1) as default:
        assert default.config.allow_private_urls is False


def test_one_downloader_keeps_every_gpu_slot_busy_and_runs_ahead_by_one_image() -> None:
    gpu = HeldGpu()
    draws = SeededRandom()
    gpu_seconds = [draws.uniform(0.1, 0.4) for _ in range(5)]  # the one worker's draws
    with retailpulse.start(
        gpu_slots=4,
        downloaders=1,
        fetcher_factory=lambda: FakeFetcher({GOOD: (30, 20)}),
        random_factory=SeededRandom,
        gpu=gpu,
    ) as system:
        job_id = system.submit(payload(*[GOOD] * 8))

        wait_until(lambda: system.pool_stats().ready == 1, "a measured image waits for the GPU")
        stats = system.pool_stats()
        assert (stats.workers, stats.slots, stats.free_slots) == (1, 4, 0)
        # Four images on the GPU at once, downloaded one at a time; the fifth is booked on
        # the slot that frees first and leaves its own GPU time after that moment.
        assert gpu.gpu_times[:4] == gpu_seconds[:4]
        assert gpu.gpu_times[4:] == [pytest.approx(min(gpu_seconds[:4]) + gpu_seconds[4])]
        assert system.status(job_id)["progress"]["done"] == 0

        gpu.release()  # their time is up: the last three images take free slots at once
        wait_until(lambda: len(gpu.gpu_times) == 3, "the last three images are on the GPU")
        wait_until(lambda: system.status(job_id)["progress"]["done"] == 5, "five images done")
        gpu.release()

        assert system.wait(job_id, timeout=5)["status"] == "completed"
