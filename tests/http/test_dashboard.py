"""The dashboard's files and its JSON figures over real waitress (no browser: see tests/browser)."""

import re
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.http.dashboard import CONTENT_SECURITY_POLICY
from retailpulse.testing import ImageServer, ManualClock

STATIC = resources.files("retailpulse.http.dashboard").joinpath("static")


class _Tags(HTMLParser):
    """Collects every tag of a page with its attributes, and whether it had inline code."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_code = False
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_code = True


def page_tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_the_root_serves_the_dashboard_page_with_a_strict_policy(service_url: str) -> None:
    response = requests.get(f"{service_url}/", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<title>Retail Pulse</title>" in response.text


def test_the_page_has_no_inline_script_or_style_and_loads_only_its_own_files(
    service_url: str,
) -> None:
    tags = page_tags(requests.get(f"{service_url}/", timeout=5).text)

    assert not tags.inline_code
    assert not any(
        "style" in attrs or any(a.startswith("on") for a in attrs) for _, attrs in tags.tags
    )
    loaded = [a.get("src") or a.get("href") for t, a in tags.tags if t in ("script", "link")]
    assert loaded
    assert all(str(path).startswith("/ui/") for path in loaded)
    for path in loaded:
        asset = requests.get(f"{service_url}{path}", timeout=5)
        assert asset.status_code == 200, path
        assert asset.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("jobs.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_each_file_has_its_content_type(service_url: str, name: str, content_type: str) -> None:
    response = requests.get(f"{service_url}/ui/{name}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.content == STATIC.joinpath(name).read_bytes()


def test_every_module_an_import_names_is_served(service_url: str) -> None:
    for entry in STATIC.iterdir():
        if entry.name.endswith(".js"):
            for name in re.findall(r"from '\./([\w.]+)'", entry.read_text()):
                assert requests.get(f"{service_url}/ui/{name}", timeout=5).status_code == 200


def test_a_file_is_revalidated_by_its_etag(service_url: str) -> None:
    first = requests.get(f"{service_url}/ui/app.js", timeout=5)
    again = requests.get(
        f"{service_url}/ui/app.js", headers={"If-None-Match": first.headers["ETag"]}, timeout=5
    )

    assert first.headers["Cache-Control"] == "no-cache"
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize("path", ["/ui/nothing.js", "/ui/../setup.cfg", "/ui/%2e%2e%2fsetup.cfg"])
def test_names_outside_the_dashboard_files_are_404_json(service_url: str, path: str) -> None:
    response = requests.get(f"{service_url}{path}", timeout=5)

    assert response.status_code == 404
    assert "error" in response.json()


def test_the_scripts_never_write_markup() -> None:
    """Client data reaches the page as text only: no API in the scripts parses HTML."""
    for entry in STATIC.iterdir():
        if entry.name.endswith(".js"):
            code = entry.read_text()
            for api in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert api not in code, f"{entry.name} uses {api}"


def test_service_figures_count_the_images_of_a_finished_job(
    image_server: ImageServer, poll_until_done: Any
) -> None:
    clock = ManualClock()
    with retailpulse.start(gpu_slots=4, allow_private_urls=True, clock=clock) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            urls = [image_server.url("/img/shelf.png"), image_server.url("/missing.jpg")]
            visit = {"store_id": "S00339218", "image_url": urls, "visit_time": "t"}
            submitted = requests.post(
                f"{server.url}/api/submit/", json={"count": 1, "visits": [visit]}, timeout=5
            )
            poll_until_done(server.url, submitted.json()["job_id"])
            clock.advance(5.0)  # the images' step is now complete

            response = requests.get(f"{server.url}/api/service", timeout=5)
        finally:
            assert server.stop(timeout=5)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    figures = response.json()
    assert figures["jobs"] == {"queued": 0, "running": 0}
    assert figures["images_pending"] == 0
    assert figures["gpu_slots"]["busy"] + figures["gpu_slots"]["free"] == 4
    rates = figures["throughput"]
    assert len(rates["images_per_second"]) == 120
    assert rates["images_per_second"][-1] * rates["step_seconds"] == 2
    assert rates["failed_per_second"][-1] * rates["step_seconds"] == 1
