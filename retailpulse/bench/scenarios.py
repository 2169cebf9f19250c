"""The benchmark's scenarios: each starts a fresh service process and returns one row.

Every figure comes from the outside, as a client and an operator see it: wall
time from the submit request to the poll that saw the job end, status latency
timed by a second client while the jobs run, memory from ``/proc`` of the
service process. The baseline runs over the same URLs with the same W, in the
same run, after the service has stopped (so the two never share the CPU).
"""

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from retailpulse.bench.baseline import run_baseline
from retailpulse.bench.client import ApiClient, LatencySampler, make_payload, percentile
from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.bench.processes import ServiceProcess, cpu_seconds, memory_kib

__all__ = ["Plan", "Row", "run_plan"]

MEAN_SLEEP = 0.25


@dataclass(frozen=True, slots=True)
class Plan:
    """Sizes of one benchmark run; ``quick`` is the smoke test ``make test`` runs."""

    sweep: tuple[tuple[int, int], ...]
    """(W, images) for the throughput sweep, each also run through the baseline."""
    big_job: tuple[int, int]
    concurrent: tuple[int, int, int]
    """(W, jobs, images per job)."""
    fairness: tuple[int, int, int]
    """(W, images in each of the two big jobs, images in the small job)."""
    memory: tuple[int, int, float]
    """(W, images, seconds to watch the job before stopping the service)."""
    job_timeout: float
    """A job still running after this long is a failure: the service is stuck."""

    @classmethod
    def full(cls) -> "Plan":
        return cls(
            sweep=(
                (16, 1_000),
                (64, 4_000),
                (256, 8_000),
                (1024, 8_000),
                (2048, 8_000),
                (4096, 8_000),
            ),
            big_job=(256, 10_000),
            concurrent=(256, 3, 2_000),
            fairness=(64, 5_000, 10),
            memory=(256, 100_000, 15.0),
            job_timeout=900.0,
        )

    @classmethod
    def quick(cls) -> "Plan":
        return cls(
            sweep=((16, 96), (64, 384)),
            big_job=(64, 1_000),
            concurrent=(64, 3, 150),
            fairness=(64, 300, 10),
            memory=(64, 5_000, 2.0),
            job_timeout=40.0,  # each job takes a few seconds here, even on a slow machine
        )


@dataclass(slots=True)
class Row:
    scenario: str
    images: int
    workers: int
    wall_s: float
    images_per_s: float
    ideal_per_s: float
    baseline_per_s: float | None = None
    status_p50_ms: float | None = None
    status_p99_ms: float | None = None
    peak_rss_mib: float | None = None
    rss_per_image_kib: float | None = None
    submit_ms: float | None = None
    cpu_ms_per_image: float | None = None
    """The service process's CPU time (user + system) over the scenario, per image."""
    load: float | None = None
    """The machine's 1-minute load average when the scenario ended (other processes
    share the CPU: figures of one run compare, figures of two runs less so)."""
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        """Throughput against the best possible: min(W / mean sleep, the baseline)."""
        best = self.ideal_per_s
        if self.baseline_per_s is not None:
            best = min(best, self.baseline_per_s)
        return self.images_per_s / best


def _urls(base_url: str, count: int, tag: str) -> list[str]:
    """Distinct URLs (a query string per image) cycling through the bench images."""
    paths = list(BENCH_IMAGES)
    return [f"{base_url}{paths[i % len(paths)]}?{tag}={i}" for i in range(count)]


def _memory(service: ServiceProcess, images: int) -> tuple[float, float]:
    """Peak RSS in MiB, and its growth over the idle service per image submitted, in KiB."""
    peak = memory_kib(service.pid, "VmHWM")
    return peak / 1024, max(peak - service.idle_kib, 0) / images


def _latency_ms(latencies: Sequence[float]) -> tuple[float, float]:
    return percentile(latencies, 0.50) * 1000, percentile(latencies, 0.99) * 1000


def _run_jobs(
    service: ServiceProcess, jobs: Sequence[Sequence[str]], timeout: float
) -> tuple[list[float], list[float], float, float, float]:
    """Submit the jobs back to back and wait for all; return per-job wall times, the
    status latencies sampled meanwhile, the longest submit, the total wall time and the
    service's CPU seconds over it."""
    client = ApiClient(service.base_url)
    sampler = LatencySampler(service.base_url)
    cpu_before = cpu_seconds(service.pid)
    try:
        started = time.perf_counter()
        submitted: list[tuple[int, float]] = []
        longest_submit = 0.0
        for urls in jobs:
            job_id, submit_s = client.submit(make_payload(urls))
            longest_submit = max(longest_submit, submit_s)
            submitted.append((job_id, time.perf_counter()))
            sampler.watch([job for job, _ in submitted])
        ended = client.wait([job for job, _ in submitted], timeout)
        total = time.perf_counter() - started
        cpu = cpu_seconds(service.pid) - cpu_before
    finally:
        latencies = sampler.stop()
        client.close()
    walls = [ended[job] - at for job, at in submitted]
    return walls, latencies, longest_submit, total, cpu


def _jobs_row(
    scenario: str,
    workers: int,
    batches: Sequence[Sequence[str]],
    baseline: float | None,
    timeout: float,
    *,
    report_submit: bool = False,
) -> Row:
    """Run the jobs on a fresh service with W = ``workers`` and describe the run."""
    images = sum(len(urls) for urls in batches)
    with ServiceProcess("--workers", str(workers)) as service:
        _, latencies, submit_s, wall, cpu = _run_jobs(service, batches, timeout)
        peak_mib, per_image = _memory(service, images)
    p50, p99 = _latency_ms(latencies)
    return Row(
        scenario,
        images,
        workers,
        wall,
        images / wall,
        workers / MEAN_SLEEP,
        baseline_per_s=baseline,
        status_p50_ms=p50,
        status_p99_ms=p99,
        peak_rss_mib=peak_mib,
        rss_per_image_kib=per_image,
        submit_ms=submit_s * 1000 if report_submit else None,
        cpu_ms_per_image=cpu * 1000 / images,
        load=os.getloadavg()[0],
    )


def sweep_point(image_url: str, workers: int, images: int, *, timeout: float) -> Row:
    urls = _urls(image_url, images, f"w{workers}")
    row = _jobs_row("throughput", workers, [urls], None, timeout)
    row.baseline_per_s = images / run_baseline(urls, workers)  # after the service stopped
    return row


def big_job(
    image_url: str, workers: int, images: int, baseline: float | None, *, timeout: float
) -> Row:
    urls = _urls(image_url, images, "big")
    return _jobs_row("one big job", workers, [urls], baseline, timeout, report_submit=True)


def concurrent_jobs(
    image_url: str, workers: int, jobs: int, images: int, baseline: float | None, *, timeout: float
) -> Row:
    batches = [_urls(image_url, images, f"c{n}") for n in range(jobs)]
    return _jobs_row(f"{jobs} concurrent jobs", workers, batches, baseline, timeout)


def fairness(image_url: str, workers: int, big: int, small: int, *, timeout: float) -> Row:
    """The small job alone, then behind two big ones on the same service."""
    with ServiceProcess("--workers", str(workers)) as service:
        [alone], *_ = _run_jobs(service, [_urls(image_url, small, "alone")], timeout)
        client = ApiClient(service.base_url)
        sampler = LatencySampler(service.base_url)
        try:
            big_ids = [
                client.submit(make_payload(_urls(image_url, big, f"b{n}")))[0] for n in (1, 2)
            ]
            small_id, _ = client.submit(make_payload(_urls(image_url, small, "behind")))
            submitted = time.perf_counter()
            sampler.watch([*big_ids, small_id])
            ended = client.wait([small_id], timeout)
            behind = ended[small_id] - submitted
            progress = client.status(big_ids[0])["progress"]
        finally:
            latencies = sampler.stop()
            client.close()
        peak_mib, per_image = _memory(service, 2 * big + 2 * small)
    p50, p99 = _latency_ms(latencies)
    load = os.getloadavg()[0]
    return Row(
        "small job behind two big",
        small,
        workers,
        behind,
        small / behind,
        workers / MEAN_SLEEP,
        status_p50_ms=p50,
        status_p99_ms=p99,
        peak_rss_mib=peak_mib,
        rss_per_image_kib=per_image,
        load=load,
        notes=[
            f"alone {alone:.2f} s, behind two {big}-image jobs {behind:.2f} s "
            f"(x{behind / alone:.2f}); the first big job had {progress['done']} images done"
        ],
    )


def memory(image_url: str, workers: int, images: int, watch_s: float) -> Row:
    """Resident memory per queued image: a huge job, watched for a while, then stopped."""
    urls = _urls(image_url, images, "m")
    payload = make_payload(urls)
    with ServiceProcess("--workers", str(workers)) as service:
        client = ApiClient(service.base_url)
        try:
            idle = memory_kib(service.pid)
            job_id, submit_s = client.submit(payload)
            peak = idle
            deadline = time.perf_counter() + watch_s
            while time.perf_counter() < deadline:
                peak = max(peak, memory_kib(service.pid))
                time.sleep(0.1)
            done = client.status(job_id)["progress"]["done"]
        finally:
            client.close()
        high_water = memory_kib(service.pid, "VmHWM")
    return Row(
        "memory, one huge job",
        images,
        workers,
        watch_s,
        done / watch_s,
        workers / MEAN_SLEEP,
        peak_rss_mib=high_water / 1024,
        rss_per_image_kib=(max(peak, high_water) - idle) / images,
        submit_ms=submit_s * 1000,
        load=os.getloadavg()[0],
        notes=[
            f"idle RSS {idle / 1024:.0f} MiB; watched {watch_s:g} s, {done} of {images} done, "
            "then stopped: the figure is per queued image"
        ],
    )


Progress = Callable[[str], None]


def run_plan(
    plan: Plan, image_url: str, say: Progress = print, *, sweep_only: bool = False
) -> list[Row]:
    """Run every scenario of ``plan`` against the image server at ``image_url`` (only
    the throughput sweep when ``sweep_only``)."""
    rows: list[Row] = []
    baselines: dict[int, float] = {}
    for workers, images in plan.sweep:
        say(f"throughput: W={workers}, {images} images, then the baseline")
        row = sweep_point(image_url, workers, images, timeout=plan.job_timeout)
        baselines[workers] = row.baseline_per_s or 0.0
        rows.append(row)
    if sweep_only:
        return rows
    workers, images = plan.big_job
    say(f"one big job: {images} images, W={workers}")
    rows.append(
        big_job(image_url, workers, images, baselines.get(workers), timeout=plan.job_timeout)
    )
    workers, jobs, images = plan.concurrent
    say(f"{jobs} concurrent jobs of {images} images, W={workers}")
    baseline = baselines.get(workers)
    rows.append(
        concurrent_jobs(image_url, workers, jobs, images, baseline, timeout=plan.job_timeout)
    )
    workers, big, small = plan.fairness
    say(f"fairness: {small} images behind two jobs of {big}, W={workers}")
    rows.append(fairness(image_url, workers, big, small, timeout=plan.job_timeout))
    workers, images, watch = plan.memory
    say(f"memory: one job of {images} images, W={workers}, watched {watch:g} s")
    rows.append(memory(image_url, workers, images, watch))
    return rows
