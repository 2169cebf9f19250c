"""The cluster scenario: real ``retailpulse serve`` nodes on one PostgreSQL database.

- CPU-bound (``--workers 256``, no GPU time): one node, then two, on the same
  scratch database, in pairs run one after the other, so each pair's ratio is
  measured under the same load (the machine is shared; ratios of one pair compare,
  figures of two runs less so). Each run records the CPU per image of every node,
  the image server, the database's backends and the whole machine: whether the
  nodes themselves scale shows there, whatever the machine's two cores allow.
- GPU-bound (``--workers 32``, 0.1-0.4 s of GPU time): the time of one job.
- The database's cost per 1,000 images during the node runs (``pg_stat``), the
  protocol alone on simulated nodes (claim latency), what the server sustains
  (pgbench), and from those, on paper, what 100 nodes would ask of it.

Where PostgreSQL does not answer, the scenario says so and measures nothing.
"""

import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from retailpulse.bench.client import POLL_INTERVAL, ApiClient, make_payload
from retailpulse.bench.cpu import CpuSplit, CpuWatch
from retailpulse.bench.estimate import Estimate, estimate
from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.bench.pgstats import backend_pids, counters, pgbench
from retailpulse.bench.protocol import ProtocolFigures, run_protocol
from retailpulse.testing.nodes import Node
from retailpulse.testing.postgres import scratch_database, unavailable

__all__ = ["ClusterFigures", "ClusterPlan", "NodesRun", "Pair", "run_cluster"]

CPU_BOUND = ("--workers", "256", "--min-sleep", "0", "--max-sleep", "0")
GPU_BOUND = ("--workers", "32")
STATS_DELAY = 1.5
"""Node backends report their counters about once a second (at their beats)."""
ESTIMATE_NODES = 100
ESTIMATE_RATE = 1_000.0


@dataclass(frozen=True, slots=True)
class ClusterPlan:
    cpu_images: int
    pairs: int
    """1-node and 2-node CPU-bound runs, interleaved."""
    gpu_images: int
    protocol_images: int
    protocol_nodes: tuple[int, ...]
    pgbench: tuple[int, int, int] | None
    """(scale, clients, seconds), or ``None`` not to run it."""
    job_timeout: float

    @classmethod
    def full(cls) -> "ClusterPlan":
        return cls(10_000, 3, 1_600, 25_600, (1, 2, 4), (10, 8, 20), 600.0)

    @classmethod
    def quick(cls) -> "ClusterPlan":
        return cls(1_000, 1, 192, 2_560, (2,), (1, 4, 2), 60.0)


@dataclass(frozen=True, slots=True)
class NodesRun:
    """One job on ``nodes`` nodes: its time, where the CPU went, what the database did."""

    nodes: int
    images: int
    seconds: float
    images_per_s: float
    steady_images_per_s: float
    """Between the polls that saw 10% and 90% of the images done: the pace once every
    node has claimed its first chunks and before the last chunks run out."""
    load: float
    """The machine's 1-minute load average when the job ended."""
    cpu: CpuSplit
    transactions_per_1000: float
    """Every transaction of the database during the run, the bench's polls included."""
    polls_per_1000: float
    """Of which the bench's own status requests (one read each)."""
    rows_per_1000: float
    wal_kib_per_1000: float
    """The server's WAL: other databases' writes on a shared server count too."""


@dataclass(frozen=True, slots=True)
class Pair:
    one: NodesRun
    two: NodesRun

    @property
    def speedup(self) -> float:
        """2-node img/s against 1-node img/s (the CPU-bound target: >= 1.6)."""
        return self.two.images_per_s / self.one.images_per_s

    @property
    def steady_speedup(self) -> float:
        """The same, of the pace between 10% and 90% done."""
        return self.two.steady_images_per_s / self.one.steady_images_per_s

    @property
    def time_ratio(self) -> float:
        """2-node time against 1-node time (the GPU-bound target: <= 0.6)."""
        return self.two.seconds / self.one.seconds


@dataclass(slots=True)
class ClusterFigures:
    skipped: str | None = None
    """Why nothing was measured (PostgreSQL not reachable), or ``None``."""
    cpu: list[Pair] = field(default_factory=list)
    gpu: Pair | None = None
    protocol: list[ProtocolFigures] = field(default_factory=list)
    server_tps: float | None = None
    server_note: str = ""
    estimate: Estimate | None = None

    @property
    def cpu_speedup(self) -> float | None:
        """The median of the pairs' ratios."""
        return statistics.median(p.speedup for p in self.cpu) if self.cpu else None


Progress = Callable[[str], None]


def _urls(base_url: str, tag: str, count: int) -> list[str]:
    paths = list(BENCH_IMAGES)
    return [f"{base_url}{paths[n % len(paths)]}?{tag}={n}" for n in range(count)]


def _watch(
    client: ApiClient, job_id: int, deadline: float
) -> tuple[dict[str, Any], list[tuple[float, int]]]:
    """Poll the job until it ends; its last status, and (time, images done) per poll."""
    progress: list[tuple[float, int]] = []
    while True:
        status = client.status(job_id)
        progress.append((time.perf_counter(), int(status["progress"]["done"])))
        if status["status"] != "ongoing":
            return status, progress
        if progress[-1][0] > deadline:
            raise TimeoutError(f"job {job_id} still ongoing: {status['progress']}")
        time.sleep(POLL_INTERVAL)


def _steady(progress: Sequence[tuple[float, int]], images: int) -> float:
    """Images per second between the first poll at 10% done and the last at 90% (the
    whole job's pace when the polls are too few to tell)."""
    low = next((p for p in progress if p[1] >= images * 0.1), progress[0])
    high = next((p for p in reversed(progress) if p[1] <= images * 0.9), progress[-1])
    if high[0] - low[0] < 0.2 or high[1] <= low[1]:
        start, end = progress[0][0], progress[-1][0]
        return images / (end - start) if end > start else float("nan")
    return (high[1] - low[1]) / (high[0] - low[0])


class _Cluster:
    """Nodes on one scratch database, the processes whose CPU is watched, the jobs."""

    def __init__(self, url: str, logs: Path, image_url: str, image_server_pid: int) -> None:
        self.url = url
        self.logs = logs
        self.image_url = image_url
        self.image_server_pid = image_server_pid
        self.started = 0

    def node(self, *options: str) -> Node:
        self.started += 1
        log = self.logs / f"node-{self.started}.log"
        return Node(self.url, log, "--log-level", "WARNING", *options)

    def job(self, nodes: Sequence[Node], images: int, timeout: float) -> NodesRun:
        """One job submitted to the first node; the clock runs from the submit to the
        poll that saw it end."""
        urls = _urls(self.image_url, f"r{time.monotonic_ns()}", images)
        client = ApiClient(nodes[0].url)
        watch = CpuWatch(
            {
                "nodes": [node.process.pid for node in nodes],
                "image_server": [self.image_server_pid],
                "postgres": backend_pids(self.url),
            }
        )
        before = counters(self.url)
        try:
            watch.start()
            started = time.perf_counter()
            job_id, _ = client.submit(make_payload(urls))
            final, progress = _watch(client, job_id, started + timeout)
            seconds = progress[-1][0] - started
            spent = watch.stop()
            load = os.getloadavg()[0]
            polls = client.status_calls
        finally:
            client.close()
        if final["status"] != "completed":
            raise RuntimeError(f"the cluster's job did not complete: {final}")
        time.sleep(STATS_DELAY)
        db = counters(self.url) - before
        per_1000 = 1000 / images
        return NodesRun(
            nodes=len(nodes),
            images=images,
            seconds=seconds,
            images_per_s=images / seconds,
            steady_images_per_s=_steady(progress, images),
            load=load,
            cpu=CpuWatch.split(spent, images),
            transactions_per_1000=db.transactions * per_1000,
            polls_per_1000=polls * per_1000,
            rows_per_1000=db.rows * per_1000,
            wal_kib_per_1000=db.wal_bytes / 1024 * per_1000,
        )

    def pairs(self, options: Sequence[str], images: int, count: int, timeout: float) -> list[Pair]:
        """``count`` pairs: one node alone, then a second one started beside it."""
        result = []
        with ExitStack() as stack:
            first = self.node(*options)
            stack.callback(first.stop)
            for _ in range(count):
                one = self.job([first], images, timeout)
                second = self.node(*options)
                try:
                    two = self.job([first, second], images, timeout)
                finally:
                    second.stop()
                result.append(Pair(one, two))
        return result


@contextmanager
def _cluster(admin: str, image_url: str, image_server_pid: int) -> Iterator[_Cluster]:
    with (
        scratch_database(admin, prefix="rp_bench_nodes") as url,
        TemporaryDirectory(prefix="retailpulse-bench-") as logs,
    ):
        yield _Cluster(url, Path(logs), image_url, image_server_pid)


def _estimate(figures: ClusterFigures) -> Estimate | None:
    """From the 2-node CPU-bound runs' database cost (less the bench's own polls) and
    the protocol's claims per 1,000 images (the run with most simulated nodes)."""
    if not figures.cpu or not figures.protocol:
        return None
    twos = [pair.two for pair in figures.cpu]
    return estimate(
        nodes=ESTIMATE_NODES,
        images_per_s_per_node=ESTIMATE_RATE,
        claims_per_1000=figures.protocol[-1].claims_per_1000,
        transactions_per_1000=statistics.mean(
            r.transactions_per_1000 - r.polls_per_1000 for r in twos
        ),
        rows_per_1000=statistics.mean(r.rows_per_1000 for r in twos),
        wal_kib_per_1000=statistics.mean(r.wal_kib_per_1000 for r in twos),
        server_tps=figures.server_tps,
    )


def run_cluster(
    plan: ClusterPlan, admin: str, image_url: str, image_server_pid: int, say: Progress = print
) -> ClusterFigures:
    """Every cluster figure of ``plan``, on scratch databases of the server at ``admin``."""
    reason = unavailable(admin)
    if reason is not None:
        return ClusterFigures(skipped=reason)
    figures = ClusterFigures()
    with _cluster(admin, image_url, image_server_pid) as cluster:
        say(f"cluster: CPU-bound, {plan.pairs} pair(s) of 1 then 2 nodes, {plan.cpu_images} images")
        figures.cpu = cluster.pairs(CPU_BOUND, plan.cpu_images, plan.pairs, plan.job_timeout)
        say(f"cluster: GPU-bound, 1 then 2 nodes, one job of {plan.gpu_images} images")
        [figures.gpu] = cluster.pairs(GPU_BOUND, plan.gpu_images, 1, plan.job_timeout)
    for nodes in plan.protocol_nodes:
        say(f"cluster: the protocol alone, {nodes} simulated node(s), {plan.protocol_images} img")
        with scratch_database(admin, prefix="rp_bench_protocol") as url:
            figures.protocol.append(run_protocol(url, nodes, plan.protocol_images))
    if plan.pgbench is None:
        figures.server_note = "pgbench not run"
    else:
        scale, clients, seconds = plan.pgbench
        say(f"cluster: pgbench, scale {scale}, {clients} clients, {seconds} s")
        with scratch_database(admin, prefix="rp_bench_pgbench") as url:
            figures.server_tps = pgbench(url, scale=scale, clients=clients, seconds=seconds)
        figures.server_note = (
            "pgbench is not installed: what this server sustains was not measured"
            if figures.server_tps is None
            else f"pgbench TPC-B-like, scale {scale}, {clients} clients, {seconds} s"
        )
    figures.estimate = _estimate(figures)
    return figures
