"""``retailpulse.start``'s keywords: the old names still work, and say what replaced them."""

import pytest

import retailpulse
from retailpulse.config import ServiceConfig
from retailpulse.testing import FakeFetcher, InstantGpu


def test_gpu_slots_is_how_many_images_spend_their_gpu_time_at_once() -> None:
    with retailpulse.start(gpu_slots=3, gpu=InstantGpu()) as system:
        assert system.config.gpu_slots == 3
        assert system.pool_stats().slots == 3


def test_the_old_workers_keyword_still_sets_the_gpu_slots_with_a_deprecation_warning() -> None:
    with pytest.warns(DeprecationWarning, match="gpu_slots"):
        system = retailpulse.start(workers=5, gpu=InstantGpu())
    with system:
        assert system.config.gpu_slots == 5


def test_the_old_sleeper_keyword_still_sets_the_simulated_gpu_with_a_deprecation_warning() -> None:
    gpu, url = InstantGpu(), "https://img.example.test/a.png"
    with pytest.warns(DeprecationWarning, match="gpu="):
        system = retailpulse.start(sleeper=gpu, fetcher_factory=lambda: FakeFetcher({url: (3, 4)}))
    with system:
        visits = [{"store_id": "S00339218", "image_url": [url], "visit_time": "09:00"}]
        job_id = system.submit({"count": 1, "visits": visits})
        assert system.wait(job_id, timeout=5)["status"] == "completed"

    assert len(gpu.gpu_times) == 1  # the image's GPU time went through the given GPU


def test_service_config_takes_the_old_workers_name_too_with_a_warning() -> None:
    with pytest.warns(DeprecationWarning, match="gpu_slots") as caught:
        config = ServiceConfig(workers=7)

    assert config.gpu_slots == 7
    assert caught[0].filename == __file__  # the warning points at the caller
