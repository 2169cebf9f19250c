"""The falcon application factory and its error mapping."""

import logging
from collections.abc import Callable
from typing import Any

import falcon

from retailpulse.errors import (
    IdempotencyKeyReusedError,
    JobNotFailedError,
    LimitExceededError,
    ServiceBusyError,
    UnknownJobError,
    ValidationError,
)
from retailpulse.http.auth import AuthMiddleware
from retailpulse.http.dashboard import add_dashboard_routes
from retailpulse.http.metrics import MetricsResource
from retailpulse.http.openapi import OpenApiResource
from retailpulse.http.resources import HealthResource, JobResource, JobsResource
from retailpulse.system import System

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


def create_app(system: System) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the WSGI app for a running ``System``; serve it with any WSGI server."""
    middleware = [] if system.keys is None else [AuthMiddleware(system.keys)]
    app = falcon.App(cors_enable=False, middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    app.resp_options.default_media_type = falcon.MEDIA_JSON
    jobs, job = JobsResource(system), JobResource(system)
    app.add_route("/api/jobs", jobs)
    app.add_route("/api/submit", jobs, suffix="submit")
    for action in ("status", "results", "stores", "cancel", "retry"):
        app.add_route(f"/api/{action}", job, suffix=action)
    app.add_route("/healthz", HealthResource(system))
    app.add_route("/metrics", MetricsResource(system))
    app.add_route("/openapi.json", OpenApiResource())
    add_dashboard_routes(app, system)
    app.add_error_handler(ValidationError, _invalid)
    app.add_error_handler(LimitExceededError, _too_large)
    app.add_error_handler(IdempotencyKeyReusedError, _key_reused)
    app.add_error_handler(JobNotFailedError, _not_failed)
    app.add_error_handler(UnknownJobError, _unknown_job)
    app.add_error_handler(ServiceBusyError, _busy)
    app.add_error_handler(falcon.HTTPError, _http_error)
    app.add_error_handler(Exception, _unexpected)
    return app


def _field_error(status: str) -> Callable[..., None]:
    """An error handler answering ``status`` with ``{"error", "field"}``: what is wrong
    in words, and the field to fix on its own, for programs."""

    def handle(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
        assert isinstance(ex, ValidationError)
        resp.status = status
        resp.media = {"error": str(ex), "field": ex.field}

    return handle


_invalid = _field_error(falcon.HTTP_400)
_too_large = _field_error(falcon.HTTP_413)
"""Like a body over the size limit: the request is well-formed, only too big."""
_key_reused = _field_error(falcon.HTTP_422)
"""As Stripe answers a reused Idempotency-Key: sending it again cannot help."""


def _not_failed(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    """409: the job is in a state a retry does not apply to."""
    assert isinstance(ex, JobNotFailedError)
    resp.status = falcon.HTTP_409
    resp.media = {"error": str(ex), "status": ex.state}


def _unknown_job(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    """The spec answers an unknown or malformed job id with 400 and exactly ``{}``."""
    resp.status = falcon.HTTP_400
    resp.media = {}


def _busy(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    resp.status = falcon.HTTP_503
    resp.media = {"error": str(ex)}
    resp.set_header("Retry-After", "1")


def _http_error(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    """Falcon's own errors (404, 405, 413...) as ``{"error": ...}`` like ours."""
    assert isinstance(ex, falcon.HTTPError)
    resp.status = ex.status
    message = ex.title if not ex.description else f"{ex.title}: {ex.description}"
    resp.media = {"error": message}
    resp.set_headers(ex.headers or {})


def _unexpected(req: falcon.Request, resp: falcon.Response, ex: Exception, params: Any) -> None:
    logger.exception("unhandled error on %s %s", req.method, req.path)
    resp.status = falcon.HTTP_500
    resp.media = {"error": "internal server error"}
