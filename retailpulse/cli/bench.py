"""``retailpulse bench``: measure the service against the workload's limits and a baseline."""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from retailpulse.bench.cluster import ClusterPlan, run_cluster
from retailpulse.bench.cluster_report import cluster_lines, cluster_record
from retailpulse.bench.processes import ImageServerProcess
from retailpulse.bench.report import machine, table, write_chart, write_json
from retailpulse.bench.results import run_results_scenario
from retailpulse.bench.scenarios import Plan, Row, run_plan
from retailpulse.testing.postgres import admin_url

__all__ = ["register", "run"]


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    bench = commands.add_parser(
        "bench",
        help="benchmark the service over HTTP against a thread-pool baseline",
        description=(
            "Starts an image server and the service as separate processes on 127.0.0.1, "
            "runs the scenarios through the HTTP API, and prints a table."
        ),
    )
    bench.set_defaults(handler=run)
    bench.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke test of well under a minute"
    )
    bench.add_argument(
        "--results",
        action="store_true",
        help="only the results scenario: peak RSS growth and first byte of reading big results",
    )
    bench.add_argument(
        "--sweep",
        type=_sweep,
        metavar="W:IMAGES,...",
        help="run only the throughput sweep, at these points (e.g. 256:6000,1024:6000)",
    )
    bench.add_argument(
        "--cluster",
        action="store_true",
        help="only the cluster scenario: 1 against 2 nodes on one PostgreSQL database, "
        "the database's cost, pgbench, the 100-node estimate",
    )
    bench.add_argument(
        "--pg",
        metavar="URL",
        default=None,
        help="the PostgreSQL server the cluster scenario makes its scratch databases on "
        "(default: RETAILPULSE_TEST_PG or postgresql://postgres@127.0.0.1:5432/test)",
    )
    bench.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as JSON")
    bench.add_argument(
        "--chart", type=Path, metavar="PATH", help="also draw img/s against W as a PNG (matplotlib)"
    )


def _sweep(text: str) -> tuple[tuple[int, int], ...]:
    try:
        points = tuple((int(w), int(n)) for w, n in (point.split(":") for point in text.split(",")))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected W:IMAGES,..., got {text!r}") from None
    if not points or any(w < 1 or n < 1 for w, n in points):
        raise argparse.ArgumentTypeError("every W and IMAGES must be at least 1")
    return points


def run(args: argparse.Namespace) -> int:
    plan = Plan.quick() if args.quick else Plan.full()
    if args.sweep:
        plan = replace(plan, sweep=args.sweep)
    about = machine()
    print(f"retailpulse bench ({'quick' if args.quick else 'full'}): {about}", flush=True)

    def say(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    if args.results:
        return run_results_scenario(args.quick, say)
    rows: list[Row] = []
    cluster = None
    with ImageServerProcess() as images:
        if not args.cluster:
            rows = run_plan(plan, images.base_url, say, sweep_only=bool(args.sweep))
        if args.cluster or not args.sweep:
            cluster_plan = ClusterPlan.quick() if args.quick else ClusterPlan.full()
            admin = args.pg or admin_url()
            cluster = run_cluster(cluster_plan, admin, images.base_url, images.pid, say)
    if rows:
        print(table(rows), flush=True)
    if cluster is not None:
        print("\n".join(cluster_lines(cluster)), flush=True)
    if args.json:
        write_json(args.json, rows, about, None if cluster is None else cluster_record(cluster))
    if args.chart and rows:
        write_chart(args.chart, rows, about)
    return 0
