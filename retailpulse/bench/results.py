"""``retailpulse bench --results``: what reading a big job's results costs the service.

Two figures the results API promises (see docs/results.md), measured from outside:

- peak RSS growth: the service's peak resident memory (``VmHWM``) is reset through
  ``/proc/PID/clear_refs`` once a big job has ended, then its results are read in
  full as JSON, CSV and NDJSON; the new peak minus the RSS before is what reading
  cost. Where the reset is not allowed, a 5 ms RSS sampler gives the figure.
- first byte: time from sending ``GET /api/results`` (whole list, no ``limit``) of a
  bigger job to the first byte of its body, per format.

The big job's images come from the bench image server (known stores, every image
downloaded and measured, no simulated GPU sleep); the bigger job uses stores the
store master lacks, so it ends at once with an outcome for every image.
"""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from retailpulse.bench.client import ApiClient, make_payload
from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.bench.processes import ImageServerProcess, ServiceProcess, memory_kib

__all__ = [
    "FORMATS",
    "SIZES",
    "ResultsFigures",
    "measure_results",
    "results_table",
    "run_results_scenario",
]

FORMATS = ("json", "csv", "ndjson")
CHUNK = 64 * 1024
SAMPLE_EVERY = 0.005
SIZES = {False: (24_000, 100_000), True: (2_000, 5_000)}
"""(images read, images of the first-byte job), full and ``--quick``."""


@dataclass(slots=True)
class ResultsFigures:
    images: int
    bigger: int
    rss_before_mib: float = 0.0
    growth_mib: float = 0.0
    growth_method: str = ""
    read_s: dict[str, float] = field(default_factory=dict)
    body_mib: dict[str, float] = field(default_factory=dict)
    first_byte_ms: dict[str, float] = field(default_factory=dict)


class _RssSampler:
    """The highest VmRSS seen while it runs: the fallback when VmHWM cannot be reset."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.peak = memory_kib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self.peak = max(self.peak, memory_kib(self._pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=1.0)
        return self.peak


def _reset_peak(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return memory_kib(pid, "VmHWM") <= memory_kib(pid) + 64


def _unknown_store_payload(images: int) -> dict[str, Any]:
    visits = [
        {
            "store_id": f"BENCH-UNKNOWN-{start // 10}",
            "image_url": [f"http://127.0.0.1:9/x.png?{n}" for n in range(start, start + 10)],
            "visit_time": "2026-11-29T10:00:00",
        }
        for start in range(0, images, 10)
    ]
    return {"count": len(visits), "visits": visits}


def _read(
    session: requests.Session, base_url: str, job_id: int, fmt: str
) -> tuple[float, float, int]:
    """Read the whole results; return seconds to the first body byte, in all, and bytes."""
    started = time.perf_counter()
    with session.get(
        f"{base_url}/api/results",
        params={"jobid": str(job_id), "format": fmt},
        stream=True,
        timeout=120,
    ) as response:
        response.raise_for_status()
        chunks = response.iter_content(CHUNK)
        size = len(next(chunks, b""))
        first = time.perf_counter() - started
        for chunk in chunks:
            size += len(chunk)
    return first, time.perf_counter() - started, size


def _wait(session: requests.Session, base_url: str, job_ids: list[int], timeout: float) -> None:
    """Poll until every job ended; a busy answer (503) is asked again."""
    deadline = time.monotonic() + timeout
    for job_id in job_ids:
        while time.monotonic() < deadline:
            response = session.get(
                f"{base_url}/api/status", params={"jobid": str(job_id)}, timeout=30
            )
            if response.status_code == 200 and response.json()["status"] != "ongoing":
                break
            time.sleep(0.2)
        else:
            raise TimeoutError(f"job {job_id} still running after {timeout:g} s")


def measure_results(
    image_url: str, images: int, bigger: int, say: Callable[[str], None] = print
) -> ResultsFigures:
    figures = ResultsFigures(images, bigger)
    paths = list(BENCH_IMAGES)
    urls = [f"{image_url}{paths[i % len(paths)]}?r={i}" for i in range(images)]
    # ERROR: the bigger job's 100,000 "unknown store" warnings would be logged otherwise.
    options = ("--workers", "256", "--min-sleep", "0", "--max-sleep", "0", "--log-level", "ERROR")
    with ServiceProcess(*options) as service:
        client = ApiClient(service.base_url)
        session = requests.Session()
        try:
            say(f"results: a job of {images} images (downloaded), one of {bigger} (unknown stores)")
            big, _ = client.submit(make_payload(urls))
            bigger_id, _ = client.submit(_unknown_store_payload(bigger))
            _wait(session, service.base_url, [big, bigger_id], timeout=1800)
            _read(session, service.base_url, big, "json")  # warm: first-use imports, caches
            time.sleep(0.5)
            before = memory_kib(service.pid)
            reset = _reset_peak(service.pid)
            sampler = _RssSampler(service.pid)
            for fmt in FORMATS:
                _, took, size = _read(session, service.base_url, big, fmt)
                figures.read_s[fmt] = took
                figures.body_mib[fmt] = size / 2**20
            sampled = sampler.stop()
            peak = memory_kib(service.pid, "VmHWM") if reset else sampled
            figures.rss_before_mib = before / 1024
            figures.growth_mib = max(peak - before, 0) / 1024
            figures.growth_method = "VmHWM reset via clear_refs" if reset else "VmRSS sampled"
            for fmt in FORMATS:
                first, _, _ = _read(session, service.base_url, bigger_id, fmt)
                figures.first_byte_ms[fmt] = first * 1000
        finally:
            session.close()
            client.close()
    return figures


def results_table(figures: ResultsFigures) -> str:
    lines = [
        "| format | read all, s | body MiB | first byte of the bigger job, ms |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {fmt} | {figures.read_s[fmt]:.2f} | {figures.body_mib[fmt]:.1f} | "
        f"{figures.first_byte_ms[fmt]:.1f} |"
        for fmt in FORMATS
    ]
    lines.append(
        f"\nReading the {figures.images:,}-image job's results as JSON, CSV and NDJSON grew "
        f"the service's peak RSS by {figures.growth_mib:.2f} MiB (from "
        f"{figures.rss_before_mib:.0f} MiB; {figures.growth_method}). First byte: the "
        f"{figures.bigger:,}-image job, whole list."
    )
    return "\n".join(lines)


def run_results_scenario(quick: bool, say: Callable[[str], None] = print) -> int:
    """The scenario on its own image server; prints its table. Exit code 0."""
    images, bigger = SIZES[quick]
    with ImageServerProcess() as server:
        figures = measure_results(server.base_url, images, bigger, say)
    print(results_table(figures), flush=True)
    return 0
