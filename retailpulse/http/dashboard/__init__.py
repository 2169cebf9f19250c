"""The browser dashboard: static files served by falcon, and the one JSON figure it adds.

The page is plain HTML, ES modules and CSS shipped in ``static/`` (no build step, nothing
from the internet); it reads the same JSON API as every other client, so it can never
show what the API would not. See docs/dashboard.md.
"""

from typing import Any

import falcon

from retailpulse.http.dashboard.assets import (
    CONTENT_SECURITY_POLICY,
    PREFIX,
    DashboardAssets,
    DashboardPage,
    load_assets,
)
from retailpulse.http.dashboard.service import ServiceResource
from retailpulse.system import System

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PREFIX",
    "DashboardAssets",
    "DashboardPage",
    "ServiceResource",
    "add_dashboard_routes",
]


def add_dashboard_routes(app: "falcon.App[Any, Any]", system: System) -> None:
    """``GET /`` (the page), ``GET /ui/{name}`` (its files) and ``GET /api/service``."""
    assets = load_assets()
    app.add_route("/", DashboardPage(assets))
    app.add_route(PREFIX + "/{name}", DashboardAssets(assets))
    app.add_route("/api/service", ServiceResource(system))
