"""Plain-text renderings of a job's status, results and figures, for people and scripts.

No dependency beyond the standard library: aligned columns are enough for a
terminal. CSV comes from the service itself (``results --csv`` streams it).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

__all__ = [
    "failure_report",
    "figures_table",
    "results_table",
    "summary_line",
]


def summary_line(status: dict[str, Any]) -> str:
    """``job 1 failed in 0.52 s: 5 images, 3 measured, 2 failed``."""
    progress = status.get("progress", {})
    total, failed = progress.get("total", 0), progress.get("failed", 0)
    took = _seconds(status.get("submitted_at"), status.get("finished_at"))
    when = f" in {took:.2f} s" if took is not None else ""
    return (
        f"job {status['job_id']} {status['status']}{when}: "
        f"{total} images, {progress.get('done', 0) - failed} measured, {failed} failed"
    )


def results_table(images: Sequence[dict[str, Any]], limit: int | None = None) -> list[str]:
    """One aligned row per image: store, size, perimeter (or ``failed``), URL."""
    shown = images if limit is None else images[:limit]
    rows = [("store_id", "size", "perimeter", "image_url")]
    for image in shown:
        if image.get("error") is not None:
            size, perimeter = "-", "failed"
        elif image.get("perimeter") is None:
            size, perimeter = "-", "pending"
        else:
            size, perimeter = f"{image['width']}x{image['height']}", str(image["perimeter"])
        rows.append((image["store_id"], size, perimeter, image["image_url"]))
    widths = [max(len(row[col]) for row in rows) for col in range(3)]
    lines = [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
        for row in rows
    ]
    if len(shown) < len(images):
        lines.append(f"... and {len(images) - len(shown)} more images")
    return lines


def figures_table(entries: Sequence[dict[str, Any]], by: str = "store") -> list[str]:
    """One aligned row per store (or area): counts, then perimeter min, mean and max."""
    keys = ("store_id", "store_name", "area_code") if by == "store" else ("area_code", "stores")
    header = (*keys, "images", "measured", "failed", "min", "mean", "max")
    rows = [header]
    for entry in entries:
        perimeter = entry.get("perimeter") or {}
        mean = perimeter.get("mean")
        rows.append(
            (
                *("-" if entry.get(k) is None else str(entry[k]) for k in keys),
                *(str(entry.get(k, "")) for k in ("images", "measured", "failed")),
                str(perimeter.get("min", "-")),
                "-" if mean is None else f"{mean:.1f}",
                str(perimeter.get("max", "-")),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    text_columns = len(keys) if by == "store" else 1
    return [
        "  ".join(
            cell.ljust(width) if col < text_columns else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def failure_report(status: dict[str, Any]) -> list[str]:
    """One line per failed store, as the status reports them, in their order."""
    return [f"{entry['store_id']}: {entry['error']}" for entry in status.get("error", [])]


def _seconds(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None
