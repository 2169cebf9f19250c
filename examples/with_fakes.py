"""Testing code that embeds Retail Pulse, with no network and no sleeping.

``retailpulse.testing`` holds the fakes the project's own tests use. Here a
program's function, ``largest_perimeter``, is tested against the real actors
with a fake fetcher (sizes or errors by URL), an instant simulated GPU, a seeded random
source and a manual clock. Run it: it finishes in well under a second.
"""

from typing import Any

import retailpulse
from retailpulse.ports import FetchError
from retailpulse.testing import FakeFetcher, InstantGpu, ManualClock, SeededRandom


def largest_perimeter(service: retailpulse.System, store_id: str, urls: list[str]) -> int | None:
    """The program's own code under test: the largest perimeter among a visit's images."""
    visit = {"store_id": store_id, "image_url": urls, "visit_time": "09:30"}
    job_id = service.submit({"count": 1, "visits": [visit]})
    service.wait(job_id, timeout=5)
    images: list[dict[str, Any]] = service.results(job_id)["images"]
    return max((i["perimeter"] for i in images if i["perimeter"] is not None), default=None)


fetcher = FakeFetcher(
    {
        "https://cdn.example/a.jpg": (640, 480),
        "https://cdn.example/b.jpg": (1280, 720),
        "https://cdn.example/c.jpg": FetchError("https://cdn.example/c.jpg: timed out"),
    }
)
gpu = InstantGpu()
with retailpulse.start(
    gpu_slots=2,
    fetcher_factory=lambda: fetcher,
    gpu=gpu,
    random_factory=SeededRandom,
    clock=ManualClock(),
) as service:
    urls = ["https://cdn.example/a.jpg", "https://cdn.example/b.jpg", "https://cdn.example/c.jpg"]
    assert largest_perimeter(service, "S00339218", urls) == 2 * (1280 + 720)
    assert largest_perimeter(service, "S00339218", urls[2:]) is None

assert sorted(fetcher.calls) == sorted([*urls, urls[2]])
assert len(gpu.gpu_times) == 2  # one simulated GPU pause per measured image, none slept
print("ok: largest perimeter 4000, a failed image ignored, 2 GPU pauses recorded, not slept")
