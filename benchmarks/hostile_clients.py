"""Measure a running service against hostile clients. Prints one line per figure.

Start the service first (any build), then point this at it and at its process id:

    retailpulse serve --in-memory --port 18080 &
    .venv/bin/python benchmarks/hostile_clients.py --url http://127.0.0.1:18080 --pid $!

Scenarios: hundreds of idle and trickling connections while /healthz is polled; how
long a connection that never finishes its head stays open; the service's peak RSS
(VmHWM) under eight concurrent bodies of nested empty lists just under 32 MiB; a
small job's status latency while eight clients read a 100,000-image job's results.
"""

import argparse
import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

MIB = 1024 * 1024


def rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise LookupError(field)


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def latencies(url: str, count: int, timeout: float = 30) -> list[float]:
    out = []
    for _ in range(count):
        try:
            out.append(timed(lambda: requests.get(url, timeout=timeout).raise_for_status()))
        except requests.RequestException:
            out.append(float("inf"))
    return out


def summary(values: list[float]) -> str:
    finite = [v for v in values if v != float("inf")]
    failed = len(values) - len(finite)
    if not finite:
        return f"all {failed} timed out"
    return f"p50 {statistics.median(finite) * 1000:.0f} ms, max {max(finite) * 1000:.0f} ms" + (
        f", {failed} of {len(values)} timed out" if failed else ""
    )


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def slow_connections(url: str, count: int) -> None:
    """Half idle, half trickling a head a byte every 2 s; /healthz polled meanwhile."""
    socks = []
    for i in range(count):
        sock = socket.create_connection(address(url), timeout=5)
        if i % 2:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        socks.append(sock)
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(2):
            for sock in socks[1::2]:
                with contextlib.suppress(OSError):
                    sock.sendall(b"X")

    threading.Thread(target=trickle, daemon=True).start()
    time.sleep(1)
    found = latencies(f"{url}/healthz", 20, timeout=10)
    print(f"{count} slow connections held: /healthz {summary(found)}")
    stop.set()
    for sock in socks:
        sock.close()


def head_timeout(url: str, limit: float = 60) -> None:
    """Seconds until a connection that trickles a head, never finishing it, is closed."""
    sock = socket.create_connection(address(url), timeout=1)
    sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            sock.sendall(b"X")
            if sock.recv(1024) == b"":
                break
        except TimeoutError:
            continue
        except OSError:
            break
    else:
        print(f"a never-finished head: still open after {limit:.0f} s")
        return
    print(f"a never-finished head: closed after {time.monotonic() - start:.1f} s")


def nested_bodies(url: str, pid: int, clients: int, lists: int | None = None) -> None:
    """``lists`` empty lists per body; by default as many as fit in 32 MiB."""
    prefix = b'{"count": 1, "visits": ['
    size = 32 * MIB - 64
    lists = lists or (size - len(prefix) - 2) // 3
    body = prefix + b"[]," * lists + b"[]]}"
    before = rss_mib(pid, "VmRSS")

    def post() -> str:
        try:
            response = requests.post(f"{url}/api/submit", data=body, timeout=300)
            return str(response.status_code)
        except requests.RequestException as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(clients) as pool:
        posts = [pool.submit(post) for _ in range(clients)]
        time.sleep(0.5)
        health = []
        while not all(p.done() for p in posts):
            health += latencies(f"{url}/healthz", 1, timeout=60)
            time.sleep(0.2)
        answers = [p.result() for p in posts]
    print(
        f"{clients} concurrent bodies of {lists + 1} empty lists ({len(body) / MIB:.1f} MiB): "
        f"answers {sorted(set(answers))}, "
        f"RSS {before:.0f} MiB before, peak (VmHWM) {rss_mib(pid, 'VmHWM'):.0f} MiB; "
        f"/healthz meanwhile {summary(health)}"
    )


def heavy_readers(url: str, images: int, readers: int) -> None:
    """Submit a job of ``images`` images on a refused (loopback) address: they fail fast."""
    visits = [
        {"store_id": "S00339218", "image_url": [f"http://127.0.0.1:9/{i}.jpg"], "visit_time": "t"}
        for i in range(images)
    ]
    big = requests.post(
        f"{url}/api/submit", json={"count": images, "visits": visits}, timeout=120
    ).json()["job_id"]
    small = requests.post(
        f"{url}/api/submit", json={"count": 1, "visits": visits[:1]}, timeout=10
    ).json()["job_id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = requests.get(f"{url}/api/status", params={"jobid": big}, timeout=60).json()
        if status["status"] != "ongoing":
            break
        time.sleep(1)
    quiet = latencies(f"{url}/api/status?jobid={small}", 20)
    stop = threading.Event()
    codes: list[int] = []

    def read() -> None:
        while not stop.is_set():
            try:
                codes.append(
                    requests.get(
                        f"{url}/api/results", params={"jobid": big}, timeout=120
                    ).status_code
                )
            except requests.RequestException:
                codes.append(0)

    threads = [threading.Thread(target=read, daemon=True) for _ in range(readers)]
    for thread in threads:
        thread.start()
    time.sleep(2)
    busy = latencies(f"{url}/api/status?jobid={small}", 30)
    stop.set()
    for thread in threads:
        thread.join(180)
    print(
        f"small status alone: {summary(quiet)}; with {readers} readers of a {images}-image job: "
        f"{summary(busy)} (reader answers: {sorted(set(codes))}, {len(codes)} reads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument(
        "--only",
        choices=["slow", "head", "bodies", "within", "readers"],
        action="append",
        default=None,
    )
    args = parser.parse_args()
    chosen = args.only or ["slow", "head", "bodies", "readers"]
    if "slow" in chosen:
        slow_connections(args.url, args.connections)
    if "head" in chosen:
        head_timeout(args.url)
    if "bodies" in chosen:
        nested_bodies(args.url, args.pid, 8)
    if "within" in chosen:  # the most values a body may hold under the default limits
        nested_bodies(args.url, args.pid, 8, lists=499_000)
    if "readers" in chosen:
        heavy_readers(args.url, args.images, 8)


if __name__ == "__main__":
    main()
