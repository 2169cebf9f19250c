"""The OpenAPI document stays true: schemathesis against the live server (real waitress).

The service here downloads through a FakeFetcher and never sleeps, so the URLs
that schemathesis generates are never resolved or fetched: nothing leaves the
process but loopback HTTP between the test and the server.
"""

import copy
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.http.openapi import PATHS, openapi_document
from retailpulse.keys import KeyEntry, Keyring, hash_key
from retailpulse.testing import FakeFetcher, InstantGpu
from retailpulse.webhooks import PostResult

KEY = "rp_conformance-test-key"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

EXAMPLES_PER_OPERATION = 30

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""Every answer must be documented and match its schema. ``positive_data_acceptance``
is left out: a body can fit the schema yet break a rule JSON Schema cannot state
(``count`` equal to the number of visits), and the 400 it gets is documented."""


def bounded_document() -> dict[str, Any]:
    """The served document with small arrays and no extra properties in submissions:
    the same shapes, generated in a fraction of the time (big payloads are the
    property tests' job, in tests/test_submission_properties.py)."""
    document = copy.deepcopy(openapi_document())
    schemas = document["components"]["schemas"]
    schemas["Submission"]["properties"]["visits"]["maxItems"] = 3
    schemas["Submission"]["additionalProperties"] = False
    schemas["Visit"]["properties"]["image_url"]["maxItems"] = 3
    schemas["Visit"]["additionalProperties"] = False
    return document


SCHEMA = schemathesis.openapi.from_dict(bounded_document())
OPERATIONS = [SCHEMA[path][method.upper()] for path, item in PATHS.items() for method in item]
CASES = [
    pytest.param(operation, mode, id=f"{operation.label} {mode}")
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    # Only what a client sends can be made invalid; these operations take nothing.
    if mode is GenerationMode.POSITIVE
    or operation.path not in {"/healthz", "/openapi.json", "/metrics", "/api/service"}
]


class NoWebhooks:
    """Webhooks to generated callback URLs are answered here, never sent."""

    def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult:
        return PostResult(204)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Live:
    url: str
    headers: dict[str, str]
    """What every request carries: the API key, when the service has keys."""


@pytest.fixture(params=["open", "with keys"])
def live(request: pytest.FixtureRequest) -> Iterator[Live]:
    """The service on real waitress; its downloads and webhooks are fakes, so no URL is
    ever fetched. Once open, once with an API key that every request then carries."""
    fetcher = FakeFetcher({"https://images.example.test/a.png": (30, 20)})
    keys = Keyring((KeyEntry("tester", False, hash_key(KEY)),))
    with_keys = request.param == "with keys"
    with (
        retailpulse.start(
            gpu_slots=4,
            fetcher_factory=lambda: fetcher,
            gpu=InstantGpu(),
            max_images_per_job=50,
            max_body_bytes=64 * 1024,
            api_keys=keys if with_keys else None,
            webhook_secret=SECRET,
            webhook_sender=NoWebhooks(),
        ) as system,
        HttpServer(create_app(system), "127.0.0.1", 0) as server,
    ):
        yield Live(server.url, {"Authorization": f"Bearer {KEY}"} if with_keys else {})


@pytest.fixture
def live_url(live: Live) -> str:
    return live.url


# schemathesis's own pytest integration (schema.parametrize) reads a node attribute
# that pytest 9.2 no longer has, so the operations are parametrized here and each
# one's cases are drawn from its hypothesis strategy, which is the same generator.
@pytest.mark.parametrize(("operation", "mode"), CASES)
def test_every_answer_of_the_live_api_is_one_its_openapi_document_describes(
    live: Live, operation: Any, mode: GenerationMode
) -> None:
    with requests.Session() as session:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Any) -> None:
            case.call_and_validate(
                base_url=live.url,
                session=session,
                headers=live.headers,
                checks=CHECKS,
                timeout=10,
            )

        conforms()


def test_the_live_document_is_the_one_tested(live_url: str) -> None:
    served = requests.get(f"{live_url}/openapi.json", timeout=5).json()

    assert served == json.loads(json.dumps(openapi_document()))


def test_the_document_is_served_and_lists_every_route(live_url: str) -> None:
    response = requests.get(f"{live_url}/openapi.json", timeout=5)

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/submit/",
        "/api/submit",
        "/api/status",
        "/api/results",
        "/api/stores",
        "/api/cancel",
        "/api/retry",
        "/api/jobs",
        "/api/service",
        "/metrics",
        "/healthz",
        "/openapi.json",
    }
    assert document["paths"] == json.loads(json.dumps(openapi_document()["paths"]))
    assert set(document["paths"]) == set(PATHS)


def test_a_documented_example_flow_matches_the_document(live: Live) -> None:
    """One real job through the documented operations, checked against the schemas."""
    loaded = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    payload: Any = {
        "count": 1,
        "visits": [
            {
                "store_id": "S00339218",
                "image_url": ["https://images.example.test/a.png"],
                "visit_time": "09:30",
            }
        ],
    }

    submit = loaded["/api/submit/"]["POST"].Case(body=payload)
    created = submit.call_and_validate(headers=live.headers, checks=CHECKS)
    job_id = created.json()["job_id"]
    results = loaded["/api/results"]["GET"].Case(query={"jobid": job_id})
    for _ in range(200):
        answer = results.call_and_validate(headers=live.headers, checks=CHECKS)
        if answer.json()["status"] != "ongoing":
            break
        time.sleep(0.01)

    assert created.status_code == 201
    assert answer.json()["status"] == "completed"
    assert answer.json()["images"][0]["perimeter"] == 100
