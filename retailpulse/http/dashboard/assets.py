"""The dashboard's static files: read once from the package, served with strict headers.

Every file is read into memory when the app is built (a few tens of KiB), so a request
never touches the file system and a name in a URL can only pick one of the files
listed at start: no path from a client ever reaches ``open``.
"""

import hashlib
from dataclasses import dataclass
from importlib import resources

import falcon

__all__ = ["CONTENT_SECURITY_POLICY", "PREFIX", "DashboardAssets", "DashboardPage"]

PREFIX = "/ui"
"""Where the dashboard's scripts and styles live; the page itself is ``GET /``."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
"""Only the dashboard's own files run or style the page; no inline script or style, no
other origin: a store id or failure reason that slipped into markup could not run."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # Revalidate every time (cheap: a 304 by ETag), so an upgraded service never
    # runs yesterday's scripts against today's API.
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every file of ``static/`` with a known type, by file name."""
    found: dict[str, Asset] = {}
    for entry in resources.files(__package__).joinpath("static").iterdir():
        suffix = entry.name[entry.name.rfind(".") :] if "." in entry.name else ""
        if entry.is_file() and suffix in CONTENT_TYPES:
            body = entry.read_bytes()
            etag = hashlib.sha256(body).hexdigest()[:20]
            found[entry.name] = Asset(body, CONTENT_TYPES[suffix], etag)
    return found


def _serve(req: falcon.Request, resp: falcon.Response, asset: Asset) -> None:
    resp.set_headers(SECURITY_HEADERS)
    resp.etag = asset.etag
    if req.if_none_match and any(tag == asset.etag for tag in req.if_none_match):
        resp.status = falcon.HTTP_304
        return
    resp.content_type = asset.content_type
    resp.data = asset.body


class DashboardPage:
    """``GET /``: the dashboard's one HTML page (views are chosen by the URL's #fragment)."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self._page = assets["index.html"]

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _serve(req, resp, self._page)


class DashboardAssets:
    """``GET /ui/{name}``: the page's scripts, styles and icon."""

    def __init__(self, assets: dict[str, Asset]) -> None:
        self._assets = assets

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        asset = self._assets.get(name)
        if asset is None:
            raise falcon.HTTPNotFound(description=f"the dashboard has no file {name!r}")
        _serve(req, resp, asset)
