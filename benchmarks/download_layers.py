"""CPU per image of each layer of a download, in one plain loop (docs/lean-image-path.md).

Starts the bench's image server in another process and fetches N images (its six
images in turn, each URL distinct) through requests, ``HttpFetcher``, a bare urllib3
pool and ``http.client``, then times Pillow's header parse. CPU is this process's
``time.process_time``; the server's CPU is not counted.

    .venv/bin/python benchmarks/download_layers.py [N]
"""

import http.client
import io
import subprocess
import sys
import time
from collections.abc import Callable

import requests
import urllib3
from PIL import Image

from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.config import ServiceConfig
from retailpulse.download import HttpFetcher


def main(count: int) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "retailpulse.bench.imageserver"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        images = list(BENCH_IMAGES)
        paths = [f"{images[n % len(images)]}?n={n}" for n in range(count)]
        base = f"http://127.0.0.1:{port}"
        session = requests.Session()
        fetcher = HttpFetcher(ServiceConfig(allow_private_urls=True))
        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)
        connection = http.client.HTTPConnection("127.0.0.1", port)

        def plain(path: str) -> bytes:
            connection.request("GET", path)
            return connection.getresponse().read()

        layers: list[tuple[str, Callable[[str], bytes]]] = [
            ("requests.Session.get().content", lambda p: session.get(base + p, timeout=15).content),
            ("HttpFetcher.fetch", lambda p: fetcher.fetch(base + p)),
            ("urllib3 pool .request().data", lambda p: pool.request("GET", p).data),
            ("http.client", plain),
        ]
        for name, fetch in layers:
            fetch(paths[0])  # connect first: the loop measures kept-alive connections
            started = time.process_time()
            size = sum(len(fetch(path)) for path in paths)
            spent = time.process_time() - started
            kib = size / count / 1024
            print(f"{name:34} {1000 * spent / count:6.3f} ms CPU/image ({kib:.0f} KiB)")
        body = plain(paths[1])
        started = time.process_time()
        for _ in range(count):
            Image.open(io.BytesIO(body)).size  # noqa: B018 - the header parse is the point
        spent = time.process_time() - started
        print(f"{'Pillow Image.open().size':34} {1000 * spent / count:6.3f} ms CPU/image")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
