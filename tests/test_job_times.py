"""``submitted_at`` and ``finished_at`` by value: the clock's readings, as ISO 8601 UTC.

A ``ManualClock`` fixes both instants, so the strings can be asserted exactly; with
a real clock only their shape could be, which lets a swapped or misread time through.
"""

from pathlib import Path

import pytest

import retailpulse
from retailpulse.testing import FakeFetcher, HeldGpu, ManualClock, wait_until

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20 UTC
GOOD = "https://img.example.test/good.png"


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_jobs_times_are_the_clocks_readings_at_submit_and_at_its_end(
    tmp_path: Path, kind: str
) -> None:
    clock = ManualClock(T0)
    gpu = HeldGpu()
    data = tmp_path / "jobs.db" if kind == "sqlite" else None
    payload = {
        "count": 1,
        "visits": [{"store_id": "S00339218", "image_url": [GOOD, GOOD], "visit_time": "t"}],
    }
    with retailpulse.start(
        data=data,
        clock=clock,
        gpu=gpu,
        fetcher_factory=lambda: FakeFetcher({GOOD: (30, 20)}),
        gpu_slots=1,
    ) as system:
        job_id = system.submit(payload)
        clock.advance(2.25)
        running = system.status(job_id)

        def ended() -> bool:
            gpu.release()
            return bool(system.status(job_id)["status"] != "ongoing")

        wait_until(ended, "the job has ended")
        clock.advance(60)  # later readings must not change what was recorded
        final = system.status(job_id)

    assert running["submitted_at"] == "2023-11-14T22:13:20.000+00:00"
    assert running["finished_at"] is None
    assert final["status"] == "completed"
    assert final["submitted_at"] == "2023-11-14T22:13:20.000+00:00"
    assert final["finished_at"] == "2023-11-14T22:13:22.250+00:00"
