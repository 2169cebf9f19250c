"""``retailpulse demo``: the whole product working in one command, with no internet.

It starts the sample image server and the service on 127.0.0.1, submits the
spec's example payload plus one store missing from the store master and one
broken URL, follows the job over HTTP with the same code as ``submit --wait``,
and prints the results, the failure report and a few metrics. Everything it
starts is stopped before it returns.
"""

import argparse
import json
import sys
from typing import Any

import retailpulse
from retailpulse.cli.client import EXIT_FAILED, EXIT_OK, follow
from retailpulse.cli.serve import positive_int
from retailpulse.client import Client
from retailpulse.config import ServiceConfig
from retailpulse.download import HttpFetcher
from retailpulse.http import HttpServer, create_app
from retailpulse.logs import configure_logging
from retailpulse.ports import Fetcher, FetchError
from retailpulse.testing import SAMPLE_IMAGES, ImageServer, sample_routes
from retailpulse.testing.metrics import metric_samples
from retailpulse.words import plural

__all__ = ["demo_payload", "register", "run"]

UNKNOWN_STORE = "S99999999"
BROKEN_STORE = "S00339204"
BROKEN_PATH = "/missing.jpg"
SHOWN_METRICS = (
    'retailpulse_jobs{status="failed"}',
    'retailpulse_images_processed_total{outcome="measured"}',
    'retailpulse_images_processed_total{outcome="failed"}',
    "retailpulse_images_skipped_total",
    "retailpulse_download_bytes_sum",
    "retailpulse_image_processing_seconds_count",
)


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    demo = commands.add_parser(
        "demo", help="run a local image server and the service, and show a job end to end"
    )
    demo.set_defaults(handler=run)
    demo.add_argument(
        "--workers",
        type=positive_int,
        default=8,
        help="GPU slots: images processed at once (default %(default)s)",
    )
    demo.add_argument(
        "--log-level",
        default="ERROR",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="the service's own log lines (default %(default)s: none)",
    )


def demo_payload(images: ImageServer) -> dict[str, Any]:
    """The spec's example payload on the local image server, plus a visit to a store
    missing from the store master and a visit whose image answers 404."""
    two, three = images.url("/webp/gallery/2.jpg"), images.url("/webp/gallery/3.jpg")
    visits = [
        {"store_id": "S00339218", "image_url": [two, three], "visit_time": "time of store visit"},
        {"store_id": "S01408764", "image_url": [three], "visit_time": "time of store visit"},
        {"store_id": UNKNOWN_STORE, "image_url": [two], "visit_time": "time of store visit"},
        {
            "store_id": BROKEN_STORE,
            "image_url": [images.url(BROKEN_PATH)],
            "visit_time": "time of store visit",
        },
    ]
    return {"count": len(visits), "visits": visits}


class _OnlyFrom:
    """Downloads from one base URL only.

    The demo must allow private addresses, because its image server is on
    127.0.0.1; this keeps that permission to the demo's own server.
    """

    def __init__(self, base_url: str, inner: Fetcher) -> None:
        self._prefix = base_url + "/"
        self._inner = inner

    def fetch(self, url: str) -> bytes:
        if not url.startswith(self._prefix):
            raise FetchError(f"{url}: refused, the demo downloads from its own image server only")
        return self._inner.fetch(url)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    out = sys.stdout
    config = ServiceConfig(gpu_slots=args.workers, allow_private_urls=True)
    with (
        ImageServer(sample_routes()) as images,
        retailpulse.start(
            config, fetcher_factory=lambda: _OnlyFrom(images.base_url, HttpFetcher(config))
        ) as system,
        HttpServer(create_app(system), "127.0.0.1", 0) as server,
    ):
        print(
            "Retail Pulse demo: everything runs on 127.0.0.1, nothing is downloaded from", file=out
        )
        print("the internet, and everything stops when it ends.\n", file=out)
        print(
            f"  image server  {images.base_url}  {len(SAMPLE_IMAGES)} generated images; "
            "other paths answer 404",
            file=out,
        )
        print(
            f"  service       {server.url}  {plural(len(system.store_master), 'store')}, "
            f"{plural(config.gpu_slots, 'GPU slot')}; downloads from the image server only",
            file=out,
        )
        payload = demo_payload(images)
        print(
            "\nThe payload: the spec's example (stores S00339218 and S01408764, 3 images), "
            f"plus\nstore {UNKNOWN_STORE}, which is not in the store master, and store "
            f"{BROKEN_STORE}, whose\nimage URL answers 404.\n",
            file=out,
        )
        client = Client(server.url)
        try:
            job_id = client.submit(json.dumps(payload).encode())
            print(f'POST /api/submit/ -> {{"job_id": {job_id}}}', file=out, flush=True)
            code = follow(client, job_id, out=out, err=sys.stderr, interval=0.1)
            page = client.metrics()
        finally:
            client.close()
        print("\nA few lines of GET /metrics:", file=out)
        samples = {
            _sample_key(name, labels): v for (name, labels), v in metric_samples(page).items()
        }
        for key in SHOWN_METRICS:
            print(f"  {key} {samples.get(key, 0):g}", file=out)
    expected = code == EXIT_FAILED
    if expected:
        print(
            f"\nThe job failed as intended: {UNKNOWN_STORE} and {BROKEN_STORE} are reported, "
            "every other\nimage was measured. Next, in the README: `retailpulse serve`, "
            "then\n`retailpulse submit FILE.json --wait`.",
            file=out,
        )
    return EXIT_OK if expected else EXIT_FAILED


def _sample_key(name: str, labels: frozenset[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels))
    return f"{name}{{{inner}}}" if inner else name
