"""``retailpulse serve`` as a real process, for the tests of the command line."""

import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["Served", "serve_processes"]


class Served:
    """A ``retailpulse serve`` subprocess and the URL it printed."""

    def __init__(self, *args: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "retailpulse", "serve", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,  # where the default ./retailpulse.db goes
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        """Read in the background so that waiting for the URL can be bounded."""
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def url(self, timeout: float = 15) -> str:
        line = self._lines.get(timeout=timeout)
        assert line.startswith("Retail Pulse listening on http://127.0.0.1:"), line
        return line.split()[4]

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=15)


def serve_processes(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start ``serve`` processes in ``tmp_path``; each is killed at the end if still running."""
    started: list[Served] = []

    def serve(*args: str) -> Served:
        started.append(Served(*args, cwd=tmp_path))
        return started[-1]

    yield serve
    for s in started:
        if s.process.poll() is None:
            s.process.kill()
            s.process.wait(timeout=5)
        for stream in (s.process.stdout, s.process.stderr):
            if stream is not None:
                stream.close()
