"""The code a user would write without the service: a plain ThreadPoolExecutor.

It is the yardstick the issue asks for, so it is deliberately ordinary and fair:
W threads, each with its own ``requests.Session`` (connections are reused, as in
the service), Pillow's lazy ``Image.open`` for the size, and a real
``time.sleep(uniform(min, max))`` for the simulated GPU, holding the thread.
"""

import io
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests
from PIL import Image

__all__ = ["run_baseline"]


def run_baseline(
    urls: Sequence[str], workers: int, gpu_time_range: tuple[float, float] = (0.1, 0.4)
) -> float:
    """Process every URL with ``workers`` threads; return the wall time in seconds."""
    local = threading.local()

    def process(url: str) -> int:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.get(url, timeout=(5, 15))
        response.raise_for_status()
        width, height = Image.open(io.BytesIO(response.content)).size
        time.sleep(random.uniform(*gpu_time_range))  # noqa: S311 - simulated GPU time
        return 2 * (width + height)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        perimeters = list(pool.map(process, urls))
    elapsed = time.perf_counter() - started
    if len(perimeters) != len(urls) or min(perimeters, default=1) <= 0:
        raise RuntimeError("the baseline lost images")
    return elapsed
