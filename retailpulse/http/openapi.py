"""The OpenAPI 3 document of the HTTP API, served at ``GET /openapi.json``.

Written by hand as plain data, one block per path in ``PATHS``, so that a new
endpoint is one new entry (plus its schemas in ``SCHEMAS``). A test runs
schemathesis against the live server with this document, so it stays true:
every answer the service gives must be one the document describes.
"""

from typing import Any

import falcon

from retailpulse import __version__
from retailpulse.http.formats import CSV_COLUMNS

__all__ = ["PATHS", "SCHEMAS", "OpenApiResource", "openapi_document"]

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: str, **extra: Any) -> dict[str, Any]:
    """A JSON response whose body is the named component schema."""
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}, **extra}


BUSY = _json(
    "Overloaded: an actor did not answer within the ask timeout, or too many costly "
    "requests (results, submits over 256 KiB) are running or waiting; retry after a second.",
    "Error",
    headers={"Retry-After": {"schema": {"type": "string"}, "required": True}},
)

JOB_ID_PARAMETER = {
    "name": "jobid",
    "in": "query",
    "required": True,
    "description": "A job id that `POST /api/submit` returned.",
    "schema": {"type": "integer", "minimum": 1},
}

UNKNOWN_JOB = _json(
    "No such job (or another API key's), or the jobid is missing, given more than once or "
    "not a positive integer.",
    "Empty",
)

UNAUTHORIZED = _json(
    "The service has API keys (`serve --api-keys`) and the request has none, or one that "
    "is not current: send `Authorization: Bearer KEY`.",
    "Error",
    headers={"WWW-Authenticate": {"schema": {"type": "string"}, "required": True}},
)

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes the submit safe to send again: the same key and body from the same API key "
        "within 24 hours answer with the first job's id (and `Idempotent-Replayed: true`) "
        "and make no new job. 1 to 255 visible ASCII characters (no spaces); a UUID is "
        "usual."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}

BAD_QUERY = {
    "description": (
        "No such job or a malformed jobid (`{}`, as for every endpoint), or another "
        "parameter is not valid (`error` and `field` name it)."
    ),
    "content": {JSON: {"schema": {"anyOf": [_ref("Empty"), _ref("Error")]}}},
}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


RESULTS_PARAMETERS = [
    JOB_ID_PARAMETER,
    _query(
        "limit",
        "Images per page (1 to 10,000). Without it, every image (from `after` on).",
        {"type": "integer", "minimum": 1, "maximum": 10_000},
    ),
    _query(
        "after",
        "Where the page starts: 0 (the default) for the first, then the `next` of the "
        "page before (the index, in submission order, just past its last image).",
        {"type": "integer", "minimum": 0},
    ),
    _query(
        "failed",
        "`true`: only the images that failed (no size), still in submission order.",
        {"type": "boolean"},
    ),
    _query(
        "format",
        "`json` (default), `csv` (a header row; text cells that begin like a formula get "
        "a leading `'`) or `ndjson` (one image per line).",
        {"type": "string", "enum": ["json", "csv", "ndjson"]},
    ),
]

NEXT_HEADERS = {
    "X-Next-After": {
        "description": "With `limit`, when a page follows: the `after` of the next page.",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'With `limit`, when a page follows: its URL, `rel="next"`.',
        "schema": {"type": "string"},
    },
}


def _submit(operation_id: str) -> dict[str, Any]:
    return {
        "post": {
            "operationId": operation_id,
            "summary": "Submit a job of store visits and their image URLs",
            "description": (
                "`count` must equal the number of visits (a rule JSON Schema cannot say). "
                "Store ids are checked when the job runs: an unknown store fails the job, "
                "it does not reject the request."
            ),
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": {"required": True, "content": {JSON: {"schema": _ref("Submission")}}},
            "responses": {
                "201": _json(
                    "The job was created (or, with a replayed Idempotency-Key, it was "
                    "before); poll its status.",
                    "JobCreated",
                    headers={
                        "Idempotent-Replayed": {
                            "description": "`true` when this answer is a replay.",
                            "schema": {"type": "string", "enum": ["true"]},
                        }
                    },
                ),
                "400": _json("The body is not a valid submission; `field` says where.", "Error"),
                "413": _json(
                    "The body is over the size limit, or the job holds more images than "
                    "allowed (`field` is then `visits`), or the body holds more JSON values "
                    "than a job of that many images could (`field` is then `body`).",
                    "Error",
                ),
                "422": _json(
                    "The Idempotency-Key was used for another body in the last 24 hours "
                    "(`field` is `Idempotency-Key`).",
                    "Error",
                ),
                "503": BUSY,
            },
        }
    }


PATHS: dict[str, dict[str, Any]] = {
    "/api/submit/": _submit("submitJob"),
    "/api/submit": _submit("submitJobWithoutSlash"),
    "/api/status": {
        "get": {
            "operationId": "getStatus",
            "summary": "A job's status, with one error per failed store",
            "parameters": [JOB_ID_PARAMETER],
            "responses": {
                "200": _json("The job's status.", "JobStatus"),
                "400": UNKNOWN_JOB,
                "503": BUSY,
            },
        }
    },
    "/api/results": {
        "get": {
            "operationId": "getResults",
            "summary": "A job's status plus every image's store, size or error, in order",
            "description": (
                "Streamed as it is read from the job store, a page at a time, in any format. "
                "A running job's images are as of the store's last commit, a moment behind "
                "its status; an image with no outcome yet has `status` `pending`."
            ),
            "parameters": RESULTS_PARAMETERS,
            "responses": {
                "200": {
                    "description": "The job's status and images (in CSV and NDJSON: images only).",
                    "headers": NEXT_HEADERS,
                    "content": {
                        JSON: {"schema": _ref("JobResults")},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/x-ndjson": {"schema": {"type": "string"}},
                    },
                },
                "400": BAD_QUERY,
                "503": BUSY,
            },
        }
    },
    "/api/stores": {
        "get": {
            "operationId": "getStoreFigures",
            "summary": "A job's figures per store (or per area code), in order of first appearance",
            "description": (
                "Images, measured, failed, and the perimeter's min, mean and max over the "
                "measured images (null when none). `by=area` groups by area code instead "
                "(stores unknown to the store master under `area_code` null)."
            ),
            "parameters": [
                JOB_ID_PARAMETER,
                _query(
                    "by",
                    "`store` (default): `stores`; `area`: `areas`.",
                    {"type": "string", "enum": ["store", "area"]},
                ),
            ],
            "responses": {
                "200": {
                    "description": "The figures.",
                    "content": {JSON: {"schema": {"anyOf": [_ref("StorePage"), _ref("AreaPage")]}}},
                },
                "400": BAD_QUERY,
                "503": BUSY,
            },
        }
    },
    "/api/cancel": {
        "post": {
            "operationId": "cancelJob",
            "summary": "End a job as cancelled, at once, on every node",
            "description": (
                "No image of the job starts after the answer; the outcomes of images in "
                "flight then are not kept. `cancelled` is true when this request cancelled "
                "the job (it was running or queued), false when it had already ended or was "
                "cancelled before."
            ),
            "parameters": [JOB_ID_PARAMETER],
            "responses": {
                "200": _json("The job's status when the cancel was handled.", "CancelResult"),
                "400": UNKNOWN_JOB,
                "503": BUSY,
            },
        }
    },
    "/api/retry": {
        "post": {
            "operationId": "retryJob",
            "summary": "Run a failed job again for its failed images",
            "description": (
                "Images that failed to download or decode, and those of stores the store "
                "master did not know (it is asked again), are processed again; measured "
                "images keep their results and are not downloaded again. The job is "
                "`ongoing` at once, then ends as usual; `attempts` counts its runs."
            ),
            "parameters": [JOB_ID_PARAMETER],
            "responses": {
                "200": _json("The job's status, `ongoing` again.", "JobStatus"),
                "400": UNKNOWN_JOB,
                "409": _json("The job is not `failed` (`status` says what it is).", "Conflict"),
                "503": BUSY,
            },
        }
    },
    "/api/jobs": {
        "get": {
            "operationId": "listJobs",
            "summary": "Recent jobs with their status and progress, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "Jobs per page (default 50).",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                },
                {
                    "name": "after",
                    "in": "query",
                    "required": False,
                    "description": "Only jobs with a smaller id: the `next` of the previous page.",
                    "schema": {"type": "integer", "minimum": 1},
                },
            ],
            "responses": {
                "200": _json("A page of jobs.", "JobPage"),
                "400": _json("`limit` or `after` is not valid; `field` says which.", "Error"),
                "503": BUSY,
            },
        }
    },
    "/api/service": {
        "get": {
            "operationId": "getService",
            "summary": "The pipeline now (GPU slots, downloaders, jobs) and images per second",
            "description": (
                "What the dashboard's service panel shows. `throughput` holds the images per "
                "second of each complete `step_seconds` step over the last 10 minutes, oldest "
                "first; `end` is when the last step ended (Unix seconds)."
            ),
            "responses": {"200": _json("The service's figures.", "Service"), "503": BUSY},
        }
    },
    "/metrics": {
        "get": {
            "operationId": "getMetrics",
            "summary": "Prometheus metrics in the text exposition format",
            "responses": {
                "200": {
                    "description": "Counters, gauges and histograms of jobs, images and workers.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "503": BUSY,
            },
        }
    },
    "/healthz": {
        "get": {
            "operationId": "getHealth",
            "summary": "Liveness, with the worker pool's figures",
            "responses": {"200": _json("The service is up.", "Health"), "503": BUSY},
        },
        "head": {
            "operationId": "headHealth",
            "summary": "Liveness for load balancers: the answer of GET without its body",
            "responses": {"200": {"description": "The service is up."}, "503": BUSY},
        },
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "The OpenAPI document of this API.",
                    "content": {JSON: {"schema": {"type": "object"}}},
                }
            },
        }
    },
}
"""Every path of the API; add an endpoint by adding its entry here."""

_NULLABLE_INT = {"type": "integer", "nullable": True}
_COUNTS: dict[str, Any] = {
    "images": {"type": "integer", "minimum": 1},
    "measured": {"type": "integer", "minimum": 0},
    "failed": {"type": "integer", "minimum": 0},
    "perimeter": _ref("PerimeterFigures"),
}


def _figures_page(key: str, entry: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["job_id", key],
        "properties": {
            "job_id": {"type": "integer", "minimum": 1},
            key: {"type": "array", "items": _ref(entry)},
        },
    }


_RATES = {"type": "array", "items": {"type": "number", "minimum": 0}, "maxItems": 1000}


def _pair(first: str, second: str) -> dict[str, Any]:
    """An object of two counts, such as ``{"busy": 3, "free": 61}``."""
    count = {"type": "integer", "minimum": 0}
    return {
        "type": "object",
        "required": [first, second],
        "properties": {first: count, second: count},
    }


SCHEMAS: dict[str, dict[str, Any]] = {
    "Submission": {
        "type": "object",
        "required": ["count", "visits"],
        "properties": {
            "count": {"type": "integer", "minimum": 1, "description": "The number of visits."},
            "visits": {"type": "array", "minItems": 1, "items": _ref("Visit")},
            "callback_url": {
                "type": "string",
                "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$",
                "description": (
                    "Where the job's final status is POSTed when it ends, signed as "
                    "Standard Webhooks says (needs `serve --webhook-secret`). Checked like "
                    "image URLs, and by the same address guard."
                ),
                "example": "https://hooks.example.com/retail-pulse",
            },
        },
    },
    "Visit": {
        "type": "object",
        "required": ["store_id", "image_url", "visit_time"],
        "properties": {
            "store_id": {
                "type": "string",
                "minLength": 1,
                "description": "Not blank; checked against the store master when the job runs.",
                "example": "S00339218",
            },
            "image_url": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "string",
                    "pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?$",
                    "example": "https://images.example.com/shelf.jpg",
                    "description": "At most 8,192 characters (`--max-url-length`).",
                },
            },
            "visit_time": {
                "type": "string",
                "minLength": 1,
                "description": "Not blank; kept as sent.",
            },
        },
    },
    "JobCreated": {
        "type": "object",
        "required": ["job_id"],
        "properties": {"job_id": {"type": "integer", "minimum": 1}},
    },
    "JobStatus": {
        "type": "object",
        "required": ["status", "job_id"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["ongoing", "completed", "failed", "cancelled"],
            },
            "job_id": {"type": "integer", "minimum": 1},
            "error": {
                "type": "array",
                "description": "Present when `status` is `failed`: one entry per failed store.",
                "items": _ref("StoreError"),
            },
            "progress": _ref("Progress"),
            "queued": {
                "type": "boolean",
                "description": "Ongoing, and no node has started it yet: it waits for room.",
            },
            "submitted_at": {"type": "string", "format": "date-time"},
            "finished_at": {"type": "string", "format": "date-time", "nullable": True},
            "attempts": {
                "type": "integer",
                "minimum": 1,
                "description": "Times the job has run: 1, plus one per retry.",
            },
            "webhook": _ref("Webhook"),
        },
    },
    "Webhook": {
        "type": "object",
        "description": "Present when the job has a `callback_url`: its completion webhook.",
        "required": ["state", "attempts", "last_error"],
        "properties": {
            "state": {
                "type": "string",
                "enum": ["waiting", "pending", "delivered", "failed"],
                "description": (
                    "`waiting`: the job runs; `pending`: to be sent or sent again; "
                    "`failed`: given up (410, refused address, or 24 hours of retries)."
                ),
            },
            "attempts": {"type": "integer", "minimum": 0},
            "last_error": {
                "type": "string",
                "nullable": True,
                "description": "Why the last failed attempt failed (kept once delivered).",
            },
        },
    },
    "Conflict": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "string", "enum": ["ongoing", "completed", "cancelled"]},
        },
    },
    "JobResults": {
        "allOf": [
            _ref("JobStatus"),
            {
                "type": "object",
                "required": ["images", "next"],
                "properties": {
                    "images": {"type": "array", "items": _ref("ImageResult")},
                    "next": {
                        "type": "integer",
                        "minimum": 1,
                        "nullable": True,
                        "description": "Pass as `after` for the next page; null on the last.",
                    },
                },
            },
        ]
    },
    "CancelResult": {
        "allOf": [
            _ref("JobStatus"),
            {
                "type": "object",
                "required": ["cancelled"],
                "properties": {"cancelled": {"type": "boolean"}},
            },
        ]
    },
    "JobPage": {
        "type": "object",
        "required": ["jobs", "next"],
        "properties": {
            "jobs": {"type": "array", "items": _ref("JobStatus")},
            "next": {
                "type": "integer",
                "nullable": True,
                "description": "Pass as `after` for the next page; null on the last page.",
            },
        },
    },
    "StoreError": {
        "type": "object",
        "required": ["store_id", "error"],
        "properties": {"store_id": {"type": "string"}, "error": {"type": "string"}},
    },
    "Progress": {
        "type": "object",
        "required": ["total", "done", "failed"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "done": {"type": "integer", "minimum": 0},
            "failed": {"type": "integer", "minimum": 0},
        },
    },
    "ImageResult": {
        "type": "object",
        "required": list(CSV_COLUMNS),  # the same fields, in the same order
        "properties": {
            "store_id": {"type": "string"},
            "store_name": {
                "type": "string",
                "nullable": True,
                "description": "From the store master at submit time; null for unknown stores.",
            },
            "area_code": {"type": "string", "nullable": True},
            "image_url": {"type": "string"},
            "status": {
                "type": "string",
                "enum": ["measured", "failed", "pending"],
                "description": "`pending`: no outcome yet (in a cancelled job: never processed).",
            },
            "width": _NULLABLE_INT,
            "height": _NULLABLE_INT,
            "perimeter": _NULLABLE_INT,
            "error": {"type": "string", "nullable": True},
        },
    },
    "StorePage": _figures_page("stores", "StoreFigures"),
    "AreaPage": _figures_page("areas", "AreaFigures"),
    "StoreFigures": {
        "type": "object",
        "required": [
            "store_id",
            "store_name",
            "area_code",
            "images",
            "measured",
            "failed",
            "perimeter",
        ],
        "properties": {
            "store_id": {"type": "string"},
            "store_name": {"type": "string", "nullable": True},
            "area_code": {"type": "string", "nullable": True},
            **_COUNTS,
        },
    },
    "AreaFigures": {
        "type": "object",
        "required": ["area_code", "stores", "images", "measured", "failed", "perimeter"],
        "properties": {
            "area_code": {"type": "string", "nullable": True},
            "stores": {"type": "integer", "minimum": 1},
            **_COUNTS,
        },
    },
    "PerimeterFigures": {
        "type": "object",
        "nullable": True,
        "required": ["min", "mean", "max"],
        "properties": {
            "min": {"type": "integer"},
            "mean": {"type": "number"},
            "max": {"type": "integer"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "workers", "idle_workers", "gpu_slots", "free_gpu_slots", "stores"],
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "workers": {"type": "integer", "minimum": 1},
            "idle_workers": {"type": "integer", "minimum": 0},
            "gpu_slots": {"type": "integer", "minimum": 1, "description": "`--workers`"},
            "free_gpu_slots": {"type": "integer", "minimum": 0},
            "stores": {"type": "integer", "minimum": 0},
            "node": {
                "type": ["integer", "null"],
                "description": "This node's id (a new one at each start; null while the "
                "database is away)",
            },
            "nodes": {
                "type": "array",
                "description": "The live nodes of this node's job store: itself alone on "
                "SQLite or memory, every node sharing a PostgreSQL database (absent while "
                "the database is away)",
                "items": {
                    "type": "object",
                    "required": ["node_id", "name", "gpu_slots", "last_heartbeat"],
                    "properties": {
                        "node_id": {"type": "integer"},
                        "name": {"type": "string"},
                        "gpu_slots": {"type": "integer"},
                        "last_heartbeat": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    },
    "Service": {
        "type": "object",
        "required": ["gpu_slots", "downloaders", "jobs", "images_pending", "throughput"],
        "properties": {
            "gpu_slots": _pair("busy", "free"),
            "downloaders": _pair("busy", "idle"),
            "jobs": _pair("queued", "running"),
            "images_pending": {
                "type": "integer",
                "minimum": 0,
                "description": "Images of running jobs without an outcome yet.",
            },
            "throughput": {
                "type": "object",
                "required": ["step_seconds", "end", "images_per_second", "failed_per_second"],
                "properties": {
                    "step_seconds": {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                    "end": {"type": "number"},
                    "images_per_second": _RATES,
                    "failed_per_second": _RATES,
                },
            },
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "What is wrong, in plain words."},
            "field": {"type": "string", "description": "The JSON path of the field to fix."},
        },
    },
    "Empty": {"type": "object", "maxProperties": 0},
}
"""The request and response bodies the paths refer to."""


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Retail Pulse",
            "version": __version__,
            "description": (
                "Jobs of store-visit images: each image is downloaded and measured "
                "(perimeter 2 * (height + width)). Every response is JSON except "
                "`GET /metrics`, which is Prometheus text, results asked for as CSV or NDJSON "
                "(`GET /api/results?format=`), and the dashboard's own files (`GET /`, `/ui/*`)."
            ),
        },
        "paths": _with_auth(PATHS),
        "components": {"schemas": SCHEMAS, "securitySchemes": SECURITY_SCHEMES},
        # Keys are optional: a service without --api-keys is open.
        "security": [{"bearerAuth": []}, {}],
    }


SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": (
            "An API key from `retailpulse keys new`, when the service runs with "
            "`--api-keys`; each key sees only its own jobs (an admin key sees all)."
        ),
    }
}
OPEN_PATHS = frozenset({"/healthz", "/openapi.json"})
"""Paths that never ask for a key."""


def _with_auth(paths: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every operation that may ask for a key gets its 401; the open ones say so."""
    documented: dict[str, dict[str, Any]] = {}
    for path, item in paths.items():
        documented[path] = {}
        for method, operation in item.items():
            if path in OPEN_PATHS:
                documented[path][method] = {**operation, "security": []}
            else:
                responses = {**operation["responses"], "401": UNAUTHORIZED}
                documented[path][method] = {**operation, "responses": responses}
    return documented


class OpenApiResource:
    """Serves the document; it is built once, it never changes while running."""

    def __init__(self) -> None:
        self._document = openapi_document()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._document
