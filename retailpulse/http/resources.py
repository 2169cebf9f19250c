"""Falcon resources: translate HTTP to calls on ``System`` and answers back to JSON.

No business logic lives here; every rule is in ``System`` and the actors, so the
HTTP API and the embedding API cannot drift apart.
"""

from typing import Any

import falcon

from retailpulse.errors import UnknownJobError, ValidationError
from retailpulse.submission import parse_body
from retailpulse.system import System

__all__ = ["HealthResource", "ResultsResource", "StatusResource", "SubmitResource"]


def _job_id(req: falcon.Request) -> int:
    """Parse ``jobid``; anything but a plain positive integer is an unknown job."""
    raw = req.get_param("jobid")
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise UnknownJobError(raw)
    return int(raw)


class SubmitResource:
    def __init__(self, system: System) -> None:
        self._system = system

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        limit = self._system.config.max_body_bytes
        length = req.content_length
        if length is not None and length > limit:
            raise falcon.HTTPContentTooLarge(
                title="body too large", description=f"body must be at most {limit} bytes"
            )
        body = req.bounded_stream.read(limit + 1)
        if len(body) > limit:
            raise falcon.HTTPContentTooLarge(
                title="body too large", description=f"body must be at most {limit} bytes"
            )
        try:
            submission = parse_body(body)
        except ValidationError as exc:
            resp.status = falcon.HTTP_400
            resp.media = {"error": str(exc), "field": exc.field}
            return
        resp.status = falcon.HTTP_201
        resp.media = {"job_id": self._system.submit(submission)}


class StatusResource:
    def __init__(self, system: System) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.status(_job_id(req))


class ResultsResource:
    def __init__(self, system: System) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.results(_job_id(req))


class HealthResource:
    def __init__(self, system: System) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        stats = self._system.pool_stats()
        body: dict[str, Any] = {
            "status": "ok",
            "workers": stats.workers,
            "idle_workers": stats.idle,
            "stores": len(self._system.store_master),
        }
        resp.media = body
