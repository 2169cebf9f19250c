"""Generated submit bodies through the falcon app: 201, or a 4xx that says what is wrong.

Never a 5xx, whatever the bytes: JSON values of every shape, near-valid payloads,
raw bytes in any encoding, deep nesting.
"""

import json
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

import retailpulse
from retailpulse.http import create_app
from retailpulse.stores import StoreMaster, load_store_master
from retailpulse.testing import FakeFetcher, InstantGpu
from retailpulse.testing.strategies import ANY_TEXT, JSON_VALUES, valid_payloads

A_PNG = "https://img.example.test/a.png"

NEAR_VALID_VISITS = st.fixed_dictionaries(
    {
        "store_id": st.sampled_from(["S00339218", "S99999999"])
        | st.sampled_from([" ", ""])
        | ANY_TEXT,
        "image_url": st.lists(st.just(A_PNG), min_size=1, max_size=3)
        | st.lists(st.sampled_from([A_PNG, "ftp://x/y", "http://", "http://a b/"]), max_size=3)
        | JSON_VALUES,
        "visit_time": st.just("2024-01-01T10:00") | JSON_VALUES,
    }
)
"""Each field is valid about half the time, so whole payloads are valid now and then."""


VALID_VISITS = st.fixed_dictionaries(
    {
        "store_id": st.sampled_from(["S00339218", "S01408764", "S99999999"]),
        "image_url": st.lists(
            st.sampled_from([A_PNG, "http://img.example.test:8080/b"]), min_size=1
        ),
        "visit_time": st.text("0123456789:-T", min_size=1),
    }
)


@st.composite
def near_valid_payloads(draw: st.DrawFn) -> dict[str, Any]:
    visits = draw(st.lists(NEAR_VALID_VISITS, min_size=1, max_size=3))
    count = draw(st.just(len(visits)) | st.sampled_from([len(visits) + 1, 0]) | JSON_VALUES)
    return {"count": count, "visits": visits}


@pytest.fixture(scope="module")
def store_master() -> StoreMaster:
    return load_store_master()


@pytest.fixture
def client(store_master: StoreMaster) -> Iterator[falcon.testing.TestClient]:
    """One service for all the examples of a test: jobs pile up, which is fine."""
    fetcher = FakeFetcher({A_PNG: (4, 3)})
    with retailpulse.start(
        gpu_slots=2,
        store_master=store_master,
        fetcher_factory=lambda: fetcher,
        gpu=InstantGpu(),
        max_body_bytes=1024 * 1024,
    ) as system:
        yield falcon.testing.TestClient(create_app(system))


def assert_created_or_explained(result: falcon.testing.Result) -> None:
    assert result.headers["content-type"] == "application/json"
    if result.status_code == 201:
        assert isinstance(result.json["job_id"], int)
        return
    assert result.status_code in {400, 413}, (result.status_code, result.text)
    assert isinstance(result.json["error"], str)
    assert result.json["error"]
    if result.status_code == 400 or "field" in result.json:  # a 413 for the body has none
        assert result.json["error"].startswith(result.json["field"] + " ")


@settings(max_examples=100)
@given(document=valid_payloads(VALID_VISITS) | near_valid_payloads() | JSON_VALUES)
def test_any_json_document_is_created_or_refused_with_a_field(
    client: falcon.testing.TestClient, document: Any
) -> None:
    body = json.dumps(document).encode()  # ASCII: lone surrogates travel as \u escapes
    result = client.simulate_post("/api/submit", body=body)
    event(f"HTTP {result.status_code}")  # --hypothesis-show-statistics tallies them

    assert_created_or_explained(result)


@settings(max_examples=100)
@given(body=st.binary(max_size=300))
@example(body=b"\xef\xbb\xbf" + json.dumps({"count": 0, "visits": []}).encode())
@example(body=b"\xff\xfe\x00\xd8\x00\x00")
@example(body=b"\x00" * 10)
@example(body=b'{"count": NaN, "visits": []}')
@example(body=b'{"count": Infinity, "visits": []}')
@example(body=b'{"count": 1' + b"0" * 5000 + b', "visits": []}')
def test_any_bytes_are_created_or_refused_with_a_field(
    client: falcon.testing.TestClient, body: bytes
) -> None:
    result = client.simulate_post("/api/submit/", body=body)
    event(f"HTTP {result.status_code}")

    assert_created_or_explained(result)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000, id="100k-open-brackets"),
        pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="50k-nested-objects"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100k-nested-lists"),
        pytest.param("{}".encode("utf-32"), id="utf-32-with-bom"),
        pytest.param(json.dumps({"count": 1}).encode("utf-16-le"), id="utf-16-without-bom"),
        pytest.param("\ufeff{}".encode("utf-8"), id="utf-8-bom"),
        pytest.param(b'{"count": 1, "visits": "\xc3\x28"}', id="invalid-utf-8-inside-a-string"),
        pytest.param(b'"\\ud800"', id="a-lone-surrogate-string"),
    ],
)
def test_odd_bodies_are_a_400_naming_the_field_never_a_500(
    client: falcon.testing.TestClient, body: bytes
) -> None:
    result = client.simulate_post("/api/submit/", body=body)

    assert result.status_code == 400
    assert_created_or_explained(result)
