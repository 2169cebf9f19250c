"""POSTing one webhook: bounded in time, never redirected, through the address guard."""

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

import requests
from requests.adapters import HTTPAdapter

from retailpulse.config import ServiceConfig
from retailpulse.guardedhttp import GuardedAdapter
from retailpulse.netguard import AddressGuard, BlockedAddressError

__all__ = ["HttpWebhookSender", "PostResult", "WebhookSender"]

READ_TIMEOUT = 10.0
"""A receiver should answer at once and do its work later (Standard Webhooks)."""


@dataclass(frozen=True, slots=True)
class PostResult:
    """How one attempt went: the HTTP ``status`` (``None``: no answer) and ``error``
    in words when it was not a 2xx; ``permanent`` when trying again cannot help (the
    address guard refused the host); ``retry_after`` seconds when the receiver said."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False


class WebhookSender(Protocol):
    def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult: ...

    def close(self) -> None: ...


class HttpWebhookSender:
    """Sends with one ``requests.Session``, used by one actor's thread only.

    Redirects are not followed (a 3xx is a failed attempt, as Standard Webhooks
    says), nothing is retried here (the schedule retries), and unless private URLs
    are allowed every connection goes through the same ``AddressGuard`` as image
    downloads.
    """

    def __init__(self, config: ServiceConfig, guard: AddressGuard | None = None) -> None:
        self._timeout = (config.connect_timeout, min(config.read_timeout, READ_TIMEOUT))
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "retailpulse-webhooks/0.1"
        self._session.trust_env = False  # no proxy may hide the real target from the guard
        adapter = (
            HTTPAdapter(max_retries=0)
            if config.allow_private_urls
            else GuardedAdapter(guard or AddressGuard(), max_retries=0)
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult:
        try:
            response = self._session.post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            )
        except BlockedAddressError as exc:
            return PostResult(None, f"refused, {exc}", permanent=True)
        except requests.Timeout:
            return PostResult(None, f"no answer within {self._timeout[1]:g} s")
        except (requests.RequestException, ValueError) as exc:
            return PostResult(None, f"could not send ({type(exc).__name__})")
        with response:
            if 200 <= response.status_code < 300:
                return PostResult(response.status_code)
            reason = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
            return PostResult(
                response.status_code, reason, _retry_after(response.headers.get("Retry-After"))
            )

    def close(self) -> None:
        self._session.close()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number or an HTTP date), if any."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
