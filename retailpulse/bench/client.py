"""The benchmark's side of the HTTP API: submit, poll like a client, sample status latency."""

import math
import threading
import time
from collections.abc import Iterator, Sequence
from itertools import cycle
from typing import Any

import requests

from retailpulse.stores import DEFAULT_STORE_MASTER, load_store_master

__all__ = ["POLL_INTERVAL", "ApiClient", "LatencySampler", "make_payload", "percentile"]

IMAGES_PER_VISIT = 10
POLL_INTERVAL = 0.05
"""How often a waiting client asks for the status: small next to any job's run time."""


def make_payload(urls: Sequence[str], images_per_visit: int = IMAGES_PER_VISIT) -> dict[str, Any]:
    """A submit body with the URLs split into visits of real stores from the shipped master."""
    stores = cycle(store.store_id for store in load_store_master(DEFAULT_STORE_MASTER).values())
    visits = [
        {
            "store_id": next(stores),
            "image_url": list(urls[start : start + images_per_visit]),
            "visit_time": "2026-11-29T10:00:00",
        }
        for start in range(0, len(urls), images_per_visit)
    ]
    return {"count": len(visits), "visits": visits}


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))
    return ordered[rank]


class ApiClient:
    """What a user's script does: submit, then poll the status until the job ends."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session = requests.Session()
        self.status_calls = 0
        """Status requests made so far: each is a read transaction on a database store."""

    def submit(self, payload: dict[str, Any]) -> tuple[int, float]:
        """Submit and return the job id and how long the request took, in seconds."""
        started = time.perf_counter()
        response = self._session.post(f"{self.base_url}/api/submit/", json=payload, timeout=60)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return int(response.json()["job_id"]), elapsed

    def status(self, job_id: int) -> dict[str, Any]:
        self.status_calls += 1
        response = self._session.get(
            f"{self.base_url}/api/status", params={"jobid": job_id}, timeout=30
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait(self, job_ids: Sequence[int], timeout: float) -> dict[int, float]:
        """Poll until every job ends; return when each was seen ending (perf_counter)."""
        deadline = time.perf_counter() + timeout
        ended: dict[int, float] = {}
        last: dict[int, Any] = {}
        while len(ended) < len(job_ids):
            for job_id in job_ids:
                if job_id in ended:
                    continue
                status = self.status(job_id)
                last[job_id] = status.get("progress")
                if status["status"] != "ongoing":
                    ended[job_id] = time.perf_counter()
            if len(ended) < len(job_ids) and time.perf_counter() > deadline:
                stuck = {job: last[job] for job in job_ids if job not in ended}
                raise TimeoutError(f"jobs still ongoing after {timeout:g} s: {stuck}")
            time.sleep(POLL_INTERVAL)
        return ended

    def close(self) -> None:
        self._session.close()


class LatencySampler:
    """Times status requests on its own connection while jobs run, as a dashboard would."""

    def __init__(self, base_url: str, interval: float = 0.02) -> None:
        self._client = ApiClient(base_url)
        self._interval = interval
        self._jobs: tuple[int, ...] = ()
        self._stop = threading.Event()
        self.latencies: list[float] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def watch(self, job_ids: Sequence[int]) -> None:
        """Sample these jobs from now on (the tuple is replaced whole, never mutated)."""
        self._jobs = tuple(job_ids)
        if not self._thread.is_alive():
            self._thread.start()

    def _targets(self) -> Iterator[int]:
        while not self._stop.is_set():
            yield from self._jobs or (0,)

    def _run(self) -> None:
        for job_id in self._targets():
            started = time.perf_counter()
            try:
                self._client.status(job_id)
            except requests.RequestException:
                pass  # the service is being stopped; the run is over
            else:
                self.latencies.append(time.perf_counter() - started)
            self._stop.wait(self._interval)

    def stop(self) -> list[float]:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._client.close()
        return self.latencies
