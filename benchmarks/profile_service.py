"""Where the service's CPU goes per image, layer by layer (docs/lean-image-path.md).

Starts the bench's image server and ``retailpulse serve --workers W`` (from the
source tree given, default this one), runs one job of N images while py-spy samples
the threads holding the GIL, and prints the service's CPU per image (utime + stime
from /proc) and a table of GIL-held milliseconds per image by layer. Needs py-spy
(``pip install py-spy``) and permission to trace the child.

    .venv/bin/python benchmarks/profile_service.py [--tree PATH] [--workers 256] [--images 6000]
"""

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retailpulse.bench.client import ApiClient, make_payload
from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.bench.processes import ImageServerProcess, ServiceProcess, cpu_seconds

RATE = 200
LAYERS = (
    ("requests", ("requests/",)),
    ("download: urllib3, http.client, sockets",
     ("urllib3", "http/client", "socket.py", "download/", "fetching.py", "guardedhttp")),
    ("Pillow header parse", ("PIL", "imaging.py")),
    ("actor messages (pykka, wake-ups)", ("pykka", "threading.py", "queue.py")),
    ("HTTP API (waitress, falcon)", ("waitress", "falcon", "retailpulse/http")),
    ("job store", ("stores/", "actors/store.py")),
    ("metrics", ("metrics.py", "prometheus")),
    ("delay line", ("delayline.py",)),
    ("dispatcher, job actor", ("dispatcher.py", "actors/job.py")),
)  # fmt: skip


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, keys in LAYERS:
            if any(key in frame for key in keys):
                return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--workers", type=int, default=256)
    parser.add_argument("--images", type=int, default=6000)
    args = parser.parse_args()
    os.chdir(tempfile.gettempdir())  # so that -m retailpulse imports --tree, not the cwd
    paths = list(BENCH_IMAGES)
    with ImageServerProcess() as images:
        os.environ["PYTHONPATH"] = args.tree
        with ServiceProcess("--workers", str(args.workers)) as service:
            urls = [f"{images.base_url}{paths[i % len(paths)]}?p={i}" for i in range(args.images)]
            record = Path(tempfile.mkdtemp()) / "spy.txt"
            spy = subprocess.Popen(  # noqa: S603 - our own argv
                [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(service.pid),
                 "-o", str(record), "-f", "raw", "-r", str(RATE), "--nonblocking", "--gil"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1)
            client = ApiClient(service.base_url)
            before, started = cpu_seconds(service.pid), time.perf_counter()
            job_id, _ = client.submit(make_payload(urls))
            client.wait([job_id], 600)
            cpu, wall = cpu_seconds(service.pid) - before, time.perf_counter() - started
            spy.send_signal(2)
            spy.wait(60)
    per_image, load = 1000 * cpu / args.images, os.getloadavg()[0]
    print(
        f"{args.tree}: {args.images / wall:.0f} img/s, {per_image:.2f} ms CPU/image, "
        f"load {load:.1f}"
    )
    by_layer: collections.Counter[str] = collections.Counter()
    for line in record.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        by_layer[layer_of(stack.split(";"))] += int(samples)
    print("| layer | GIL-held ms/image |\n|---|---:|")
    for name, samples in by_layer.most_common():
        print(f"| {name} | {1000 * samples / RATE / args.images:.3f} |")
    print(f"| all | {1000 * sum(by_layer.values()) / RATE / args.images:.3f} |")


if __name__ == "__main__":
    main()
