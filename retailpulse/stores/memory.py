"""MemoryJobStore: the job store for tests and for ``start(data=None)``.

It keeps exactly what the SQLite store keeps, with the same rules, so the two
pass the same contract tests; it just forgets everything when the process ends.
"""

import bisect
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from retailpulse.model import (
    AreaFigures,
    DeliveryState,
    ImageOutcome,
    ImagePage,
    ImageResult,
    JobOrder,
    JobResults,
    JobState,
    JobStatus,
    PerimeterFigures,
    Progress,
    StoreError,
    StoreFigures,
    StoreInfo,
    WebhookState,
)
from retailpulse.stores.jobstore import (
    Creation,
    Delivery,
    DeliveryAttempt,
    IdempotencyClaim,
    JobEnding,
    JobMeta,
    OutcomeRecord,
)
from retailpulse.submission import ImageSpec

__all__ = ["MemoryJobStore"]


@dataclass(slots=True)
class _Job:
    job_id: int
    images: tuple[ImageSpec, ...]
    submitted_at: float
    stores: Mapping[str, StoreInfo]
    outcomes: dict[int, ImageOutcome] = field(default_factory=dict)
    failed_at: list[int] = field(default_factory=list)
    """Indexes of the failed images, sorted: a failed-only page is a bisect away."""
    failed: int = 0
    state: JobState = JobState.ONGOING
    finished_at: float | None = None
    errors: tuple[StoreError, ...] = ()
    owner: str | None = None
    callback_url: str | None = None
    attempts: int = 1
    delivery: "_Delivery | None" = None

    def status(self) -> JobStatus:
        progress = Progress(len(self.images), len(self.outcomes), self.failed)
        return JobStatus(
            self.job_id,
            self.state,
            progress,
            self.submitted_at,
            finished_at=self.finished_at,
            errors=self.errors,
            attempts=self.attempts,
            webhook=self.webhook(),
        )

    def webhook(self) -> WebhookState | None:
        if self.callback_url is None:
            return None
        if self.delivery is None:
            return WebhookState(DeliveryState.WAITING)
        d = self.delivery
        return WebhookState(d.state, d.attempts, d.last_error)

    def result(self, index: int) -> ImageResult:
        spec = self.images[index]
        return ImageResult(index, spec, self.stores.get(spec.store_id), self.outcomes.get(index))


@dataclass(slots=True)
class _Delivery:
    webhook_id: str
    ended_at: float
    state: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    last_error: str | None = None
    next_at: float | None = None


class MemoryJobStore:
    """A ``JobStore`` in a dict; ids still grow and are never reused."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._jobs: dict[int, _Job] = {}  # insertion order is id order
        self._claims: dict[tuple[str, str], tuple[str, float, int]] = {}
        """(scope, key) -> (fingerprint, claimed at, job id)."""

    def create_job(
        self,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> int:
        job_id = next(self._ids)
        used = {spec.store_id for spec in images}
        known = {sid: info for sid, info in (stores or {}).items() if sid in used}
        self._jobs[job_id] = _Job(
            job_id,
            tuple(images),
            submitted_at,
            MappingProxyType(known),
            owner=owner,
            callback_url=callback_url,
        )
        return job_id

    def create_job_once(
        self,
        claim: IdempotencyClaim,
        images: Sequence[ImageSpec],
        submitted_at: float,
        stores: Mapping[str, StoreInfo] | None = None,
        *,
        owner: str | None = None,
        callback_url: str | None = None,
    ) -> Creation:
        earlier = self._claims.get((claim.scope, claim.key))
        if earlier is not None and earlier[1] >= claim.not_before and earlier[2] in self._jobs:
            fingerprint, _, job_id = earlier
            return Creation(
                job_id,
                replayed=fingerprint == claim.fingerprint,
                conflict=fingerprint != claim.fingerprint,
            )
        job_id = self.create_job(
            images, submitted_at, stores, owner=owner, callback_url=callback_url
        )
        self._claims[(claim.scope, claim.key)] = (claim.fingerprint, submitted_at, job_id)
        return Creation(job_id)

    def job_meta(self, job_id: int) -> JobMeta | None:
        job = self._jobs.get(job_id)
        return None if job is None else JobMeta(job.owner, job.attempts, job.webhook())

    def reopen_failed(
        self, job_id: int, stores: Mapping[str, StoreInfo] | None = None
    ) -> JobOrder | JobStatus | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if job.state is not JobState.FAILED:
            return job.status()
        used = {spec.store_id for spec in job.images}
        job.stores = MappingProxyType(
            {**{s: i for s, i in (stores or {}).items() if s in used}, **job.stores}
        )
        for index in job.failed_at:
            del job.outcomes[index]
        job.failed_at.clear()
        job.failed = 0
        job.state = JobState.ONGOING
        job.finished_at = None
        job.errors = ()
        job.attempts += 1
        job.delivery = None
        return JobOrder(
            job.job_id, job.images, job.submitted_at, tuple(sorted(job.outcomes.items()))
        )

    def due_deliveries(self, now: float, limit: int) -> list[Delivery]:
        due = [
            (job.delivery.next_at, job)
            for job in self._jobs.values()
            if job.delivery is not None
            and job.delivery.state is DeliveryState.PENDING
            and job.delivery.next_at is not None
            and job.delivery.next_at <= now
        ]
        due.sort(key=lambda pair: (pair[0], pair[1].job_id))
        return [
            Delivery(
                job.job_id,
                job.delivery.webhook_id,
                job.callback_url,
                job.delivery.attempts,
                job.delivery.ended_at,
                job.status(),
            )
            for _, job in due[:limit]
            if job.delivery is not None and job.callback_url is not None
        ]

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        job = self._jobs.get(attempt.job_id)
        if job is None or job.delivery is None or job.delivery.webhook_id != attempt.webhook_id:
            return
        job.delivery.state = attempt.state
        job.delivery.attempts = attempt.attempts
        job.delivery.last_error = attempt.last_error or job.delivery.last_error
        job.delivery.next_at = attempt.next_at

    def write(self, outcomes: Sequence[OutcomeRecord], endings: Sequence[JobEnding]) -> None:
        for record in outcomes:
            job = self._jobs.get(record.job_id)
            if job is None or job.state is not JobState.ONGOING:
                continue
            if not 0 <= record.index < len(job.images) or record.index in job.outcomes:
                continue
            job.outcomes[record.index] = record.outcome
            if record.outcome.error is not None:
                job.failed += 1
                bisect.insort(job.failed_at, record.index)
        for ending in endings:
            job = self._jobs.get(ending.job_id)
            if job is None or job.state is not JobState.ONGOING:
                continue
            job.state = ending.state
            job.finished_at = ending.finished_at
            job.errors = ending.errors
            if job.callback_url is not None:
                job.delivery = _Delivery(
                    "msg_" + secrets.token_hex(12),
                    ending.finished_at,
                    next_at=ending.finished_at,
                )

    def claim_unfinished(self, after: int, limit: int) -> list[JobOrder]:
        orders: list[JobOrder] = []
        for job in self._jobs.values():
            if len(orders) >= limit:
                break
            if job.job_id > after and job.state is JobState.ONGOING:
                preloaded = tuple(sorted(job.outcomes.items()))
                orders.append(JobOrder(job.job_id, job.images, job.submitted_at, preloaded))
        return orders

    def job_status(self, job_id: int) -> JobStatus | None:
        job = self._jobs.get(job_id)
        return None if job is None else job.status()

    def job_results(self, job_id: int) -> JobResults | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        outcomes = tuple(job.outcomes.get(i) for i in range(len(job.images)))
        return JobResults(job.status(), job.images, outcomes)

    def image_page(
        self, job_id: int, after: int, limit: int, *, failed_only: bool = False
    ) -> ImagePage | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        if failed_only:
            start = bisect.bisect_left(job.failed_at, after)
            indexes = job.failed_at[start : start + limit + 1]
        else:
            indexes = list(range(after, min(after + limit + 1, len(job.images))))
        page = tuple(job.result(i) for i in indexes[:limit])
        return ImagePage(page, page[-1].index + 1 if len(indexes) > limit else None)

    def store_figures(self, job_id: int) -> list[StoreFigures] | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        groups: dict[str, _Tally] = {}
        for index, spec in enumerate(job.images):
            groups.setdefault(spec.store_id, _Tally()).add(job.outcomes.get(index))
        return [StoreFigures(s, job.stores.get(s), *t.figures()) for s, t in groups.items()]

    def area_figures(self, job_id: int) -> list[AreaFigures] | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        groups: dict[str | None, tuple[set[str], _Tally]] = {}
        for index, spec in enumerate(job.images):
            info = job.stores.get(spec.store_id)
            area = None if info is None else info.area_code
            members, tally = groups.setdefault(area, (set(), _Tally()))
            members.add(spec.store_id)
            tally.add(job.outcomes.get(index))
        return [
            AreaFigures(area, len(members), *tally.figures())
            for area, (members, tally) in groups.items()
        ]

    def list_jobs(
        self, limit: int, before: int | None, *, owner: str | None = None
    ) -> list[JobStatus]:
        found: list[JobStatus] = []
        for job_id in reversed(self._jobs):
            if len(found) >= limit:
                break
            job = self._jobs[job_id]
            if (before is None or job_id < before) and (owner is None or job.owner == owner):
                found.append(job.status())
        return found

    def purge(self, finished_before: float, limit: int) -> int:
        ended = [
            (job.finished_at, job.job_id)
            for job in self._jobs.values()
            if job.finished_at is not None and job.finished_at < finished_before
        ]
        expired = sorted(ended)[:limit]  # oldest first, as the SQLite store does
        for _, job_id in expired:
            del self._jobs[job_id]
        gone = {job_id for _, job_id in expired}
        for claim in [c for c, (_, _, job_id) in self._claims.items() if job_id in gone]:
            del self._claims[claim]
        return len(expired)

    def close(self) -> None:
        """Nothing to release; the jobs go with the object."""


@dataclass(slots=True)
class _Tally:
    """Running counts of one group of images (a store or an area)."""

    images: int = 0
    measured: int = 0
    failed: int = 0
    perimeters: list[int] = field(default_factory=list)

    def add(self, outcome: ImageOutcome | None) -> None:
        self.images += 1
        if outcome is None:
            return
        if outcome.error is not None:
            self.failed += 1
        elif outcome.perimeter is not None:
            self.measured += 1
            self.perimeters.append(outcome.perimeter)

    def figures(self) -> tuple[int, int, int, PerimeterFigures | None]:
        values = self.perimeters
        perimeter = (
            PerimeterFigures(min(values), sum(values) / len(values), max(values))
            if values
            else None
        )
        return self.images, self.measured, self.failed, perimeter
