"""Measure what issue 16 costs: a status read open and with an API key, an idempotent
submit against a plain one, and the time from a job's end to its webhook's arrival.
Prints one line per figure (medians over the runs).

    .venv/bin/python benchmarks/keys_and_webhooks.py [--reads 300] [--submits 100]
"""

import argparse
import base64
import json
import queue
import statistics
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.keys import add_key
from retailpulse.testing import FakeFetcher, InstantGpu

IMAGE = "https://images.example.test/a.png"
PAYLOAD = {
    "count": 1,
    "visits": [{"store_id": "S00339218", "image_url": [IMAGE], "visit_time": "t"}],
}
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


def timed(call: Any, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def service(**settings: Any) -> tuple[Any, HttpServer]:
    fetcher = FakeFetcher({IMAGE: (30, 20)})
    system = retailpulse.start(
        gpu_slots=4, fetcher_factory=lambda: fetcher, gpu=InstantGpu(), **settings
    )
    return system, HttpServer(create_app(system), "127.0.0.1", 0).start()


def reads_and_submits(args: argparse.Namespace, keys: Path | None, key: str | None) -> None:
    system, server = service(api_keys=keys, data=args.data / f"{'keys' if keys else 'open'}.db")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    label = "with an API key" if key else "open"
    try:
        with requests.Session() as session:
            session.headers.update(headers)
            job = session.post(server.url + "/api/submit/", json=PAYLOAD, timeout=10).json()
            status = server.url + f"/api/status?jobid={job['job_id']}"
            session.get(status, timeout=10)
            reads = timed(lambda: session.get(status, timeout=10), args.reads)
            print(f"GET /api/status, {label}: {median_ms(reads)}")
            url = server.url + "/api/submit/"
            plain = timed(lambda: session.post(url, json=PAYLOAD, timeout=10), args.submits)
            keyed = timed(
                lambda: session.post(
                    url, json=PAYLOAD, headers={"Idempotency-Key": str(uuid.uuid4())}, timeout=10
                ),
                args.submits,
            )
            print(f"POST /api/submit/ (SQLite), {label}: {median_ms(plain)}")
            print(f"POST /api/submit/ with a new Idempotency-Key, {label}: {median_ms(keyed)}")
    finally:
        server.stop()
        system.stop()


def webhook_latency(args: argparse.Namespace) -> None:
    arrived: queue.Queue[float] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            arrived.put(time.time())
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    system, server = service(webhook_secret=SECRET, allow_private_urls=True)
    callback = f"http://127.0.0.1:{receiver.server_address[1]}/in"
    delays = []
    try:
        for _ in range(args.webhooks):
            job_id = system.submit({**PAYLOAD, "callback_url": callback})
            final = system.wait(job_id, timeout=30)
            got = arrived.get(timeout=30)
            ended = datetime.fromisoformat(final["finished_at"]).timestamp()
            delays.append(got - ended)
    finally:
        server.stop()
        system.stop()
        receiver.shutdown()
    print(
        f"job end -> webhook received: median {median_ms(delays)}, "
        f"max {max(delays) * 1000:.0f} ms over {len(delays)} jobs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=300)
    parser.add_argument("--submits", type=int, default=100)
    parser.add_argument("--webhooks", type=int, default=10)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        args.data = Path(tmp)
        key_file = args.data / "keys"
        key = add_key(key_file, "bench")
        reads_and_submits(args, None, None)
        reads_and_submits(args, key_file, key)
    webhook_latency(args)
    print(json.dumps({"note": "medians; a shared 2-core machine: compare lines, not runs"}))


if __name__ == "__main__":
    main()
