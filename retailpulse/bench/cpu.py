"""Where the CPU went during a benchmark run: each process of interest, and the
whole machine, from ``/proc``.

The machine is shared (the image server, PostgreSQL, the bench client, other
people's work), so a throughput figure alone cannot say whether the service
scales; its CPU per image, set against everything else's, can.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass

from retailpulse.bench.processes import cpu_seconds

__all__ = ["CpuSplit", "CpuWatch", "machine_busy_seconds"]


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``: every state
    but idle and iowait)."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    idle, iowait = fields[3], fields[4]
    busy = sum(fields[:8]) - idle - iowait  # user nice system idle iowait irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def _cpu_or_none(pid: int) -> float | None:
    try:
        return cpu_seconds(pid)
    except OSError:
        return None  # it has exited: its share is unknown, not zero


@dataclass(frozen=True, slots=True)
class CpuSplit:
    """CPU milliseconds per image, by who spent them."""

    nodes: tuple[float, ...]
    image_server: float
    postgres: float
    """The database's backends (the nodes' sessions), not the server's own workers."""
    machine: float
    """Every busy core of the machine, whoever it ran."""

    @property
    def other(self) -> float:
        """What the machine spent besides the processes above: PostgreSQL's own
        workers (WAL writer, checkpointer), the bench client, other people's work."""
        return self.machine - sum(self.nodes) - self.image_server - self.postgres


class CpuWatch:
    """CPU seconds of named groups of processes between ``start`` and ``stop``."""

    def __init__(self, groups: Mapping[str, list[int]]) -> None:
        self._groups = {name: list(pids) for name, pids in groups.items()}
        self._before: dict[int, float | None] = {}
        self._machine = 0.0

    def start(self) -> None:
        self._before = {pid: _cpu_or_none(pid) for pids in self._groups.values() for pid in pids}
        self._machine = machine_busy_seconds()

    def stop(self) -> dict[str, list[float]]:
        """Seconds per process of each group, plus ``machine`` (one figure)."""
        spent: dict[str, list[float]] = {"machine": [machine_busy_seconds() - self._machine]}
        for name, pids in self._groups.items():
            spent[name] = []
            for pid in pids:
                before, after = self._before.get(pid), _cpu_or_none(pid)
                spent[name].append(0.0 if before is None or after is None else after - before)
        return spent

    @staticmethod
    def split(spent: Mapping[str, list[float]], images: int) -> CpuSplit:
        def ms(seconds: float) -> float:
            return seconds * 1000 / images

        return CpuSplit(
            nodes=tuple(ms(s) for s in spent["nodes"]),
            image_server=ms(sum(spent["image_server"])),
            postgres=ms(sum(spent["postgres"])),
            machine=ms(sum(spent["machine"])),
        )
