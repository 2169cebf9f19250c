"""The HTTP contract through falcon's TestClient over a real actor system with fake downloads."""

import copy
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest

import retailpulse
from retailpulse.http import create_app
from retailpulse.stores import StoreMaster, load_store_master
from retailpulse.system import System
from retailpulse.testing import FakeFetcher, GatedFetcher, InstantGpu

IMAGES = "https://img.example.test"
A_PNG = f"{IMAGES}/a.png"
B_PNG = f"{IMAGES}/b.png"
C_PNG = f"{IMAGES}/c.png"
MISSING = f"{IMAGES}/missing.png"
NOT_AN_IMAGE = f"{IMAGES}/page.html"
UNKNOWN_STORES_IMAGE = f"{IMAGES}/unknown-store.png"

ANSWERS: dict[str, Any] = {
    A_PNG: (40, 30),
    B_PNG: (100, 50),
    C_PNG: (7, 3),
    NOT_AN_IMAGE: b"<html><body>not an image</body></html>",
    UNKNOWN_STORES_IMAGE: (10, 10),
}

KNOWN_STORE = "S00339218"
OTHER_KNOWN_STORE = "S01408764"
THIRD_KNOWN_STORE = "S00339198"
FOURTH_KNOWN_STORE = "S00339204"
UNKNOWN_STORE = "S99999999"

VALID: dict[str, Any] = {
    "count": 2,
    "visits": [
        {"store_id": KNOWN_STORE, "image_url": [A_PNG, B_PNG], "visit_time": "2024-01-01T10:00"},
        {"store_id": OTHER_KNOWN_STORE, "image_url": [C_PNG], "visit_time": "2024-01-01T11:00"},
    ],
}

WAIT = 5.0


@dataclass
class Api:
    client: falcon.testing.TestClient
    system: System
    fetcher: FakeFetcher
    gate: threading.Event

    def submit(self, payload: Any, path: str = "/api/submit/") -> falcon.testing.Result:
        return self.client.simulate_post(path, json=payload)

    def submit_ok(self, payload: Any) -> int:
        result = self.submit(payload)
        assert result.status_code == 201, result.text
        job_id: int = result.json["job_id"]
        return job_id

    def status(self, job_id: object) -> falcon.testing.Result:
        return self.client.simulate_get("/api/status", params={"jobid": str(job_id)})

    def results(self, job_id: object) -> falcon.testing.Result:
        return self.client.simulate_get("/api/results", params={"jobid": str(job_id)})


@pytest.fixture(scope="module")
def store_master() -> StoreMaster:
    return load_store_master()


def start_api(store_master: StoreMaster, **settings: Any) -> tuple[Api, Callable[[], None]]:
    gate = threading.Event()
    gate.set()
    fetcher = gated = GatedFetcher(ANSWERS, gate, WAIT)
    system = retailpulse.start(
        gpu_slots=4,
        store_master=store_master,
        fetcher_factory=lambda: gated,
        gpu=InstantGpu(),
        allow_private_urls=True,
        **settings,
    )

    def stop() -> None:
        gate.set()
        system.stop()

    return Api(falcon.testing.TestClient(create_app(system)), system, fetcher, gate), stop


@pytest.fixture
def api(store_master: StoreMaster) -> Iterator[Api]:
    running, stop = start_api(store_master)
    try:
        yield running
    finally:
        stop()


@pytest.fixture
def small_api(store_master: StoreMaster) -> Iterator[Api]:
    running, stop = start_api(store_master, max_body_bytes=1000)
    try:
        yield running
    finally:
        stop()


@pytest.fixture
def capped_api(store_master: StoreMaster) -> Iterator[Api]:
    running, stop = start_api(store_master, max_images_per_job=3)
    try:
        yield running
    finally:
        stop()


def valid() -> dict[str, Any]:
    return copy.deepcopy(VALID)


def visit(store_id: str, *urls: str) -> dict[str, Any]:
    return {"store_id": store_id, "image_url": list(urls), "visit_time": "2024-01-01T10:00"}


def payload_of(*visits: dict[str, Any]) -> dict[str, Any]:
    return {"count": len(visits), "visits": list(visits)}


def assert_json(result: falcon.testing.Result) -> None:
    assert result.headers["content-type"] == "application/json"
    json.loads(result.text)


# --- submit: success ------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/submit/", "/api/submit"])
def test_a_valid_submission_answers_201_with_an_integer_job_id(api: Api, path: str) -> None:
    result = api.submit(valid(), path)

    assert result.status_code == 201
    assert result.json == {"job_id": 1}
    assert type(result.json["job_id"]) is int


def test_the_spec_example_payload_is_accepted(api: Api) -> None:
    spec_payload = {
        "count": 2,
        "visits": [
            visit(KNOWN_STORE, A_PNG, B_PNG) | {"visit_time": "time of store visit"},
            visit(OTHER_KNOWN_STORE, B_PNG) | {"visit_time": "time of store visit"},
        ],
    }

    job_id = api.submit_ok(spec_payload)

    assert api.system.wait(job_id, timeout=WAIT)["status"] == "completed"


def test_job_ids_are_distinct_increasing_integers(api: Api) -> None:
    job_ids = [api.submit_ok(valid()) for _ in range(5)]

    assert job_ids == sorted(job_ids)
    assert len(set(job_ids)) == 5
    assert all(type(job_id) is int for job_id in job_ids)


def test_a_rejected_submission_creates_no_job(api: Api) -> None:
    bad = valid()
    bad["count"] = 3

    assert api.submit(bad).status_code == 400
    job_id = api.submit_ok(valid())

    assert job_id == 1
    assert api.status(2).json == {}


def test_a_utf16_encoded_body_is_accepted(api: Api) -> None:
    body = json.dumps(VALID).encode("utf-16")

    result = api.client.simulate_post("/api/submit/", body=body)

    assert result.status_code == 201
    assert isinstance(result.json["job_id"], int)


# --- submit: 400 cases ----------------------------------------------------------------


def mutated(change: Callable[[dict[str, Any]], None]) -> bytes:
    document = valid()
    change(document)
    return json.dumps(document).encode()


def setitem(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def delitem(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target: Any = document
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


BAD_REQUESTS: list[Any] = [
    pytest.param(b"{not json", "body", id="body-not-json"),
    pytest.param(b"", "body", id="body-empty"),
    pytest.param(b"\xff\xfe\x00\xd8", "body", id="body-not-text"),
    pytest.param(b"[" * 100_000, "body", id="body-nested-too-deeply"),
    pytest.param(b"[1, 2]", "body", id="body-a-list"),
    pytest.param(b'"count"', "body", id="body-a-string"),
    pytest.param(b"null", "body", id="body-null"),
    pytest.param(b'{"count": ' + b"7" * 5000 + b"}", "body", id="body-integer-too-long"),
    pytest.param(
        mutated(setitem(("visits", 0, "store_id"), "S\ud800")),
        "visits[0].store_id",
        id="store-id-lone-surrogate",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url", 0), "http://img.example.test/\x00")),
        "visits[1].image_url[0]",
        id="image-url-control-character",
    ),
    pytest.param(mutated(delitem(("count",))), "count", id="count-missing"),
    pytest.param(mutated(setitem(("count",), "2")), "count", id="count-a-string"),
    pytest.param(mutated(setitem(("count",), 2.5)), "count", id="count-a-float"),
    pytest.param(mutated(setitem(("count",), None)), "count", id="count-null"),
    pytest.param(mutated(setitem(("count",), True)), "count", id="count-a-bool"),
    pytest.param(b'{"count": 0, "visits": []}', "count", id="count-zero"),
    pytest.param(b'{"count": -1, "visits": []}', "count", id="count-negative"),
    pytest.param(mutated(setitem(("count",), 3)), "count", id="count-differs-from-visits"),
    pytest.param(mutated(setitem(("count",), 1)), "count", id="count-below-visits"),
    pytest.param(mutated(delitem(("visits",))), "visits", id="visits-missing"),
    pytest.param(mutated(setitem(("visits",), {"0": {}})), "visits", id="visits-an-object"),
    pytest.param(mutated(setitem(("visits",), "S00339218")), "visits", id="visits-a-string"),
    pytest.param(mutated(setitem(("visits", 1), "S01408764")), "visits[1]", id="visit-a-string"),
    pytest.param(mutated(setitem(("visits", 0), [KNOWN_STORE])), "visits[0]", id="visit-a-list"),
    pytest.param(
        mutated(delitem(("visits", 1, "store_id"))), "visits[1].store_id", id="store-id-missing"
    ),
    pytest.param(
        mutated(setitem(("visits", 0, "store_id"), "")), "visits[0].store_id", id="store-id-empty"
    ),
    pytest.param(
        mutated(setitem(("visits", 0, "store_id"), "  ")),
        "visits[0].store_id",
        id="store-id-blank",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "store_id"), 339218)),
        "visits[1].store_id",
        id="store-id-a-number",
    ),
    pytest.param(
        mutated(delitem(("visits", 1, "visit_time"))),
        "visits[1].visit_time",
        id="visit-time-missing",
    ),
    pytest.param(
        mutated(delitem(("visits", 0, "image_url"))),
        "visits[0].image_url",
        id="image-url-missing",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url"), C_PNG)),
        "visits[1].image_url",
        id="image-url-a-string",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url"), [])),
        "visits[1].image_url",
        id="image-url-empty",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url"), [42])),
        "visits[1].image_url[0]",
        id="image-url-holding-a-number",
    ),
    pytest.param(
        mutated(setitem(("visits", 0, "image_url", 1), None)),
        "visits[0].image_url[1]",
        id="image-url-holding-null",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url", 0), "ftp://img.example.test/c.png")),
        "visits[1].image_url[0]",
        id="image-url-ftp",
    ),
    pytest.param(
        mutated(setitem(("visits", 0, "image_url", 0), "file:///etc/passwd")),
        "visits[0].image_url[0]",
        id="image-url-file",
    ),
    pytest.param(
        mutated(setitem(("visits", 0, "image_url", 0), "img.example.test/a.png")),
        "visits[0].image_url[0]",
        id="image-url-without-scheme",
    ),
    pytest.param(
        mutated(setitem(("visits", 0, "image_url", 1), "http:///b.png")),
        "visits[0].image_url[1]",
        id="image-url-without-host",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url", 0), "https://img.example.test/a b.png")),
        "visits[1].image_url[0]",
        id="image-url-with-a-space",
    ),
    pytest.param(
        mutated(setitem(("visits", 1, "image_url", 0), "https://img.example.test:70000/c.png")),
        "visits[1].image_url[0]",
        id="image-url-with-a-bad-port",
    ),
]


@pytest.mark.parametrize(("body", "field"), BAD_REQUESTS)
def test_a_malformed_submission_is_rejected_with_400_naming_the_field(
    api: Api, body: bytes, field: str
) -> None:
    result = api.client.simulate_post("/api/submit/", body=body)

    assert result.status_code == 400
    assert_json(result)
    assert result.json["field"] == field
    assert result.json["error"].startswith(f"{field} ")


def test_count_true_is_rejected_even_where_it_would_equal_one_visit(api: Api) -> None:
    # JSON true is 1 to Python: with one visit only the type check can refuse it.
    one_visit = {"count": True, "visits": [visit(KNOWN_STORE, A_PNG)]}

    result = api.submit(one_visit)

    assert result.status_code == 400
    assert result.json == {"error": "count must be an integer", "field": "count"}
    assert api.status(1).status_code == 400  # no job was made


def test_count_that_differs_from_visits_is_rejected_naming_count(api: Api) -> None:
    bad = valid()
    bad["count"] = 5

    result = api.submit(bad)

    assert result.status_code == 400
    assert "count" in result.json["error"]
    assert "5" in result.json["error"]


def test_a_non_http_url_is_rejected_naming_its_visit_and_index(api: Api) -> None:
    bad = payload_of(visit(KNOWN_STORE, A_PNG), visit(OTHER_KNOWN_STORE, B_PNG, "gopher://x/y"))

    result = api.submit(bad, "/api/submit")

    assert result.status_code == 400
    assert result.json["error"].startswith("visits[1].image_url[1] ")
    assert "gopher://x/y" in result.json["error"]


# --- submit: 413 ----------------------------------------------------------------------


def test_a_body_over_the_limit_is_rejected_with_413(small_api: Api) -> None:
    urls = [f"{IMAGES}/{n}.png" for n in range(40)]
    body = json.dumps(payload_of(visit(KNOWN_STORE, *urls))).encode()
    assert len(body) > 1000

    result = small_api.client.simulate_post("/api/submit/", body=body)

    assert result.status_code == 413
    assert_json(result)
    assert result.json == {"error": "body too large: body must be at most 1000 bytes"}
    assert small_api.status(1).status_code == 400  # no job was made
    assert small_api.status(1).json == {}
    assert small_api.fetcher.calls == []


def test_a_job_over_the_image_limit_is_a_413_naming_visits_and_creates_no_job(
    capped_api: Api,
) -> None:
    payload = payload_of(visit(KNOWN_STORE, A_PNG, B_PNG), visit(OTHER_KNOWN_STORE, C_PNG, A_PNG))

    result = capped_api.submit(payload)

    assert result.status_code == 413
    assert_json(result)
    assert result.json == {
        "error": "visits hold 4 images in all; a job may hold at most 3",
        "field": "visits",
    }
    assert capped_api.status(1).status_code == 400
    assert capped_api.fetcher.calls == []


def test_a_job_exactly_at_the_image_limit_is_accepted(capped_api: Api) -> None:
    payload = payload_of(visit(KNOWN_STORE, A_PNG, B_PNG), visit(OTHER_KNOWN_STORE, C_PNG))

    assert capped_api.submit_ok(payload) == 1


def test_the_image_limit_applies_to_the_embedding_api_too(capped_api: Api) -> None:
    with pytest.raises(retailpulse.LimitExceededError) as caught:
        capped_api.system.submit(payload_of(visit(KNOWN_STORE, A_PNG, B_PNG, C_PNG, A_PNG)))

    assert caught.value.field == "visits"
    assert isinstance(caught.value, retailpulse.ValidationError)


def test_a_body_exactly_at_the_limit_is_accepted(small_api: Api) -> None:
    body = json.dumps(VALID).encode()
    body += b" " * (1000 - len(body))

    result = small_api.client.simulate_post("/api/submit/", body=body)

    assert result.status_code == 201


# --- status ---------------------------------------------------------------------------


def test_status_is_ongoing_until_every_image_has_an_outcome_then_completed(api: Api) -> None:
    api.gate.clear()
    job_id = api.submit_ok(valid())

    ongoing = api.status(job_id)

    assert ongoing.status_code == 200
    assert ongoing.json["status"] == "ongoing"
    assert ongoing.json["job_id"] == job_id
    assert "error" not in ongoing.json

    api.gate.set()
    api.system.wait(job_id, timeout=WAIT)
    completed = api.status(job_id)

    assert completed.status_code == 200
    assert completed.json["status"] == "completed"
    assert completed.json["job_id"] == job_id
    assert type(completed.json["job_id"]) is int
    assert "error" not in completed.json


def test_a_job_with_failures_reports_one_error_per_failed_store_in_order(api: Api) -> None:
    job_id = api.submit_ok(
        payload_of(
            visit(KNOWN_STORE, A_PNG),
            visit(UNKNOWN_STORE, UNKNOWN_STORES_IMAGE),
            visit(OTHER_KNOWN_STORE, MISSING, B_PNG),
            visit(UNKNOWN_STORE, UNKNOWN_STORES_IMAGE),
            visit(FOURTH_KNOWN_STORE, C_PNG),
            visit(THIRD_KNOWN_STORE, NOT_AN_IMAGE),
            visit(OTHER_KNOWN_STORE, NOT_AN_IMAGE),
        )
    )
    api.system.wait(job_id, timeout=WAIT)

    result = api.status(job_id)

    assert result.status_code == 200
    assert result.json["status"] == "failed"
    assert result.json["job_id"] == job_id
    not_an_image = f"{NOT_AN_IMAGE}: not an image: 38 bytes that no supported format recognises"
    assert result.json["error"] == [
        {
            "store_id": UNKNOWN_STORE,
            "error": f"all 2 images failed: store_id {UNKNOWN_STORE} is not in the store "
            "master; its images were not downloaded",
        },
        {
            "store_id": OTHER_KNOWN_STORE,
            "error": f"2 of 3 images failed: {MISSING}: the server answered HTTP 404 Not Found; "
            f"{not_an_image}",
        },
        {"store_id": THIRD_KNOWN_STORE, "error": not_an_image},
    ]


def test_valid_stores_are_never_listed_as_failed(api: Api) -> None:
    job_id = api.submit_ok(
        payload_of(
            visit(KNOWN_STORE, A_PNG, B_PNG),
            visit(UNKNOWN_STORE, A_PNG),
            visit(KNOWN_STORE, C_PNG),
        )
    )
    api.system.wait(job_id, timeout=WAIT)

    errors = api.status(job_id).json["error"]

    assert Counter(entry["store_id"] for entry in errors) == {UNKNOWN_STORE: 1}


def test_an_unknown_store_fails_the_job_and_its_images_are_not_downloaded(api: Api) -> None:
    job_id = api.submit_ok(payload_of(visit(UNKNOWN_STORE, UNKNOWN_STORES_IMAGE)))
    api.system.wait(job_id, timeout=WAIT)

    result = api.status(job_id)

    assert result.json["status"] == "failed"
    assert result.json["error"] == [
        {
            "store_id": UNKNOWN_STORE,
            "error": f"store_id {UNKNOWN_STORE} is not in the store master; "
            "its images were not downloaded",
        }
    ]
    assert UNKNOWN_STORES_IMAGE not in api.fetcher.calls


def test_a_failed_download_reason_names_the_cause(api: Api) -> None:
    job_id = api.submit_ok(payload_of(visit(KNOWN_STORE, MISSING)))
    api.system.wait(job_id, timeout=WAIT)

    (entry,) = api.status(job_id).json["error"]

    assert entry["store_id"] == KNOWN_STORE
    assert "404" in entry["error"]


@pytest.mark.parametrize("jobid", ["999", "0"])
def test_status_of_an_unknown_job_is_400_with_an_empty_object(api: Api, jobid: str) -> None:
    api.submit_ok(valid())

    result = api.status(jobid)

    assert result.status_code == 400
    assert result.text == "{}"
    assert_json(result)


@pytest.mark.parametrize("jobid", ["abc", "1.0", "-1", "", " 1", "1e3", "0x1", "\uff11", "9" * 40])
def test_status_with_a_malformed_jobid_is_400_with_an_empty_object(api: Api, jobid: str) -> None:
    api.submit_ok(valid())

    result = api.client.simulate_get("/api/status", query_string=f"jobid={jobid}")

    assert result.status_code == 400
    assert result.json == {}
    assert_json(result)


def test_status_without_a_jobid_is_400_with_an_empty_object(api: Api) -> None:
    result = api.client.simulate_get("/api/status")

    assert result.status_code == 400
    assert result.json == {}


# --- results --------------------------------------------------------------------------


def test_results_list_images_in_submission_order_with_perimeters(api: Api) -> None:
    job_id = api.submit_ok(
        payload_of(
            visit(KNOWN_STORE, B_PNG, A_PNG),
            visit(OTHER_KNOWN_STORE, C_PNG, A_PNG),
        )
    )
    api.system.wait(job_id, timeout=WAIT)

    result = api.results(job_id)

    assert result.status_code == 200
    assert result.json["job_id"] == job_id
    assert result.json["status"] == "completed"
    assert [
        (i["store_id"], i["image_url"], i["width"], i["height"], i["perimeter"], i["error"])
        for i in result.json["images"]
    ] == [
        (KNOWN_STORE, B_PNG, 100, 50, 300, None),
        (KNOWN_STORE, A_PNG, 40, 30, 140, None),
        (OTHER_KNOWN_STORE, C_PNG, 7, 3, 20, None),
        (OTHER_KNOWN_STORE, A_PNG, 40, 30, 140, None),
    ]


def test_results_give_failed_images_a_null_perimeter_and_an_error(api: Api) -> None:
    job_id = api.submit_ok(
        payload_of(
            visit(KNOWN_STORE, A_PNG, MISSING),
            visit(UNKNOWN_STORE, C_PNG),
            visit(OTHER_KNOWN_STORE, NOT_AN_IMAGE),
        )
    )
    api.system.wait(job_id, timeout=WAIT)

    images = api.results(job_id).json["images"]

    assert [i["image_url"] for i in images] == [A_PNG, MISSING, C_PNG, NOT_AN_IMAGE]
    assert images[0]["perimeter"] == 140
    assert images[0]["error"] is None
    for failed in images[1:]:
        assert failed["perimeter"] is None
        assert failed["width"] is None
        assert failed["height"] is None
        assert isinstance(failed["error"], str)
        assert failed["error"]
    assert "404" in images[1]["error"]
    assert "not in the store master" in images[2]["error"]
    assert "not an image" in images[3]["error"]


def test_results_of_an_ongoing_job_have_null_perimeters_for_unfinished_images(api: Api) -> None:
    api.gate.clear()
    job_id = api.submit_ok(valid())

    result = api.results(job_id)

    assert result.status_code == 200
    assert result.json["status"] == "ongoing"
    assert [i["image_url"] for i in result.json["images"]] == [A_PNG, B_PNG, C_PNG]
    assert all(i["perimeter"] is None and i["error"] is None for i in result.json["images"])


@pytest.mark.parametrize("query", ["jobid=999", "jobid=abc", "jobid=-1", ""])
def test_results_of_an_unknown_or_malformed_job_is_400_with_an_empty_object(
    api: Api, query: str
) -> None:
    result = api.client.simulate_get("/api/results", query_string=query)

    assert result.status_code == 400
    assert result.json == {}


# --- health, unknown paths, wrong methods -----------------------------------------------


def test_healthz_answers_200_with_status_ok(api: Api) -> None:
    result = api.client.simulate_get("/healthz")

    assert result.status_code == 200
    assert result.json["status"] == "ok"
    assert result.json["workers"] == 4  # download threads: min(workers, 8)
    assert result.json["gpu_slots"] == 4
    assert result.json["stores"] == 4944


def test_healthz_names_a_single_node_and_lists_it_alone(api: Api) -> None:
    """A memory store is one node's own: the same protocol as a cluster, of one."""
    result = api.client.simulate_get("/healthz")

    [me] = result.json["nodes"]
    assert me["node_id"] == result.json["node"]
    assert me["gpu_slots"] == 4
    assert str(os.getpid()) in me["name"]


@pytest.mark.parametrize("path", ["/ui", "/api", "/api/job", "/api/status/extra", "/submit"])
def test_an_unknown_path_is_404_with_a_json_error(api: Api, path: str) -> None:
    result = api.client.simulate_get(path)

    assert result.status_code == 404
    assert_json(result)
    assert isinstance(result.json["error"], str)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/submit"),
        ("GET", "/api/submit/"),
        ("PUT", "/api/submit/"),
        ("POST", "/api/status"),
        ("DELETE", "/api/status"),
        ("POST", "/api/results"),
        ("POST", "/healthz"),
        ("GET", "/api/cancel"),
        ("POST", "/api/jobs"),
    ],
)
def test_a_wrong_method_is_405_with_a_json_error(api: Api, method: str, path: str) -> None:
    result = api.client.simulate_request(method, path)

    assert result.status_code == 405
    assert_json(result)
    assert isinstance(result.json["error"], str)
    assert "allow" in {name.lower() for name in result.headers}


def test_every_kind_of_response_is_json(api: Api, small_api: Api) -> None:
    job_id = api.submit_ok(valid())
    api.system.wait(job_id, timeout=WAIT)
    responses = [
        api.submit(valid()),
        api.client.simulate_post("/api/submit/", body=b"nope"),
        api.status(job_id),
        api.status(12345),
        api.results(job_id),
        api.results("x"),
        api.client.simulate_get("/healthz"),
        api.client.simulate_get("/nowhere"),
        api.client.simulate_get("/api/submit/"),
        small_api.client.simulate_post("/api/submit/", body=b" " * 2000),
    ]

    assert [r.status_code for r in responses] == [201, 400, 200, 400, 200, 400, 200, 404, 405, 413]
    for response in responses:
        assert_json(response)
