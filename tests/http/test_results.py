"""Results at scale over HTTP: store names, pages, CSV and NDJSON, per-store figures."""

import csv
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import falcon.testing
import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.http.formats import CSV_COLUMNS
from retailpulse.stores import Store, StoreMaster
from retailpulse.system import System
from retailpulse.testing import GatedFetcher, InstantGpu

IMAGES = "https://img.example.test"
SIZES = {f"{IMAGES}/{n}.png": (10 + n, 5 + 2 * n) for n in range(7)}
MISSING = f"{IMAGES}/missing.png"
WAIT = 10.0

MASTER = StoreMaster(
    [
        Store("S1", "Corner Shop, Main St", "A7"),
        Store("S2", '=HYPERLINK("http://evil.example")', "A7"),
        Store("S3", "Kiosk", "B2"),
    ]
)


@dataclass
class Api:
    client: falcon.testing.TestClient
    system: System
    gate: threading.Event

    def get(self, path: str, query: str) -> falcon.testing.Result:
        return self.client.simulate_get(path, query_string=query)

    def run(self, payload: dict[str, Any]) -> int:
        job_id = self.system.submit(payload)
        self.system.wait(job_id, timeout=WAIT)
        return job_id


@pytest.fixture
def api() -> Iterator[Api]:
    gate = threading.Event()
    gate.set()
    fetcher = GatedFetcher(SIZES, gate, WAIT)
    system = retailpulse.start(
        gpu_slots=8,
        store_master=MASTER,
        fetcher_factory=lambda: fetcher,
        gpu=InstantGpu(),
        allow_private_urls=True,
    )
    try:
        yield Api(falcon.testing.TestClient(create_app(system)), system, gate)
    finally:
        gate.set()
        system.stop()


def payload(*visits: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "count": len(visits),
        "visits": [
            {"store_id": store, "image_url": urls, "visit_time": "2024-01-01T10:00"}
            for store, urls in visits
        ],
    }


def url(n: int) -> str:
    return f"{IMAGES}/{n % 7}.png" if n % 9 else MISSING


def mixed_payload(images: int) -> dict[str, Any]:
    """Visits of 10 images over S1, S2, S3 and an unknown store, some images missing."""
    stores = ["S1", "S2", "S9", "S3"]
    return payload(
        *(
            (stores[(start // 10) % 4], [url(n) for n in range(start, min(start + 10, images))])
            for start in range(0, images, 10)
        )
    )


def images_of(api: Api, job_id: int) -> list[dict[str, Any]]:
    result = api.get("/api/results", f"jobid={job_id}")
    assert result.status_code == 200
    images: list[dict[str, Any]] = result.json["images"]
    return images


def test_every_image_names_its_store_and_area_or_null_for_an_unknown_store(api: Api) -> None:
    job_id = api.run(payload(("S1", [url(1)]), ("S9", [url(2)]), ("S2", [MISSING])))

    images = images_of(api, job_id)

    assert [(i["store_id"], i["store_name"], i["area_code"], i["status"]) for i in images] == [
        ("S1", "Corner Shop, Main St", "A7", "measured"),
        ("S9", None, None, "failed"),
        ("S2", MASTER["S2"].store_name, "A7", "failed"),
    ]
    assert images[0]["perimeter"] == 2 * (11 + 7)


def test_pages_of_a_large_job_lead_to_the_last_and_together_are_the_whole_list(
    api: Api,
) -> None:
    job_id = api.run(mixed_payload(2_500))
    whole = images_of(api, job_id)

    pages: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        result = api.get("/api/results", f"jobid={job_id}&limit=1000&after={after}")
        assert result.status_code == 200
        pages.append(result.json)
        after = result.json["next"]

    assert [page["next"] for page in pages] == [1000, 2000, None]
    assert [len(page["images"]) for page in pages] == [1000, 1000, 500]
    assert [image for page in pages for image in page["images"]] == whole
    assert all(page["status"] == "failed" and page["job_id"] == job_id for page in pages)


def test_failed_pages_hold_only_the_failed_images_in_order(api: Api) -> None:
    job_id = api.run(mixed_payload(200))
    expected = [i for i in images_of(api, job_id) if i["error"] is not None]

    first = api.get("/api/results", f"jobid={job_id}&limit=10&failed=true").json
    rest = api.get("/api/results", f"jobid={job_id}&after={first['next']}&failed=true").json

    assert first["images"] == expected[:10]
    assert rest["images"] == expected[10:]
    assert rest["next"] is None


def test_csv_has_a_header_and_one_row_per_image_matching_the_json(api: Api) -> None:
    job_id = api.run(mixed_payload(40))
    whole = images_of(api, job_id)

    result = api.get("/api/results", f"jobid={job_id}&format=csv")

    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == len(whole)
    for row, image in zip(rows, whole, strict=True):
        for column in ("store_id", "area_code", "image_url", "status", "error"):
            assert row[column] == (image[column] or "")
        for column in ("width", "height", "perimeter"):
            assert row[column] == ("" if image[column] is None else str(image[column]))
    names = {row["store_id"]: row["store_name"] for row in rows}
    assert names["S1"] == "Corner Shop, Main St"  # quoted, not split, by the CSV writer
    assert names["S2"] == "'" + MASTER["S2"].store_name  # shown by a spreadsheet, not run
    assert names["S9"] == ""


def test_an_image_still_in_flight_is_a_pending_row_not_a_bare_one(api: Api) -> None:
    api.gate.clear()
    job_id = api.system.submit(payload(("S1", [url(1), url(2)])))

    result = api.get("/api/results", f"jobid={job_id}&format=csv")

    rows = list(csv.DictReader(io.StringIO(result.text)))
    assert [(r["store_id"], r["store_name"], r["status"], r["width"]) for r in rows] == [
        ("S1", "Corner Shop, Main St", "pending", ""),
        ("S1", "Corner Shop, Main St", "pending", ""),
    ]


def test_ndjson_is_one_image_object_per_line(api: Api) -> None:
    job_id = api.run(mixed_payload(35))

    result = api.get("/api/results", f"jobid={job_id}&format=ndjson")

    assert result.status_code == 200
    assert result.headers["content-type"] == "application/x-ndjson"
    lines = result.text.splitlines()
    assert result.text.endswith("\n")
    assert [json.loads(line) for line in lines] == images_of(api, job_id)


def test_a_page_of_csv_says_where_the_next_starts_in_its_headers(api: Api) -> None:
    job_id = api.run(mixed_payload(25))

    first = api.get("/api/results", f"jobid={job_id}&limit=10&format=csv")
    last = api.get("/api/results", f"jobid={job_id}&limit=10&after=20&format=csv")

    assert first.headers["x-next-after"] == "10"
    assert first.headers["link"] == (
        f'</api/results?jobid={job_id}&limit=10&after=10&format=csv>; rel="next"'
    )
    assert len(first.text.splitlines()) == 11
    assert "x-next-after" not in last.headers
    assert len(last.text.splitlines()) == 6


def expected_figures(images: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The figures worked out from the results' images one by one."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for image in images:
        groups.setdefault(image[key], []).append(image)
    figures = []
    for group in groups.values():
        perimeters = [i["perimeter"] for i in group if i["status"] == "measured"]
        entry: dict[str, Any] = {
            key: group[0][key],
            "images": len(group),
            "measured": len(perimeters),
            "failed": sum(1 for i in group if i["status"] == "failed"),
            "perimeter": {
                "min": min(perimeters),
                "mean": sum(perimeters) / len(perimeters),
                "max": max(perimeters),
            }
            if perimeters
            else None,
        }
        if key == "store_id":
            entry.update(store_name=group[0]["store_name"], area_code=group[0]["area_code"])
        else:
            entry["stores"] = len({i["store_id"] for i in group})
        figures.append(entry)
    return figures


def test_store_figures_match_the_images_in_order_of_first_appearance(api: Api) -> None:
    job_id = api.run(mixed_payload(300))
    images = images_of(api, job_id)

    result = api.get("/api/stores", f"jobid={job_id}")

    assert result.status_code == 200
    assert result.json["job_id"] == job_id
    assert [s["store_id"] for s in result.json["stores"]] == ["S1", "S2", "S9", "S3"]
    assert result.json["stores"] == expected_figures(images, "store_id")
    assert result.json["stores"][2]["perimeter"] is None  # S9: unknown, nothing measured


def test_area_figures_match_the_images_with_unknown_stores_under_null(api: Api) -> None:
    job_id = api.run(mixed_payload(300))
    images = images_of(api, job_id)

    result = api.get("/api/stores", f"jobid={job_id}&by=area")

    assert result.status_code == 200
    assert [a["area_code"] for a in result.json["areas"]] == ["A7", None, "B2"]
    assert result.json["areas"] == expected_figures(images, "area_code")


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/results", "limit=0", "limit"),
        ("/api/results", "limit=10001", "limit"),
        ("/api/results", "limit=ten", "limit"),
        ("/api/results", "limit=1&limit=2", "limit"),
        ("/api/results", "after=-1", "after"),
        ("/api/results", "after=1.5", "after"),
        ("/api/results", "format=xml", "format"),
        ("/api/results", "failed=yes", "failed"),
        ("/api/stores", "by=city", "by"),
        ("/api/stores", "by=", "by"),
    ],
)
def test_a_bad_parameter_is_400_naming_it(api: Api, path: str, query: str, field: str) -> None:
    job_id = api.run(payload(("S1", [url(1)])))

    result = api.get(path, f"jobid={job_id}&{query}")

    assert result.status_code == 400
    assert result.json["field"] == field
    assert field in result.json["error"]


@pytest.mark.parametrize(
    "query", ["jobid=999", "jobid=999&format=csv", "jobid=x&format=ndjson", "jobid=999&limit=5"]
)
@pytest.mark.parametrize("path", ["/api/results", "/api/stores"])
def test_an_unknown_job_is_400_with_an_empty_object_in_every_format(
    api: Api, path: str, query: str
) -> None:
    result = api.get(path, query)

    assert result.status_code == 400
    assert result.json == {}


def test_results_are_streamed_by_real_waitress_in_chunks(api: Api) -> None:
    job_id = api.run(mixed_payload(3_000))

    with HttpServer(create_app(api.system), "127.0.0.1", 0) as server:
        for fmt in ("json", "csv", "ndjson"):
            with requests.get(
                f"{server.url}/api/results",
                params={"jobid": job_id, "format": fmt},
                stream=True,
                timeout=WAIT,
            ) as response:
                body = b"".join(response.iter_content(64 * 1024))
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in response.headers
            if fmt == "json":
                assert len(json.loads(body)["images"]) == 3_000
            else:
                assert len(body.splitlines()) == 3_000 + (fmt == "csv")
