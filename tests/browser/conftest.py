"""A real browser on the dashboard: Playwright driving Debian's Chromium, one per module.

Playwright's own browser download cannot work on these machines, so the tests use the
system's ``/usr/bin/chromium`` (``apt-get install chromium``). Without it they are
skipped, except in CI (``CI=true``), where a missing browser fails them.
"""

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.testing import ImageServer

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000
"""Longest a test waits for the page to show something (polling is once a second)."""


def _missing_browser() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module's tests."""
    missing = _missing_browser()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI, but {missing}")
        pytest.skip(f"dashboard browser tests need Chromium: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@contextmanager
def served(**settings: Any) -> Iterator[str]:
    """A live service on real waitress that may download from 127.0.0.1; yields its URL."""
    with retailpulse.start(allow_private_urls=True, **settings) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield server.url
        finally:
            assert server.stop(timeout=5)


@pytest.fixture
def dashboard_url(image_server: ImageServer) -> Iterator[str]:
    """A service per test (the suite stops every actor after each test); short GPU times,
    so jobs end in a second or two."""
    with served(gpu_slots=2, min_sleep=0.05, max_sleep=0.05) as url:
        yield url


@dataclass
class Tab:
    """A page of the browser and what it reported: console errors and uncaught exceptions."""

    page: Any
    url: str
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def open(self, fragment: str = "#/") -> Any:
        self.page.goto(f"{self.url}/{fragment}")
        return self.page

    def assert_no_errors(self, *, allow: Callable[[str], bool] = lambda text: False) -> None:
        unexpected = [text for text in self.errors if not allow(text)]
        assert unexpected == [], unexpected


@pytest.fixture
def tab(browser: Any, dashboard_url: str) -> Iterator[Tab]:
    """A fresh browser context (no shared storage) at 1280x800, recording errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    opened = Tab(page, dashboard_url)
    page.on(
        "console",
        lambda m: (
            opened.errors.append(f"console.{m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: opened.errors.append(f"uncaught: {exc}"))
    page.on("request", lambda r: opened.requests.append(r.url))
    try:
        yield opened
    finally:
        context.close()


@pytest.fixture
def submit(dashboard_url: str, image_server: ImageServer) -> Callable[..., int]:
    """Submit a job over the API: ``submit(("S00339218", ["/img/shelf.png"]), ...)``."""

    def post(*visits: tuple[str, list[str]], visit_time: str = "2024-05-01T10:00:00Z") -> int:
        body = {
            "count": len(visits),
            "visits": [
                {
                    "store_id": store,
                    "image_url": [image_server.url(p) for p in paths],
                    "visit_time": visit_time,
                }
                for store, paths in visits
            ],
        }
        response = requests.post(f"{dashboard_url}/api/submit/", json=body, timeout=5)
        assert response.status_code == 201, response.text
        job_id: int = response.json()["job_id"]
        return job_id

    return post


def expect(target: Any) -> Any:
    """Playwright's ``expect`` (retrying assertions), imported once the browser is there."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=WAIT_MS)
    return playwright_expect(target)
