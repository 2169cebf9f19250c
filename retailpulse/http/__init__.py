"""The HTTP face of the service: a falcon WSGI app and a stoppable waitress server."""

from retailpulse.http.app import create_app
from retailpulse.http.server import HttpLimits, HttpServer

__all__ = ["HttpLimits", "HttpServer", "create_app"]
