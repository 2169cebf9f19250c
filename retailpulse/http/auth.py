"""Bearer-token authentication (RFC 6750) as a falcon middleware.

With a key file, every ``/api/*`` request and ``/metrics`` need ``Authorization:
Bearer KEY``. ``/healthz`` (for load balancers), ``/openapi.json`` (the API's public
description) and the dashboard's static files (``/``, ``/ui/...``: they hold no data;
the page asks for a key when the API answers 401) stay open.

A missing key is 401 with ``WWW-Authenticate: Bearer realm="retailpulse"``; a key that
is malformed or not current adds ``error="invalid_token"``, as RFC 6750 section 3
says. The key itself never leaves this module: not logged, not put in an error.
"""

from typing import Any

import falcon

from retailpulse.keys import KeyringHolder, Principal

__all__ = ["REALM", "AuthMiddleware", "caller_of"]

REALM = "retailpulse"
_PROTECTED = ("/api/", "/metrics")


def caller_of(req: falcon.Request) -> Principal | None:
    """Who made the request; ``None`` when the service has no keys (it is open)."""
    caller: Principal | None = getattr(req.context, "caller", None)
    return caller


class AuthMiddleware:
    """Checks the bearer token and sets ``req.context.caller`` to its ``Principal``."""

    def __init__(self, keys: KeyringHolder) -> None:
        self._keys = keys

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        path = req.path
        if not (path.startswith(_PROTECTED[0]) or path == _PROTECTED[1]):
            return
        header = req.get_header("Authorization")
        if header is None:
            raise _unauthorized("this service needs an API key: Authorization: Bearer KEY")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("the Authorization header must be 'Bearer KEY'", invalid=True)
        caller = self._keys.current.authenticate(token)
        if caller is None:
            raise _unauthorized("the API key is not valid (unknown or revoked)", invalid=True)
        req.context.caller = caller


def _unauthorized(message: str, *, invalid: bool = False) -> falcon.HTTPError:
    challenge = f'Bearer realm="{REALM}"'
    if invalid:
        challenge += ', error="invalid_token"'
    headers: dict[str, Any] = {"WWW-Authenticate": challenge}
    return falcon.HTTPError(falcon.HTTP_401, title=message, headers=headers)
