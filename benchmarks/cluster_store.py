"""The cluster protocol's cost in PostgreSQL alone, at chosen numbers of simulated
nodes (``retailpulse bench --cluster`` runs it at 1, 2 and 4 with everything else).

    .venv/bin/python benchmarks/cluster_store.py [--nodes 1 2 4] [--images 25600]
"""

import argparse

from retailpulse.bench.cluster import ClusterFigures
from retailpulse.bench.cluster_report import cluster_lines
from retailpulse.bench.protocol import run_protocol
from retailpulse.testing.postgres import admin_url, scratch_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--images", type=int, default=25_600)
    args = parser.parse_args()
    figures = ClusterFigures(server_note="pgbench not run")
    for nodes in args.nodes:
        with scratch_database(admin_url(), prefix="rp_bench_protocol") as url:
            figures.protocol.append(run_protocol(url, nodes, args.images))
    print("\n".join(line for line in cluster_lines(figures) if "protocol alone" in line))


if __name__ == "__main__":
    main()
