"""A real HTTP image server on 127.0.0.1 for end-to-end tests, demos and benchmarks."""

import argparse
import contextlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from retailpulse.lifecycle import Service
from retailpulse.testing.fakes import image_bytes

__all__ = ["SAMPLE_IMAGES", "ImageServer", "Route", "sample_routes"]


@dataclass(frozen=True, slots=True)
class Route:
    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    """Extra response headers, e.g. ``(("Location", "/other"),)`` for a redirect."""


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path.split("?", 1)[0])
        if route is None:
            route = Route(b"not found", "text/plain", 404)
        reason = HTTPStatus(route.status).phrase
        extra = "".join(f"{name}: {value}\r\n" for name, value in route.headers)
        head = (
            f"HTTP/1.1 {route.status} {reason}\r\n"
            f"Content-Type: {route.content_type}\r\n"
            f"Content-Length: {len(route.body)}\r\n"
            f"{extra}"
            "\r\n"
        ).encode("latin-1")
        # One write, one send: headers and body in separate segments would meet the
        # client's delayed ACK (Nagle) and stall every response by ~40 ms.
        self.wfile.write(head + route.body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests read assertions, not access logs."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # socketserver's default of 5 drops connects under load
    routes: dict[str, Route]


class ImageServer(Service):
    """Serves fixed routes on ``127.0.0.1`` from a background thread.

    Use as a context manager; ``url(path)`` gives the absolute URL of a route.
    """

    def __init__(
        self, routes: dict[str, Route] | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self._server = _Server((host, port), _Handler)
        self._server.routes = dict(routes or {})
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def routes(self) -> dict[str, Route]:
        return self._server.routes

    def add(self, path: str, route: Route) -> str:
        """Add a route before start (or between runs) and return its URL."""
        self._server.routes[path] = route
        return self.url(path)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


SAMPLE_IMAGES = {
    "/webp/gallery/2.jpg": (550, 368, "JPEG"),
    "/webp/gallery/3.jpg": (1280, 720, "JPEG"),
    "/img/shelf.png": (640, 480, "PNG"),
}
"""Paths the sample server answers: the spec's example image paths and one PNG."""


def sample_routes(
    images: Mapping[str, tuple[int, int, str]] = SAMPLE_IMAGES,
) -> dict[str, Route]:
    """Generated images at the given paths (path -> width, height, format), and a
    text file at ``/notes.txt`` that is not an image."""
    routes = {
        path: Route(image_bytes(w, h, fmt), f"image/{fmt.lower()}")
        for path, (w, h, fmt) in images.items()
    }
    routes["/notes.txt"] = Route(b"this is not an image", "text/plain")
    return routes


def main(argv: list[str] | None = None) -> int:
    """Serve sample images on 127.0.0.1 for trying the API by hand; Ctrl-C stops."""
    parser = argparse.ArgumentParser(prog="python -m retailpulse.testing", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8000, help="(default %(default)s)")
    args = parser.parse_args(argv)
    with ImageServer(sample_routes(), port=args.port) as server:
        for path in sorted(server.routes):
            print(server.url(path))
        print("serving; Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
