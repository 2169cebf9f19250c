"""``GET /api/service``: the figures of the dashboard's service panel, as JSON."""

import falcon

from retailpulse.system import System

__all__ = ["ServiceResource"]


class ServiceResource:
    """GPU slots, downloaders and jobs now, and images per second over 10 minutes."""

    def __init__(self, system: System) -> None:
        self._system = system

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._system.service()
        resp.cache_control = ["no-store"]
