"""Falcon resources: translate HTTP to calls on ``System`` and answers back to JSON.

No business logic lives here; every rule is in ``System`` and the actors, so the
HTTP API and the embedding API cannot drift apart.
"""

from collections.abc import Iterator, Sequence
from urllib.parse import urlencode

import falcon

from retailpulse.errors import UnknownJobError, ValidationError
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
from retailpulse.submission import parse_body
from retailpulse.system import GROUPINGS, MAX_IMAGE_PAGE, MAX_PAGE, System

__all__ = [
    "CancelResource",
    "HealthResource",
    "JobsResource",
    "ResultsResource",
    "RetryResource",
    "StatusResource",
    "StoresResource",
    "SubmitResource",
]


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


def _int_param(req: falcon.Request, name: str, default: int | None, rule: str) -> int | None:
    """A plain positive integer query parameter, or a 400 naming it."""
    raw = req.get_param(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18 or int(raw) < 1:
        raise ValidationError(name, rule)
    return int(raw)


def _one_value(req: falcon.Request, name: str) -> str | None:
    """The parameter's value; given twice it is ambiguous, so a 400 naming it."""
    values = req.get_param_as_list(name)
    if values is None:
        return None
    if len(values) != 1:
        raise ValidationError(name, "must be given once")
    return values[0]


def _query_int(req: falcon.Request, name: str, low: int, high: int | None) -> int | None:
    raw = _one_value(req, name)
    if raw is None:
        return None
    span = f"from {low} to {high}" if high is not None else f"of {low} or more"
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise ValidationError(name, f"must be an integer {span}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise ValidationError(name, f"must be an integer {span}")
    return value


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


class SubmitResource(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
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


class StatusResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.status(_job_id(req), caller=caller_of(req))


class ResultsResource(_Resource):
    """``GET /api/results?jobid=N[&limit=L&after=C][&failed=true][&format=F]``.

    The answer is streamed: read from the job store a page at a time and sent as it
    is rendered, so a job of any size costs a few hundred KB here. Without ``limit``
    it holds every image (from ``after``); with it, one page and where the next
    starts (``next`` in JSON; the ``X-Next-After`` and ``Link`` headers otherwise).
    """

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        job_id = _job_id(req)
        limit = _query_int(req, "limit", 1, MAX_IMAGE_PAGE)
        after = _query_int(req, "after", 0, None) or 0
        failed = _query_flag(req, "failed")
        fmt = _query_choice(req, "format", FORMATS) or "json"
        caller = caller_of(req)
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


class StoresResource(_Resource):
    """``GET /api/stores?jobid=N[&by=store|area]``: a job's figures per store or area."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        job_id = _job_id(req)
        by = _query_choice(req, "by", GROUPINGS) or "store"
        resp.media = self._system.stores(job_id, by, caller=caller_of(req))


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

    on_head = on_get  # load balancers check health with HEAD; falcon sends no body for it


class CancelResource(_Resource):
    """``POST /api/cancel?jobid=N``: the status document plus ``cancelled``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.cancel(_job_id(req), caller=caller_of(req))


class RetryResource(_Resource):
    """``POST /api/retry?jobid=N``: run a failed job again for its failed images."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.retry(_job_id(req), caller=caller_of(req))


class JobsResource(_Resource):
    """``GET /api/jobs?limit=&after=``: recent jobs, newest first, a page at a time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = _int_param(req, "limit", 50, f"must be an integer from 1 to {MAX_PAGE}")
        after = _int_param(req, "after", None, "must be a job id (a positive integer)")
        assert limit is not None
        resp.media = self._system.jobs(limit, after, caller=caller_of(req))
