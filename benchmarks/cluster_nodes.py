"""The takeover after a SIGKILL: two nodes on one PostgreSQL database and one job,
one node killed a third of the way in; the time from the kill to the job's end.

Real ``retailpulse serve`` processes on a scratch database of the local server and
the benchmark image server in its own process. The 1-node against 2-node figures
are a scenario of ``retailpulse bench`` now (``retailpulse bench --cluster``).

    .venv/bin/python benchmarks/cluster_nodes.py [--images 1600] [--lease 15]
"""

import argparse
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import psycopg

from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.bench.processes import ImageServerProcess
from retailpulse.testing.nodes import Node
from retailpulse.testing.postgres import admin_url, scratch_database

STORE = "S00339218"


def payload(base: str, tag: str, count: int) -> dict[str, Any]:
    paths = list(BENCH_IMAGES)
    urls = [f"{base}{paths[n % len(paths)]}?{tag}={n}" for n in range(count)]
    return {"count": 1, "visits": [{"store_id": STORE, "image_url": urls, "visit_time": "t"}]}


@contextmanager
def cluster(count: int, *options: str) -> Iterator[tuple[str, list[Node]]]:
    with ExitStack() as stack:
        url = stack.enter_context(scratch_database(admin_url(), prefix="rp_nodes"))
        logs = Path(stack.enter_context(TemporaryDirectory()))
        started: list[Node] = []
        stack.callback(lambda: [node.stop() for node in started])
        for n in range(count):
            started.append(Node(url, logs / f"node-{n}.log", "--log-level", "WARNING", *options))
        yield url, started


def downloads(url: str, job_id: int) -> int:
    with psycopg.connect(url) as db:
        row = db.execute("SELECT count(*) FROM outcomes WHERE job_id = %s", (job_id,)).fetchone()
    assert row is not None
    return int(row[0])


def takeover(base: str, images: int, lease: float) -> dict[str, float]:
    options = ("--workers", "32", "--lease-seconds", str(lease))
    with cluster(2, *options) as (url, (doomed, survivor)):
        job_id = doomed.submit(payload(base, "kill", images))
        doomed.wait_until(job_id, lambda s: s["progress"]["done"] >= images // 3, within=600)
        done_at_kill = downloads(url, job_id)
        doomed.kill()
        killed_at = time.monotonic()
        final = survivor.wait_until_done(job_id, within=900)
        after_kill = time.monotonic() - killed_at
    assert final["status"] == "completed", final
    return {"after_kill": after_kill, "done_at_kill": done_at_kill}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_600)
    parser.add_argument("--lease", type=float, default=15.0)
    args = parser.parse_args()
    with ImageServerProcess() as server:
        kill = takeover(server.base_url, args.images, args.lease)
        print(
            f"SIGKILL of 1 of 2 nodes (lease {args.lease:g} s), {kill['done_at_kill']:.0f} of "
            f"{args.images} images done: the job ended {kill['after_kill']:.1f} s later",
            flush=True,
        )


if __name__ == "__main__":
    main()
