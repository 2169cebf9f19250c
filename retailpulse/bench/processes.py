"""The benchmark's child processes: the image server and the service, each bounded in time."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Self

__all__ = ["Child", "ImageServerProcess", "ServiceProcess", "cpu_seconds", "memory_kib"]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
ERROR_LINES = 400
"""How much of a failed child's stderr the benchmark prints."""
STACK_SIGNAL = signal.SIGUSR1
"""``retailpulse serve`` prints its threads' stacks on this signal and carries on."""
STACK_DUMP_WAIT = 1.0


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A process's memory figure from ``/proc`` (``VmRSS`` now, ``VmHWM`` its peak), KiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far, user and system (utime + stime of
    ``/proc/PID/stat``), in seconds: what each image costs the service, whatever the
    other processes on the machine do to the wall time."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # The command name (field 2) is in parentheses and may hold spaces: split after it.
        fields = stat.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


class Child:
    """A child process whose first line of output is what the parent waits for.

    Its output is read by a thread so that waiting for the first line is bounded;
    ``stop`` sends SIGTERM and falls back to SIGKILL, so nothing outlives the run.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        self.argv = list(argv)
        self.process = subprocess.Popen(  # noqa: S603 - argv is ours: this interpreter, our modules
            self.argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self.errors: list[str] = []
        threading.Thread(
            target=self._pump, args=(self.process.stdout, self._lines), daemon=True
        ).start()
        self._drainer = threading.Thread(target=self._drain_errors, daemon=True)
        self._drainer.start()

    @staticmethod
    def _pump(stream: object, lines: "queue.Queue[str]") -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.put(line)

    def _drain_errors(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def first_line(self, timeout: float = START_TIMEOUT) -> str:
        try:
            return self._lines.get(timeout=timeout).strip()
        except queue.Empty:
            self.stop()
            raise RuntimeError(
                f"{self.argv[:4]} printed nothing in {timeout:g} s: {''.join(self.errors[-5:])}"
            ) from None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``STOP_TIMEOUT``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.explain()
        self.stop()
        if exc is not None:
            self._drainer.join(timeout=STACK_DUMP_WAIT)  # the pipe is at its end once it exited
            tail = "".join(self.errors[-ERROR_LINES:])
            print(f"--- the last stderr lines of {self.argv[2:4]} ---\n{tail}", file=sys.stderr)

    def explain(self) -> None:
        """Make the child say what it is doing, before it is stopped after a failure."""


class ImageServerProcess(Child):
    """``retailpulse.bench.imageserver`` in its own process, so that serving images
    does not take the service's GIL."""

    def __init__(self) -> None:
        super().__init__([sys.executable, "-m", "retailpulse.bench.imageserver", "--port", "0"])
        self.base_url = f"http://127.0.0.1:{int(self.first_line())}"


class ServiceProcess(Child):
    """``retailpulse serve`` on a free port, as an operator would run it."""

    def __init__(self, *options: str) -> None:
        super().__init__(
            [
                sys.executable,
                "-m",
                "retailpulse",
                "serve",
                "--port",
                "0",
                "--allow-private-urls",
                "--in-memory",  # a benchmark's jobs must not outlive it, nor resume in the next
                "--log-level",
                "WARNING",
                *options,
            ]
        )
        line = self.first_line()
        if not line.startswith("Retail Pulse listening on "):
            self.stop()
            raise RuntimeError(f"unexpected first line from the service: {line!r}")
        self.base_url = line.split()[4]
        self.idle_kib = memory_kib(self.pid)
        """Resident memory once listening, before any job: what jobs add is measured from it."""

    def explain(self) -> None:
        """Its threads' stacks go to its stderr, which the failure report shows."""
        if self.process.poll() is None:
            self.process.send_signal(STACK_SIGNAL)
            time.sleep(STACK_DUMP_WAIT)
