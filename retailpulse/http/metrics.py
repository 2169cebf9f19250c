"""``GET /metrics``: the service's Prometheus metrics in the text exposition format."""

import falcon

from retailpulse.actors.metrics import CONTENT_TYPE
from retailpulse.system import System

__all__ = ["MetricsResource"]


class MetricsResource:
    """Scraped by Prometheus; the one route that does not answer JSON."""

    def __init__(self, system: System) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = CONTENT_TYPE
        resp.data = self._system.metrics()
