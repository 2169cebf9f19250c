"""Rows of the SQL job stores (SQLite, PostgreSQL) turned into the model's objects.

Both stores select the same columns in the same order (a status is the job's
columns and its webhook's), so one decoder serves both; the few differences
(PostgreSQL's ``jsonb`` arrives decoded, its sums as ``Decimal``) are absorbed here.
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

from retailpulse.model import (
    AreaFigures,
    DeliveryState,
    ImageOutcome,
    ImageResult,
    JobState,
    JobStatus,
    PerimeterFigures,
    Progress,
    StoreError,
    StoreFigures,
    StoreInfo,
    WebhookState,
)
from retailpulse.submission import ImageSpec

__all__ = [
    "area_figures",
    "errors_json",
    "image_result",
    "status",
    "store_figures",
    "webhook",
]


def image_result(row: tuple[Any, ...]) -> ImageResult:
    """``idx, store_id, url, store_name, area_code, outcome idx, width, height, error``."""
    index, store_id, url, name, area, outcome_idx, width, height, error = row
    return ImageResult(
        index,
        ImageSpec(store_id, url),
        None if name is None else StoreInfo(name, area),
        None if outcome_idx is None else ImageOutcome(width, height, error),
    )


def _perimeter(measured: int, low: Any, total: Any, high: Any) -> PerimeterFigures | None:
    return PerimeterFigures(int(low), int(total) / measured, int(high)) if measured else None


def store_figures(rows: Iterable[tuple[Any, ...]]) -> list[StoreFigures]:
    """``store_id, store_name, area_code, images, measured, failed, low, total, high``."""
    return [
        StoreFigures(
            store_id,
            None if name is None else StoreInfo(name, area),
            int(images),
            int(measured),
            int(failed),
            _perimeter(int(measured), low, total, high),
        )
        for store_id, name, area, images, measured, failed, low, total, high in rows
    ]


def area_figures(rows: Iterable[tuple[Any, ...]]) -> list[AreaFigures]:
    """``area_code, stores, images, measured, failed, low, total, high``."""
    return [
        AreaFigures(
            area,
            int(stores),
            int(images),
            int(measured),
            int(failed),
            _perimeter(int(measured), low, total, high),
        )
        for area, stores, images, measured, failed, low, total, high in rows
    ]


def errors_json(errors: tuple[StoreError, ...]) -> str:
    return json.dumps([[e.store_id, e.error] for e in errors])


def webhook(
    has_callback: Any, state: str | None, attempts: int | None, last_error: str | None
) -> WebhookState | None:
    """``callback_url IS NOT NULL, webhooks.state, attempts, last_error``."""
    if not has_callback:
        return None
    if state is None:
        return WebhookState(DeliveryState.WAITING)
    return WebhookState(DeliveryState(state), attempts or 0, last_error)


def status(row: Sequence[Any]) -> JobStatus:
    """``id, submitted_at, total, done, failed, state, finished_at, errors, attempts``,
    then the four columns of ``webhook``, then whether it is queued (ongoing, and no
    chunk of it was ever claimed)."""
    job_id, submitted_at, total, done, failed, state, finished_at, errors, attempts = row[:9]
    pairs = errors if isinstance(errors, list) else json.loads(errors or "[]")
    return JobStatus(
        int(job_id),
        JobState(state),
        Progress(total, done, failed),
        submitted_at,
        finished_at=finished_at,
        errors=tuple(StoreError(s, e) for s, e in pairs),
        attempts=attempts,
        webhook=webhook(*row[9:13]),
        queued=bool(row[13]),
    )
