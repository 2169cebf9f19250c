"""Presenting a benchmark run: a text table, a JSON record, a PNG chart."""

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retailpulse.bench.scenarios import Row

__all__ = ["machine", "table", "write_chart", "write_json"]

COLUMNS = (
    "scenario",
    "images",
    "W",
    "wall s",
    "img/s",
    "ideal",
    "baseline",
    "ratio",
    "status p50/p99 ms",
    "peak RSS MiB",
    "KiB/image",
    "submit ms",
    "CPU ms/image",
    "load",
)


def machine() -> dict[str, Any]:
    """Where the figures were measured: they mean little without it."""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_at_start": os.getloadavg()[0],
    }


def _figure(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def _cells(row: Row) -> list[str]:
    latency = "-"
    if row.status_p50_ms is not None and row.status_p99_ms is not None:
        latency = f"{_figure(row.status_p50_ms, 1)} / {_figure(row.status_p99_ms, 1)}"
    return [
        row.scenario,
        f"{row.images:,}",
        str(row.workers),
        _figure(row.wall_s, 2),
        _figure(row.images_per_s, 1),
        _figure(row.ideal_per_s),
        _figure(row.baseline_per_s, 1),
        f"{row.ratio:.2f}",
        latency,
        _figure(row.peak_rss_mib),
        _figure(row.rss_per_image_kib, 2),
        _figure(row.submit_ms),
        _figure(row.cpu_ms_per_image, 2),
        _figure(row.load, 1),
    ]


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable in a terminal, pasteable into the README), then notes."""
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|",
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in rows]
    notes = [f"- {row.scenario}: {note}" for row in rows for note in row.notes]
    return "\n".join(lines + (["", *notes] if notes else []))


def write_json(
    path: Path,
    rows: Sequence[Row],
    about: dict[str, Any],
    cluster: dict[str, Any] | None = None,
) -> None:
    """The run's figures; ``cluster`` is the cluster scenario's record, when it ran."""
    record: dict[str, Any] = {
        "machine": about,
        "rows": [asdict(row) | {"ratio": row.ratio} for row in rows],
    }
    if cluster is not None:
        record["cluster"] = cluster
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def write_chart(path: Path, rows: Sequence[Row], about: dict[str, Any]) -> None:
    """Images per second against W: service, baseline and the sleep-bound ideal."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("retailpulse bench: --chart needs matplotlib: pip install 'retailpulse[bench]'")
    sweep = [row for row in rows if row.scenario == "throughput"]
    workers = [row.workers for row in sweep]
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    axes.plot(workers, [r.images_per_s for r in sweep], "o-", label="Retail Pulse (HTTP API)")
    axes.plot(
        workers, [r.baseline_per_s or 0 for r in sweep], "s--", label="ThreadPoolExecutor baseline"
    )
    axes.plot(workers, [r.ideal_per_s for r in sweep], ":", color="grey", label="ideal W / 0.25 s")
    axes.set_xscale("log", base=2)
    axes.set_xticks(workers, [str(w) for w in workers])
    axes.set_ylim(0, max(max(r.images_per_s, r.baseline_per_s or 0) for r in sweep) * 1.3)
    axes.set_xlabel("W: images on the simulated GPU at once (--workers)")
    axes.set_ylabel("images per second")
    axes.set_title(f"Throughput, {about['cpus']} CPUs, {about['date']}")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
