"""MemoryJobStore: the job store for tests and for ``start(data=None)``.

It keeps exactly what the SQLite store keeps, with the same rules (the chunk and
lease protocol included, for one node), so they pass the same contract tests; it
just forgets everything when the process ends.
"""

import bisect
import itertools
import secrets
from collections.abc import Iterator, Mapping, Sequence
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
    CHUNK_SIZE,
    RENEW_WITHIN,
    Chunk,
    Creation,
    Delivery,
    DeliveryAttempt,
    Heartbeat,
    IdempotencyClaim,
    JobMeta,
    NodeInfo,
    OutcomeRecord,
    decide_ending,
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
    chunks: list["_Lease"] = field(default_factory=list)
    claimed: int = 0
    """Chunk claims handed out so far: the fairness key of ``claim_chunks``."""
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
            queued=self.state is JobState.ONGOING and self.claimed == 0,
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
class _Lease:
    """One chunk's claim state: images left without an outcome, who holds it, until when."""

    left: int
    node: int | None = None
    until: float = 0.0


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
        self._node_ids = itertools.count(1)
        self._nodes: dict[int, NodeInfo] = {}
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
        job = _Job(
            job_id,
            tuple(images),
            submitted_at,
            MappingProxyType(known),
            owner=owner,
            callback_url=callback_url,
        )
        job.chunks = [
            _Lease(min(CHUNK_SIZE, len(images) - first))
            for first in range(0, len(images), CHUNK_SIZE)
        ]
        self._jobs[job_id] = job
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
            job.chunks[index // CHUNK_SIZE].left += 1  # claimable again
        job.failed_at.clear()
        job.failed = 0
        job.state = JobState.ONGOING
        job.finished_at = None
        job.errors = ()
        job.attempts += 1
        job.delivery = None
        return JobOrder(job.job_id, job.images, job.submitted_at)

    def claim_deliveries(self, now: float, limit: int, claim_s: float) -> list[Delivery]:
        due = sorted(self._due(now), key=lambda entry: (entry[0], entry[1].job_id))[:limit]
        for _, _, delivery, _ in due:
            delivery.next_at = now + claim_s
        return [
            Delivery(job.job_id, d.webhook_id, url, d.attempts, d.ended_at, job.status())
            for _, job, d, url in due
        ]

    def _due(self, now: float) -> Iterator[tuple[float, _Job, _Delivery, str]]:
        """Pending deliveries whose next attempt has come: when it came, the job, the
        delivery and its URL."""
        for job in self._jobs.values():
            d, url = job.delivery, job.callback_url
            if d is None or url is None or d.state is not DeliveryState.PENDING:
                continue
            if d.next_at is not None and d.next_at <= now:
                yield d.next_at, job, d, url

    def record_delivery(self, attempt: DeliveryAttempt) -> None:
        job = self._jobs.get(attempt.job_id)
        delivery = None if job is None else job.delivery
        if (
            delivery is None
            or delivery.webhook_id != attempt.webhook_id
            or delivery.state is not DeliveryState.PENDING
            or delivery.attempts != attempt.attempts - 1
        ):
            return
        delivery.state = attempt.state
        delivery.attempts = attempt.attempts
        delivery.last_error = attempt.last_error or delivery.last_error
        delivery.next_at = attempt.next_at

    @staticmethod
    def _ended(job: _Job, finished_at: float) -> None:
        """The job has just ended: stamp it, and queue its webhook if it has one."""
        job.finished_at = finished_at
        if job.callback_url is not None:
            job.delivery = _Delivery(
                "msg_" + secrets.token_hex(12), finished_at, next_at=finished_at
            )

    def _keep(self, record: OutcomeRecord) -> _Job | None:
        """Keep the outcome if it is its image's first, of an ongoing job; return that job."""
        job = self._jobs.get(record.job_id)
        if job is None or job.state is not JobState.ONGOING:
            return None
        if not 0 <= record.index < len(job.images) or record.index in job.outcomes:
            return None
        job.outcomes[record.index] = record.outcome
        if record.outcome.error is not None:
            job.failed += 1
            bisect.insort(job.failed_at, record.index)
        lease = job.chunks[record.index // CHUNK_SIZE]
        lease.left -= 1
        if lease.left == 0:
            lease.node = None
        return job

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

    def register_node(self, name: str, gpu_slots: int, now: float) -> int:
        node = next(self._node_ids)
        self._nodes[node] = NodeInfo(node, name, gpu_slots, now, now)
        return node

    def claim_chunks(
        self, node: int, limit: int, lease_s: float, now: float, *, new_jobs_only: bool = False
    ) -> list[Chunk]:
        candidates: list[tuple[int, int, int]] = []  # (turn, job id, chunk number)
        for job in self._jobs.values():
            if job.state is not JobState.ONGOING or (new_jobs_only and job.claimed):
                continue
            free = [
                n
                for n, lease in enumerate(job.chunks)
                if lease.left and (lease.node is None or lease.until <= now)
            ]
            if new_jobs_only:
                free = free[:1]
            candidates.extend((job.claimed + rank, job.job_id, n) for rank, n in enumerate(free))
        claimed = []
        for _, job_id, number in sorted(candidates)[:limit]:
            job = self._jobs[job_id]
            job.chunks[number] = _Lease(job.chunks[number].left, node, now + lease_s)
            job.claimed += 1
            claimed.append(self._chunk(job, number))
        return claimed

    @staticmethod
    def _chunk(job: _Job, number: int) -> Chunk:
        first = number * CHUNK_SIZE
        specs = job.images[first : first + CHUNK_SIZE]
        done = frozenset(i for i in range(first, first + len(specs)) if i in job.outcomes)
        return Chunk(job.job_id, number, first, specs, job.submitted_at, done, job.stores)

    def heartbeat(self, node: int, lease_s: float, now: float) -> Heartbeat:
        info = self._nodes.get(node)
        if info is not None:
            self._nodes[node] = NodeInfo(
                node, info.name, info.gpu_slots, info.started_at, max(now, info.last_heartbeat)
            )
        renewed, ended, held = 0, set(), set()
        for job in self._jobs.values():
            for number, lease in enumerate(job.chunks):
                if lease.node != node:
                    continue
                if job.state is not JobState.ONGOING:
                    lease.node = None
                    ended.add(job.job_id)
                    continue
                held.add((job.job_id, number))
                if lease.until < now + lease_s * RENEW_WITHIN:
                    lease.until = now + lease_s
                    renewed += 1
        return Heartbeat(renewed, frozenset(ended), frozenset(held))

    def record_outcomes(self, outcomes: Sequence[OutcomeRecord], now: float) -> list[JobStatus]:
        touched: dict[int, _Job] = {}
        for record in outcomes:
            job = self._keep(record)
            if job is not None:
                touched[job.job_id] = job
        finished = []
        for job in touched.values():
            if len(job.outcomes) == len(job.images):
                self._decide(job, now)
                finished.append(job.status())
        return finished

    @staticmethod
    def _decide(job: _Job, now: float) -> None:
        totals: dict[str, int] = {}
        reasons: dict[str, list[str]] = {}
        for spec in job.images:
            totals[spec.store_id] = totals.get(spec.store_id, 0) + 1
        for index in job.failed_at:
            error = job.outcomes[index].error
            assert error is not None
            reasons.setdefault(job.images[index].store_id, []).append(error)
        job.state, job.errors = decide_ending(totals.items(), reasons)
        MemoryJobStore._ended(job, now)

    def cancel_job(self, job_id: int, now: float) -> tuple[JobStatus, bool] | None:
        job = self._jobs.get(job_id)
        if job is None:
            return None
        cancelled = job.state is JobState.ONGOING
        if cancelled:
            job.state = JobState.CANCELLED
            self._ended(job, now)
        return job.status(), cancelled

    def release_node(self, node: int) -> None:
        self._nodes.pop(node, None)
        for job in self._jobs.values():
            for lease in job.chunks:
                if lease.node == node:
                    lease.node = None

    def count_ongoing(self) -> tuple[int, int]:
        ongoing = [job for job in self._jobs.values() if job.state is JobState.ONGOING]
        return len(ongoing), sum(1 for job in ongoing if not job.claimed)

    def live_nodes(self, now: float, within: float) -> list[NodeInfo]:
        return [n for _, n in sorted(self._nodes.items()) if n.last_heartbeat >= now - within]

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
