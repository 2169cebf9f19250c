"""The cluster scenario's figures as printed lines and as a JSON record (the
dataclasses' fields plus the ratios derived from them)."""

from dataclasses import asdict
from typing import Any

from retailpulse.bench.cluster import ClusterFigures, NodesRun, Pair
from retailpulse.bench.cpu import CpuSplit

__all__ = ["cluster_lines", "cluster_record"]

CPU_TARGET = 1.6
GPU_TARGET = 0.6


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _cpu(split: CpuSplit) -> str:
    nodes = " + ".join(f"{ms:.2f}" for ms in split.nodes)
    return (
        f"CPU ms/image: node(s) {nodes}, image server {split.image_server:.2f}, "
        f"postgres backends {split.postgres:.2f}, other {split.other:.2f}, "
        f"machine {split.machine:.2f}"
    )


def _run(run: NodesRun) -> str:
    return (
        f"{run.nodes} node(s): {run.images:,} images in {run.seconds:.2f} s, "
        f"{run.images_per_s:,.0f} img/s ({run.steady_images_per_s:,.0f} between 10% and 90% "
        f"done), load {run.load:.1f}; {_cpu(run.cpu)}"
    )


def _db(run: NodesRun) -> str:
    return (
        f"{run.transactions_per_1000:.1f} transactions (the bench's status polls "
        f"{run.polls_per_1000:.1f} of them), {run.rows_per_1000:,.0f} rows written, "
        f"{run.wal_kib_per_1000:,.0f} KiB WAL"
    )


def _pair(label: str, pair: Pair) -> list[str]:
    return [f"{label}, {_run(pair.one)}", f"{label}, {_run(pair.two)}"]


def cluster_lines(figures: ClusterFigures) -> list[str]:
    """What the scenario measured, a line per figure (or why it measured nothing)."""
    if figures.skipped is not None:
        return [f"cluster: skipped: {figures.skipped}"]
    lines = []
    for n, pair in enumerate(figures.cpu, 1):
        lines += _pair(f"CPU-bound W=256, pair {n}", pair)
        lines.append(
            f"CPU-bound W=256, pair {n}: 2 nodes / 1 node {pair.speedup:.2f}x "
            f"({pair.steady_speedup:.2f}x between 10% and 90% done)"
        )
    if figures.cpu_speedup is not None:
        speedup = figures.cpu_speedup
        ratios = ", ".join(f"{p.speedup:.2f}x" for p in figures.cpu)
        lines.append(
            f"CPU-bound 2 nodes / 1 node: median {speedup:.2f}x of {ratios} "
            f"(target >= {CPU_TARGET}x: {_met(speedup >= CPU_TARGET)})"
        )
        for n, pair in enumerate(figures.cpu, 1):
            one = sum(pair.one.cpu.nodes)
            two = sum(pair.two.cpu.nodes)
            lines.append(
                f"CPU-bound pair {n}: nodes' CPU ms/image, 1 node {one:.2f}, 2 nodes {two:.2f} "
                f"together ({two / one:.2f} of one node's)"
            )
    if figures.gpu is not None:
        gpu = figures.gpu
        lines += _pair("GPU-bound W=32", gpu)
        lines.append(
            f"GPU-bound W=32, one {gpu.one.images:,}-image job: 1 node {gpu.one.seconds:.2f} s, "
            f"2 nodes {gpu.two.seconds:.2f} s: {gpu.time_ratio:.2f} "
            f"(target <= {GPU_TARGET}: {_met(gpu.time_ratio <= GPU_TARGET)})"
        )
    for n, pair in enumerate(figures.cpu, 1):
        lines.append(
            f"database, CPU-bound pair {n}, 2 nodes, per 1,000 images (submit included): "
            f"{_db(pair.two)}"
        )
    for p in figures.protocol:
        lines.append(
            f"protocol alone, {p.nodes} simulated node(s), {p.images:,} images: "
            f"{p.images_per_s:,.0f} img/s, claim p50 {p.claim_p50_ms:.2f} ms p99 "
            f"{p.claim_p99_ms:.2f} ms; per 1,000 images {p.claims_per_1000:.1f} claims, "
            f"{p.transactions_per_1000:.1f} transactions, {p.rows_per_1000:,.0f} rows, "
            f"{p.wal_kib_per_1000:,.0f} KiB WAL (submit: {p.submit_wal_kib_per_1000:,.0f} KiB)"
        )
    tps = "-" if figures.server_tps is None else f"{figures.server_tps:,.0f} tps"
    lines.append(f"this machine's PostgreSQL: {tps} ({figures.server_note})")
    if (e := figures.estimate) is not None:
        against = (
            "against pgbench: not measured"
            if e.times_server is None
            else f"{e.times_server:.1f}x the transactions/s pgbench got here"
        )
        lines.append(
            f"on paper, {e.nodes} nodes x {e.images_per_s_per_node:,.0f} img/s = "
            f"{e.images_per_s:,.0f} img/s: {e.claims_per_s:,.0f} claims/s, "
            f"{e.transactions_per_s:,.0f} transactions/s, {e.rows_per_s:,.0f} rows/s, "
            f"{e.wal_mb_per_s:.1f} MB/s WAL; {against}"
        )
    return [f"cluster: {line}" for line in lines]


def _split(split: CpuSplit) -> dict[str, Any]:
    return asdict(split) | {"other": split.other}


def _pair_record(pair: Pair) -> dict[str, Any]:
    runs = {
        name: asdict(run) | {"cpu": _split(run.cpu)}
        for name, run in (("one", pair.one), ("two", pair.two))
    }
    return runs | {
        "speedup": pair.speedup,
        "steady_speedup": pair.steady_speedup,
        "time_ratio": pair.time_ratio,
    }


def cluster_record(figures: ClusterFigures) -> dict[str, Any]:
    """The figures as JSON-ready data, derived ratios included."""
    record = asdict(figures)
    record["cpu"] = [_pair_record(pair) for pair in figures.cpu]
    record["gpu"] = None if figures.gpu is None else _pair_record(figures.gpu)
    record["cpu_speedup"] = figures.cpu_speedup
    if figures.estimate is not None:
        record["estimate"]["times_server"] = figures.estimate.times_server
    return record
