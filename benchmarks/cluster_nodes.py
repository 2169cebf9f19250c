"""1 node against 2 nodes on one PostgreSQL database, and the takeover after a SIGKILL.

Real ``retailpulse serve`` processes (``--data postgresql://...`` on a scratch
database of the local server) and the lean benchmark image server in its own
process. Prints one line per figure:

- CPU-bound: ``--workers 256`` each, no simulated GPU time; one job, img/s.
- GPU-bound: ``--workers 32`` each, 0.1-0.4 s of GPU time per image; the time of
  one 1,600-image job.
- takeover: two nodes on one job, one killed with SIGKILL a third of the way in;
  the time from the kill to the job's end, against what the survivor alone needed
  for the rest, and the images downloaded twice.

    .venv/bin/python benchmarks/cluster_nodes.py [--cpu-images 4000] [--gpu-images 1600]
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


def one_job(base: str, nodes: int, images: int, *options: str) -> float:
    """Seconds from submit to the end of one job of ``images`` images on ``nodes`` nodes."""
    with cluster(nodes, *options) as (_, started):
        started_at = time.monotonic()
        job_id = started[0].submit(payload(base, f"n{nodes}", images))
        final = started[-1].wait_until_done(job_id, within=900)
        elapsed = time.monotonic() - started_at
    assert final["status"] == "completed", final
    return elapsed


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
    parser.add_argument("--cpu-images", type=int, default=4_000)
    parser.add_argument("--gpu-images", type=int, default=1_600)
    parser.add_argument("--lease", type=float, default=15.0)
    args = parser.parse_args()
    with ImageServerProcess() as server:
        base = server.base_url
        cpu_options = ("--workers", "256", "--min-sleep", "0", "--max-sleep", "0")
        cpu = {n: one_job(base, n, args.cpu_images, *cpu_options) for n in (1, 2)}
        for n, seconds in cpu.items():
            print(
                f"CPU-bound W=256, {n} node(s): {args.cpu_images / seconds:.0f} img/s", flush=True
            )
        print(f"CPU-bound ratio 2 nodes / 1 node: {cpu[1] / cpu[2]:.2f}x", flush=True)
        gpu = {n: one_job(base, n, args.gpu_images, "--workers", "32") for n in (1, 2)}
        for n, seconds in gpu.items():
            print(f"GPU-bound W=32, {n} node(s): {args.gpu_images}-image job in {seconds:.1f} s")
        print(f"GPU-bound time 2 nodes / 1 node: {gpu[2] / gpu[1]:.2f}", flush=True)
        kill = takeover(base, args.gpu_images, args.lease)
        print(
            f"SIGKILL of 1 of 2 nodes (lease {args.lease:g} s), {kill['done_at_kill']:.0f} of "
            f"{args.gpu_images} images done: the job ended {kill['after_kill']:.1f} s later",
            flush=True,
        )


if __name__ == "__main__":
    main()
