"""``retailpulse bench``: its arithmetic alone, and ``--quick`` run for real as a smoke
test (the cluster scenario included: real nodes on the local PostgreSQL)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from retailpulse.bench import Row, table
from retailpulse.bench.client import make_payload, percentile
from retailpulse.submission import parse_submission
from retailpulse.testing.postgres import unavailable


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]

    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_payload_splits_urls_into_valid_visits_of_real_stores() -> None:
    urls = [f"http://127.0.0.1:1/img/{n}.jpg" for n in range(25)]

    payload = make_payload(urls, images_per_visit=10)

    submission = parse_submission(payload)
    assert [len(visit["image_url"]) for visit in payload["visits"]] == [10, 10, 5]
    assert [spec.url for spec in submission.images()] == urls


def test_ratio_is_against_the_lower_of_the_ideal_and_the_baseline() -> None:
    sleep_bound = Row("throughput", 100, 16, 2.0, 50.0, ideal_per_s=64.0, baseline_per_s=80.0)
    cpu_bound = Row("throughput", 100, 256, 2.0, 300.0, ideal_per_s=1024.0, baseline_per_s=250.0)
    no_baseline = Row("fairness", 10, 64, 1.0, 10.0, ideal_per_s=256.0)

    assert sleep_bound.ratio == 50.0 / 64.0
    assert cpu_bound.ratio == 300.0 / 250.0
    assert no_baseline.ratio == 10.0 / 256.0


def test_table_has_a_line_per_row_and_the_notes_after_it() -> None:
    rows = [
        Row("throughput", 1000, 64, 4.0, 250.0, 256.0, 240.0, 2.0, 9.5, 50.0),
        Row("memory", 5000, 64, 2.0, 200.0, 256.0, notes=["watched 2 s"]),
    ]

    lines = table(rows).splitlines()

    assert lines[0].startswith("| scenario | images | W |")
    assert lines[2].split(" | ")[:5] == ["| throughput", "1,000", "64", "4.00", "250.0"]
    assert "2.0 / 9.5" in lines[2]
    assert lines[-1] == "- memory: watched 2 s"


def _check_cluster(cluster: dict[str, Any], stdout: str) -> None:
    """The quick cluster scenario: real nodes on PostgreSQL, figures that make sense;
    skipped only where PostgreSQL is not there, and never under CI=true."""
    if cluster["skipped"] is not None:
        assert unavailable() is not None, cluster["skipped"]  # it was there: no excuse
        assert f"cluster: skipped: {cluster['skipped']}" in stdout
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(cluster["skipped"])
        pytest.skip(f"the rest passed; the cluster scenario was skipped: {cluster['skipped']}")
    [pair] = cluster["cpu"]
    assert pair["one"]["nodes"] == 1
    assert pair["two"]["nodes"] == 2
    assert len(pair["two"]["cpu"]["nodes"]) == 2
    # Both nodes worked on the 2-node job, and every process of interest was seen.
    assert all(ms > 0 for ms in pair["two"]["cpu"]["nodes"]), pair
    assert pair["two"]["cpu"]["image_server"] > 0
    assert pair["two"]["cpu"]["postgres"] > 0
    assert 0 < pair["speedup"] < 3
    assert 0 < cluster["gpu"]["time_ratio"] < 1.5
    # A job's images and outcomes alone are two rows per image.
    assert 2000 <= pair["two"]["rows_per_1000"] < 10_000
    assert pair["two"]["transactions_per_1000"] > pair["two"]["polls_per_1000"] > 0
    [protocol] = cluster["protocol"]
    assert protocol["images"] == 2560
    assert 0 < protocol["claim_p50_ms"] <= protocol["claim_p99_ms"]
    assert 1000 <= protocol["rows_per_1000"] < 2000
    estimate = cluster["estimate"]
    assert estimate["images_per_s"] == 100_000
    assert estimate["wal_mb_per_s"] > 0
    assert "cluster: on paper, 100 nodes" in stdout


@pytest.mark.timeout(190)
def test_quick_bench_runs_every_scenario_with_sane_figures(tmp_path: Path) -> None:
    record = tmp_path / "bench.json"

    # The bench bounds each job itself (Plan.quick().job_timeout) and then shows the
    # service's thread stacks; this timeout is only the backstop.
    try:
        run = subprocess.run(
            [sys.executable, "-m", "retailpulse", "bench", "--quick", "--json", str(record)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the quick bench ran over 180 s; its stderr: {exc.stderr!r}")

    assert run.returncode == 0, run.stderr[-20000:]
    figures = json.loads(record.read_text())
    rows = figures["rows"]
    assert [row["scenario"] for row in rows] == [
        "throughput",
        "throughput",
        "one big job",
        "3 concurrent jobs",
        "small job behind two big",
        "memory, one huge job",
    ]
    for row in rows:
        # Sane, not fast: a shared machine says nothing reliable about speed in a test.
        assert 0 < row["images_per_s"] <= row["ideal_per_s"] * 1.2, row
        assert 0 < row["peak_rss_mib"] < 2048, row
        assert 0 <= row["rss_per_image_kib"] < 1024, row
    sweep = [row for row in rows if row["scenario"] == "throughput"]
    assert all(row["baseline_per_s"] > 0 and row["status_p99_ms"] > 0 for row in sweep)
    assert 0 < rows[-1]["rss_per_image_kib"] < 64
    assert "| throughput |" in run.stdout
    _check_cluster(figures["cluster"], run.stdout)
