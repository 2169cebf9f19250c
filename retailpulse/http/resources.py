"""Falcon resources: translate HTTP to calls on ``System`` and answers back to JSON.

No business logic lives here; every rule is in ``System`` and the actors, so the
HTTP API and the embedding API cannot drift apart.
"""

import falcon

from retailpulse.errors import UnknownJobError, ValidationError
from retailpulse.submission import parse_body
from retailpulse.system import MAX_PAGE, System

__all__ = [
    "CancelResource",
    "HealthResource",
    "JobsResource",
    "ResultsResource",
    "StatusResource",
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
        submission = parse_body(body, config.max_images_per_job, config.max_url_length)
        job_id = self._system.submit(submission)  # ValidationError -> 400 in app.py
        resp.status = falcon.HTTP_201
        resp.media = {"job_id": job_id}


class StatusResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.status(_job_id(req))


class ResultsResource(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.results(_job_id(req))


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
        resp.media = self._system.cancel(_job_id(req))


class JobsResource(_Resource):
    """``GET /api/jobs?limit=&after=``: recent jobs, newest first, a page at a time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = _int_param(req, "limit", 50, f"must be an integer from 1 to {MAX_PAGE}")
        after = _int_param(req, "after", None, "must be a job id (a positive integer)")
        assert limit is not None
        resp.media = self._system.jobs(limit, after)
