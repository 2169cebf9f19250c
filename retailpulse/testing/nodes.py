"""A real ``retailpulse serve`` process (a cluster node) for tests: started on a free
loopback port over given data, talked to over HTTP, stopped (SIGTERM, then SIGKILL
if it does not exit in time) by the test that started it."""

import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

__all__ = ["Node"]


class Node:
    """One ``retailpulse serve`` process on a free port, its jobs in ``data``."""

    def __init__(self, data: str, log: Path, *args: str) -> None:
        command = [sys.executable, "-m", "retailpulse", "serve", "--port", "0", "--data", data]
        self.log = log
        with log.open("w") as sink:
            self.process = subprocess.Popen(  # noqa: S603 (our own argv)
                [*command, "--allow-private-urls", *args],
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
            )
        lines: queue.Queue[str] = queue.Queue()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line)

        threading.Thread(target=read, daemon=True).start()
        try:
            line = lines.get(timeout=30)
        except queue.Empty:
            raise AssertionError(
                f"node did not start; its log:\n{log.read_text()[-4000:]}"
            ) from None
        assert line.startswith("Retail Pulse listening on http://127.0.0.1:"), line
        assert "jobs in PostgreSQL" in line, line
        self.url = line.split()[4]

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = requests.get(f"{self.url}{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def submit(self, payload: dict[str, Any]) -> int:
        response = requests.post(f"{self.url}/api/submit", json=payload, timeout=10)
        assert response.status_code == 201, response.text
        job_id: int = response.json()["job_id"]
        return job_id

    def status(self, job_id: int) -> dict[str, Any] | None:
        """The job's status document, or ``None`` while the node answers 503 (its
        database is away: the one error a client is told to retry)."""
        response = requests.get(f"{self.url}/api/status", params={"jobid": job_id}, timeout=10)
        if response.status_code == 503:
            assert response.headers.get("Retry-After"), response.headers
            return None
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def wait_until(
        self, job_id: int, done: Callable[[dict[str, Any]], bool], within: float = 60.0
    ) -> dict[str, Any]:
        """Poll the status until ``done(status)``; 503 answers are waited out."""
        deadline = time.monotonic() + within
        while (status := self.status(job_id)) is None or not done(status):
            assert time.monotonic() < deadline, f"job {job_id} did not get there: {status}"
            time.sleep(0.05)
        return status

    def wait_until_done(self, job_id: int, within: float = 60.0) -> dict[str, Any]:
        return self.wait_until(job_id, lambda status: status["status"] != "ongoing", within)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no released leases, as a crash or the OOM killer does."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
