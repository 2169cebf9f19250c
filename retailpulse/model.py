"""Immutable values that describe a job's progress and results.

Actors hand these out as answers and messages; being frozen, a snapshot can be
read by any thread while the job actor goes on changing its own state.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from retailpulse.download.guard import ADDRESS_REFUSED, PRIVATE_URLS_HINT
from retailpulse.imaging import perimeter
from retailpulse.submission import ImageSpec

__all__ = [
    "AreaFigures",
    "DeliveryState",
    "ImageOutcome",
    "ImagePage",
    "ImageResult",
    "JobOrder",
    "JobResults",
    "JobState",
    "JobStatus",
    "PerimeterFigures",
    "Progress",
    "StoreError",
    "StoreFigures",
    "StoreInfo",
    "WebhookState",
    "summarize_failures",
]

MAX_REASONS_PER_STORE = 3


class JobState(StrEnum):
    ONGOING = "ongoing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    """Stopped on request: images not started then never get an outcome."""


class DeliveryState(StrEnum):
    """Where a job's completion webhook is."""

    WAITING = "waiting"
    """The job has not ended yet."""
    PENDING = "pending"
    """Due, or to be tried again after a failed attempt."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up: the receiver answered 410, the address guard refused it, or the
    retry schedule ran out."""


@dataclass(frozen=True, slots=True)
class WebhookState:
    """A job's webhook as its status document shows it."""

    state: DeliveryState
    attempts: int = 0
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "attempts": self.attempts, "last_error": self.last_error}


@dataclass(frozen=True, slots=True)
class ImageOutcome:
    """What became of one image: its size, or why it has none."""

    width: int | None = None
    height: int | None = None
    error: str | None = None

    @classmethod
    def measured(cls, width: int, height: int) -> "ImageOutcome":
        return cls(width, height, None)

    @classmethod
    def failed(cls, reason: str) -> "ImageOutcome":
        return cls(None, None, reason)

    @property
    def perimeter(self) -> int | None:
        if self.width is None or self.height is None:
            return None
        return perimeter(self.width, self.height)


@dataclass(frozen=True, slots=True)
class StoreError:
    store_id: str
    error: str


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    done: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "done": self.done, "failed": self.failed}


@dataclass(frozen=True, slots=True)
class JobStatus:
    job_id: int
    state: JobState
    progress: Progress
    submitted_at: float
    finished_at: float | None = None
    errors: tuple[StoreError, ...] = ()
    queued: bool = False
    attempts: int = 1
    """Times the job has run: 1, plus one per retry of its failed images."""
    webhook: WebhookState | None = None
    """Its completion webhook; ``None`` when it has no ``callback_url``."""

    @property
    def terminal(self) -> bool:
        return self.state is not JobState.ONGOING

    def to_dict(self) -> dict[str, Any]:
        """The status document of the HTTP contract (plus additive extras)."""
        body: dict[str, Any] = {"status": self.state.value, "job_id": self.job_id}
        if self.state is JobState.FAILED:
            body["error"] = [{"store_id": e.store_id, "error": e.error} for e in self.errors]
        body["progress"] = self.progress.to_dict()
        body["queued"] = self.queued
        body["submitted_at"] = _iso(self.submitted_at)
        body["finished_at"] = None if self.finished_at is None else _iso(self.finished_at)
        body["attempts"] = self.attempts
        if self.webhook is not None:
            body["webhook"] = self.webhook.to_dict()
        return body


@dataclass(frozen=True, slots=True)
class JobResults:
    """A job's status with every image and its outcome, in submission order."""

    status: JobStatus
    images: tuple[ImageSpec, ...]
    outcomes: tuple[ImageOutcome | None, ...]

    def to_dict(self) -> dict[str, Any]:
        body = self.status.to_dict()
        body["images"] = [
            _image_dict(spec, outcome)
            for spec, outcome in zip(self.images, self.outcomes, strict=True)
        ]
        return body


@dataclass(frozen=True, slots=True)
class JobOrder:
    """A job as it was accepted (or reopened for another attempt): its id, images and
    submit time, fixed from then on. Which of its images still need work is the job
    store's to say, chunk by chunk (``Chunk.done``), not the order's."""

    job_id: int
    images: tuple[ImageSpec, ...]
    submitted_at: float


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """A store as the store master described it when a job was submitted."""

    store_name: str
    area_code: str


@dataclass(frozen=True, slots=True)
class ImageResult:
    """One image of a job as the results report it, with its store's name and area.

    ``index`` is its position in the submission (0-based): the key pages are cut on.
    ``store`` is ``None`` for a store the store master did not know at submit time.
    """

    index: int
    spec: ImageSpec
    store: StoreInfo | None
    outcome: ImageOutcome | None

    @property
    def state(self) -> str:
        """``measured``, ``failed``, or ``pending`` (no outcome yet; in a cancelled job,
        never processed)."""
        if self.outcome is None:
            return "pending"
        return "failed" if self.outcome.error is not None else "measured"

    def to_dict(self) -> dict[str, Any]:
        """The image's entry in the results, in the order of the CSV columns."""
        measure = _image_dict(self.spec, self.outcome)
        return {
            "store_id": self.spec.store_id,
            "store_name": None if self.store is None else self.store.store_name,
            "area_code": None if self.store is None else self.store.area_code,
            "image_url": self.spec.url,
            "status": self.state,
            "width": measure["width"],
            "height": measure["height"],
            "perimeter": measure["perimeter"],
            "error": measure["error"],
        }


@dataclass(frozen=True, slots=True)
class ImagePage:
    """Images of one job in submission order, and where the next page starts.

    ``next`` is the ``after`` of the following page (the index just past the last
    image here), or ``None`` when nothing follows.
    """

    images: tuple[ImageResult, ...]
    next: int | None


@dataclass(frozen=True, slots=True)
class PerimeterFigures:
    """Perimeters of the measured images of a group; ``mean`` is exact, not rounded."""

    min: int
    mean: float
    max: int

    def to_dict(self) -> dict[str, Any]:
        return {"min": self.min, "mean": self.mean, "max": self.max}


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """One store's images in one job: how many, how many measured and failed, and
    their perimeters (``None`` when no image was measured)."""

    store_id: str
    store: StoreInfo | None
    images: int
    measured: int
    failed: int
    perimeter: PerimeterFigures | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "store_name": None if self.store is None else self.store.store_name,
            "area_code": None if self.store is None else self.store.area_code,
            **_counts_dict(self.images, self.measured, self.failed, self.perimeter),
        }


@dataclass(frozen=True, slots=True)
class AreaFigures:
    """The same figures for every image of one area code (``None``: unknown stores)."""

    area_code: str | None
    stores: int
    images: int
    measured: int
    failed: int
    perimeter: PerimeterFigures | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "area_code": self.area_code,
            "stores": self.stores,
            **_counts_dict(self.images, self.measured, self.failed, self.perimeter),
        }


def _counts_dict(
    images: int, measured: int, failed: int, perimeter: PerimeterFigures | None
) -> dict[str, Any]:
    return {
        "images": images,
        "measured": measured,
        "failed": failed,
        "perimeter": None if perimeter is None else perimeter.to_dict(),
    }


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


def _image_dict(spec: ImageSpec, outcome: ImageOutcome | None) -> dict[str, Any]:
    outcome = outcome or ImageOutcome()
    return {
        "store_id": spec.store_id,
        "image_url": spec.url,
        "width": outcome.width,
        "height": outcome.height,
        "perimeter": outcome.perimeter,
        "error": outcome.error,
    }


def summarize_failures(
    images: Sequence[ImageSpec], outcomes: Sequence[ImageOutcome | None]
) -> tuple[StoreError, ...]:
    """One entry per failed store, in order of the store's first appearance.

    A store fails when any of its images failed; its reason quotes the first few
    image errors so that a person can act on it without fetching the results.
    """
    order: list[str] = []
    totals: dict[str, int] = {}
    reasons: dict[str, list[str]] = {}
    for spec, outcome in zip(images, outcomes, strict=True):
        if spec.store_id not in totals:
            order.append(spec.store_id)
            totals[spec.store_id] = 0
        totals[spec.store_id] += 1
        if outcome is not None and outcome.error is not None:
            reasons.setdefault(spec.store_id, []).append(outcome.error)
    return tuple(
        StoreError(store_id, _store_reason(reasons[store_id], totals[store_id]))
        for store_id in order
        if store_id in reasons
    )


def _store_reason(errors: list[str], total: int) -> str:
    refused = [e for e in errors if ADDRESS_REFUSED in e]
    if refused:
        return _refused_reason(refused, [e for e in errors if ADDRESS_REFUSED not in e], total)
    distinct = list(dict.fromkeys(errors))
    if len(distinct) == 1 and len(errors) == total:
        return distinct[0] if total == 1 else f"all {total} images failed: {distinct[0]}"
    shown = "; ".join(distinct[:MAX_REASONS_PER_STORE])
    more = len(distinct) - MAX_REASONS_PER_STORE
    suffix = f"; and {more} more" if more > 0 else ""
    return f"{len(errors)} of {total} images failed: {shown}{suffix}"


def _refused_reason(refused: list[str], others: list[str], total: int) -> str:
    """The guard's refusals said once, naming the URLs, then any other failures."""
    urls = list(dict.fromkeys(e.split(f": {ADDRESS_REFUSED}", 1)[0] for e in refused))
    shown = ", ".join(urls[:MAX_REASONS_PER_STORE])
    more = len(urls) - MAX_REASONS_PER_STORE
    if total == 1:
        which = f"its image was {ADDRESS_REFUSED}, not a public address"
    else:
        count = "all" if len(refused) == total else f"{len(refused)} of"
        which = f"{count} {total} images were {ADDRESS_REFUSED}, not public addresses"
    tail = f" and {more} more" if more > 0 else ""
    reason = f"{which}: {shown}{tail}; {PRIVATE_URLS_HINT}"
    return f"{reason}; {_store_reason(others, total)}" if others else reason
