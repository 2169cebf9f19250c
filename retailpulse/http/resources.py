"""Falcon resources: translate HTTP to calls on ``System`` and answers back to JSON.

No business logic lives here; every rule is in ``System`` and the actors, so the
HTTP API and the embedding API cannot drift apart. One class per noun: ``JobResource``
answers everything about one job (its ``jobid`` parsed once, by a hook), ``JobsResource``
the collection (list and submit); ``app.py`` routes each path to a suffixed responder.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import falcon

from retailpulse.errors import ServiceBusyError, UnknownJobError, ValidationError
from retailpulse.http.auth import caller_of
from retailpulse.http.formats import (
    CSV_TYPE,
    FORMATS,
    NDJSON_TYPE,
    csv_chunks,
    json_chunks,
    ndjson_chunks,
)
from retailpulse.model import ImagePage
from retailpulse.paging import (
    IMAGE_PAGE_AFTER,
    IMAGE_PAGE_LIMIT,
    JOB_PAGE_AFTER,
    JOB_PAGE_LIMIT,
    IntRule,
)
from retailpulse.submission import parse_body
from retailpulse.system import GROUPINGS, System

__all__ = ["HealthResource", "JobResource", "JobsResource", "parse_job_id"]

DEFAULT_JOB_PAGE = 50


def _job_id(req: falcon.Request) -> int:
    """Parse ``jobid``; anything but one plain positive integer is an unknown job.

    A repeated ``jobid`` is refused rather than one of its values picked: a proxy or
    cache that picks the other one would then answer for a different job.
    """
    raw = req.params.get("jobid")
    if isinstance(raw, list):
        raise UnknownJobError(raw)
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise UnknownJobError(raw)
    return int(raw)


def _one_value(req: falcon.Request, name: str) -> str | None:
    """The parameter's value; given twice it is ambiguous, so a 400 naming it."""
    values = req.get_param_as_list(name)
    if values is None:
        return None
    if len(values) != 1:
        raise ValidationError(name, "must be given once")
    return values[0]


def parse_job_id(
    req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
) -> None:
    """Falcon hook: ``jobid`` parsed once for every responder of a job, as ``job_id``."""
    params["job_id"] = _job_id(req)


def _query_int(req: falcon.Request, rule: IntRule) -> int | None:
    """The parameter as the integer ``System`` checks against ``rule``; ``None`` if absent."""
    raw = _one_value(req, rule.field)
    return None if raw is None else rule.parse(raw)


def _query_flag(req: falcon.Request, name: str) -> bool:
    raw = _one_value(req, name)
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise ValidationError(name, "must be true or false")


def _query_choice(req: falcon.Request, name: str, choices: Sequence[str]) -> str | None:
    raw = _one_value(req, name)
    if raw is not None and raw not in choices:
        raise ValidationError(name, f"must be one of {', '.join(choices)}")
    return raw


def _too_large(limit: int) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="body too large", description=f"body must be at most {limit} bytes"
    )


class _Resource:
    """Every resource is a view of one running ``System``."""

    def __init__(self, system: System) -> None:
        self._system = system


class JobsResource(_Resource):
    """The jobs: ``GET /api/jobs`` lists a page of them, ``POST /api/submit/`` adds one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """``?limit=&after=``: recent jobs, newest first (only the caller's, unless admin)."""
        limit = _query_int(req, JOB_PAGE_LIMIT)
        after = _query_int(req, JOB_PAGE_AFTER)
        resp.media = self._system.jobs(
            DEFAULT_JOB_PAGE if limit is None else limit, after, caller=caller_of(req)
        )

    def on_post_submit(self, req: falcon.Request, resp: falcon.Response) -> None:
        """201 ``{"job_id"}``; with ``Idempotency-Key``, a replay answers the first job."""
        limit = self._system.config.max_body_bytes
        if req.content_length is not None and req.content_length > limit:
            raise _too_large(limit)
        body = req.bounded_stream.read(limit + 1)  # one byte past: a lying length is caught
        if len(body) > limit:
            raise _too_large(limit)
        config = self._system.config
        created = self._system.submit_job(  # ValidationError -> 400 in app.py
            parse_body(body, config.max_images_per_job, config.max_url_length),
            caller=caller_of(req),
            idempotency_key=req.get_header("Idempotency-Key"),
        )
        resp.status = falcon.HTTP_201
        if created.replayed:
            resp.set_header("Idempotent-Replayed", "true")
        resp.media = {"job_id": created.job_id}


@falcon.before(parse_job_id)
class JobResource(_Resource):
    """One job, named by ``?jobid=N`` (parsed once, by ``parse_job_id``): its status,
    results and figures, and the commands cancel and retry. Another API key's job is
    answered as an unknown one, ``400 {}`` (``System`` decides)."""

    def on_get_status(self, req: falcon.Request, resp: falcon.Response, job_id: int) -> None:
        resp.media = self._system.status(job_id, caller=caller_of(req))

    def on_get_results(self, req: falcon.Request, resp: falcon.Response, job_id: int) -> None:
        """``[&limit=L&after=C][&failed=true][&format=json|csv|ndjson]``, streamed.

        Read from the job store a page at a time and sent as it is rendered, so a job
        of any size costs a few hundred KB here. Without ``limit`` it holds every image
        (from ``after``); with it, one page and where the next starts (``next`` in
        JSON; the ``X-Next-After`` and ``Link`` headers otherwise).
        """
        limit = _query_int(req, IMAGE_PAGE_LIMIT)
        after = _query_int(req, IMAGE_PAGE_AFTER) or 0
        failed = _query_flag(req, "failed")
        fmt = _query_choice(req, "format", FORMATS) or "json"
        caller = caller_of(req)
        # The status first: once it says the job ended, the pages read after it hold
        # every final outcome (a terminal status is committed after them).
        head = self._system.status(job_id, caller=caller) if fmt == "json" else {}
        pages: Iterator[ImagePage]
        if limit is None:
            pages = self._system.result_pages(job_id, after, failed=failed, caller=caller)
            next_after = None
        else:
            page = self._system.image_page(job_id, limit, after, failed=failed, caller=caller)
            pages, next_after = iter([page]), page.next
        if next_after is not None:
            query = {"jobid": job_id, "limit": limit, "after": next_after, "format": fmt}
            if failed:
                query["failed"] = "true"
            resp.set_header("X-Next-After", str(next_after))
            resp.set_header("Link", f'<{req.path}?{urlencode(query)}>; rel="next"')
        if fmt == "csv":
            resp.content_type = CSV_TYPE
            resp.set_header(
                "Content-Disposition", f'attachment; filename="retailpulse-job-{job_id}.csv"'
            )
            resp.stream = csv_chunks(pages)
        elif fmt == "ndjson":
            resp.content_type = NDJSON_TYPE
            resp.stream = ndjson_chunks(pages)
        else:
            resp.content_type = falcon.MEDIA_JSON
            resp.stream = json_chunks(head, pages, next_after)

    def on_get_stores(self, req: falcon.Request, resp: falcon.Response, job_id: int) -> None:
        """``[&by=store|area]``: the job's figures per store or per area code."""
        by = _query_choice(req, "by", GROUPINGS) or "store"
        resp.media = self._system.stores(job_id, by, caller=caller_of(req))

    def on_post_cancel(self, req: falcon.Request, resp: falcon.Response, job_id: int) -> None:
        """The status document plus ``cancelled``."""
        resp.media = self._system.cancel(job_id, caller=caller_of(req))

    def on_post_retry(self, req: falcon.Request, resp: falcon.Response, job_id: int) -> None:
        """A failed job runs again for its failed images: its status, ``ongoing``."""
        resp.media = self._system.retry(job_id, caller=caller_of(req))


class HealthResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        stats = self._system.pool_stats()
        resp.media = {
            "status": "ok",
            "workers": stats.workers,
            "idle_workers": stats.idle,
            "gpu_slots": stats.slots,
            "free_gpu_slots": stats.free_slots,
            "stores": len(self._system.store_master),
        }
        try:
            cluster = self._system.cluster()
        except ServiceBusyError:
            cluster = None  # the database is away: the node is up, the list unknown
            resp.media["node"] = None
        if cluster is not None:
            node, nodes = cluster
            resp.media["node"] = node
            resp.media["nodes"] = [
                {
                    "node_id": n.node_id,
                    "name": n.name,
                    "gpu_slots": n.gpu_slots,
                    "last_heartbeat": _utc(n.last_heartbeat),
                }
                for n in nodes
            ]

    on_head = on_get  # load balancers check health with HEAD; falcon sends no body for it


def _utc(timestamp: float) -> str:
    """An ISO 8601 UTC time, as the status documents write theirs."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
