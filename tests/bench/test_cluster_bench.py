"""The cluster scenario's arithmetic and its skip, without starting a node (the
quick bench in ``test_bench`` runs it for real on PostgreSQL)."""

import json
import socket
from pathlib import Path

import pytest

from retailpulse.bench.cluster import (
    ClusterFigures,
    ClusterPlan,
    NodesRun,
    Pair,
    _steady,
    run_cluster,
)
from retailpulse.bench.cluster_report import cluster_lines, cluster_record
from retailpulse.bench.cpu import CpuSplit, CpuWatch
from retailpulse.bench.estimate import estimate
from retailpulse.bench.pgstats import DbCounters
from retailpulse.bench.report import write_json


def _run(nodes: int, seconds: float, node_ms: tuple[float, ...]) -> NodesRun:
    split = CpuSplit(node_ms, image_server=0.1, postgres=0.05, machine=sum(node_ms) + 0.25)
    rate = 1000 / seconds
    return NodesRun(nodes, 1000, seconds, rate, rate * 1.1, 1.0, split, 30.0, 5.0, 1100.0, 250.0)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port  # closed again on return: nothing listens there


def test_the_estimate_scales_the_per_1000_figures_to_the_cluster_rate() -> None:
    e = estimate(
        nodes=100,
        images_per_s_per_node=1000,
        claims_per_1000=8,
        transactions_per_1000=24,
        rows_per_1000=1055,
        wal_kib_per_1000=200,
        server_tps=2000,
    )

    assert e.images_per_s == 100_000
    assert e.claims_per_s == 800
    assert e.transactions_per_s == 2400
    assert e.rows_per_s == 105_500
    assert e.wal_mb_per_s == pytest.approx(200 * 1024 * 100 / 1e6)
    assert e.times_server == pytest.approx(1.2)


def test_without_pgbench_the_estimate_is_not_set_against_a_server() -> None:
    e = estimate(
        nodes=1,
        images_per_s_per_node=1,
        claims_per_1000=1,
        transactions_per_1000=1,
        rows_per_1000=1,
        wal_kib_per_1000=1,
        server_tps=None,
    )

    assert e.times_server is None


def test_the_cpu_split_leaves_to_other_what_the_named_processes_did_not_spend() -> None:
    spent = {"nodes": [0.4, 0.5], "image_server": [0.1], "postgres": [0.05, 0.05], "machine": [1.5]}

    split = CpuWatch.split(spent, images=1000)

    assert split.nodes == pytest.approx((0.4, 0.5))
    assert split.image_server == pytest.approx(0.1)
    assert split.postgres == pytest.approx(0.1)
    assert split.other == pytest.approx(1.5 - 0.4 - 0.5 - 0.1 - 0.1)


def test_database_counters_subtract_field_by_field() -> None:
    assert DbCounters(10, 200, 3000) - DbCounters(4, 50, 1000) == DbCounters(6, 150, 2000)


def test_a_pair_gives_the_speedup_and_the_time_ratio() -> None:
    pair = Pair(_run(1, 2.0, (0.8,)), _run(2, 1.25, (0.4, 0.4)))

    assert pair.speedup == pytest.approx(1.6)
    assert pair.time_ratio == pytest.approx(0.625)


def test_lines_and_record_carry_every_figure_and_its_target(tmp_path: Path) -> None:
    figures = ClusterFigures(
        cpu=[
            Pair(_run(1, 2.0, (0.8,)), _run(2, 1.0, (0.4, 0.4))),
            Pair(_run(1, 2.0, (0.8,)), _run(2, 1.5, (0.5, 0.5))),
        ],
        gpu=Pair(_run(1, 10.0, (0.8,)), _run(2, 5.5, (0.4, 0.4))),
        server_tps=1000.0,
        server_note="pgbench",
    )
    figures.estimate = estimate(
        nodes=100,
        images_per_s_per_node=1000,
        claims_per_1000=8,
        transactions_per_1000=25,
        rows_per_1000=1100,
        wal_kib_per_1000=250,
        server_tps=1000.0,
    )

    text = "\n".join(cluster_lines(figures))
    write_json(tmp_path / "b.json", [], {}, cluster_record(figures))
    record = json.loads((tmp_path / "b.json").read_text())["cluster"]

    assert "median 1.67x of 2.00x, 1.33x (target >= 1.6x: met)" in text
    assert "1 node 10.00 s, 2 nodes 5.50 s: 0.55 (target <= 0.6: met)" in text
    assert "2,500 transactions/s" in text
    assert "2.5x the transactions/s pgbench got" in text
    assert record["cpu_speedup"] == pytest.approx(5 / 3)
    assert record["cpu"][0]["speedup"] == pytest.approx(2.0)
    assert record["gpu"]["time_ratio"] == pytest.approx(0.55)
    assert record["cpu"][1]["two"]["cpu"]["other"] == pytest.approx(0.25 - 0.1 - 0.05)
    assert record["estimate"]["times_server"] == pytest.approx(2.5)


def test_an_unreachable_server_skips_the_scenario_with_the_reason() -> None:
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"

    figures = run_cluster(ClusterPlan.quick(), url, "http://127.0.0.1:1", 1, say=print)

    assert figures.skipped is not None
    assert "not reachable" in figures.skipped
    assert figures.cpu == []
    assert figures.estimate is None
    assert cluster_lines(figures) == [f"cluster: skipped: {figures.skipped}"]
    assert cluster_record(figures)["skipped"] == figures.skipped


def test_the_steady_pace_leaves_out_the_start_and_the_tail() -> None:
    # Nothing for 1 s (claims), then 100 images/s, then a slow last 10%.
    polls = [(0.0, 0), (1.0, 0), (2.0, 100), (9.0, 800), (10.0, 900), (20.0, 1000)]

    assert _steady(polls, 1000) == pytest.approx(100.0)
    assert _steady([(0.0, 0), (0.1, 1000)], 1000) == pytest.approx(10_000)
