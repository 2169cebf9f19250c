"""POSTing one webhook: bounded in time, never redirected, through the address guard."""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Protocol

import urllib3
from urllib3 import PoolManager

from retailpulse.config import ServiceConfig
from retailpulse.download.connections import Deadline, pool_classes, tls_context
from retailpulse.download.guard import AddressGuard, BlockedAddressError

__all__ = ["ATTEMPT_LIMIT", "HttpWebhookSender", "PostResult", "WebhookSender"]

READ_TIMEOUT = 10.0
"""A receiver should answer at once and do its work later (Standard Webhooks)."""
CONNECT_TIMEOUT = 5.0
"""At most this per connect, whatever the download setting: with the read timeout
it bounds an attempt, which a delivery's claim in the job store must outlast."""
ATTEMPT_LIMIT = CONNECT_TIMEOUT + READ_TIMEOUT
"""Seconds one attempt takes at most (one address connected to, then every receive
within the attempt's deadline)."""


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
    """Sends through one urllib3 ``PoolManager``, used by one actor's thread only.

    The connections are the image downloads' own (``retailpulse.download``): unless
    private URLs are allowed each goes through the same ``AddressGuard`` on the
    connected socket, and every receive ends at the attempt's deadline (connect
    timeout plus ``READ_TIMEOUT``), so a receiver that drips its answer cannot hold
    the webhook actor. Redirects are not followed (a 3xx is a failed attempt, as
    Standard Webhooks says), nothing is retried here (the schedule retries), and no
    proxy comes from the environment (it would hide the real target from the guard).
    """

    def __init__(self, config: ServiceConfig, guard: AddressGuard | None = None) -> None:
        self._connect_timeout = min(config.connect_timeout, CONNECT_TIMEOUT)
        self._read_timeout = min(config.read_timeout, READ_TIMEOUT)
        self._deadline = Deadline()
        self._pools = PoolManager(
            num_pools=8,
            headers={"User-Agent": "retailpulse-webhooks/0.1"},
            ssl_context=tls_context(True),
            retries=False,
        )
        chosen = None if config.allow_private_urls else (guard or AddressGuard())
        self._pools.pool_classes_by_scheme = pool_classes(chosen, self._deadline)

    def post(self, url: str, headers: dict[str, str], body: bytes) -> PostResult:
        self._deadline.at = time.monotonic() + self._connect_timeout + self._read_timeout
        try:
            response = self._pools.urlopen(
                "POST",
                url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                timeout=urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout),
                preload_content=False,
            )
        except BlockedAddressError as exc:
            return PostResult(None, f"refused, {exc}", permanent=True)
        except (urllib3.exceptions.TimeoutError, TimeoutError):
            return PostResult(None, f"no answer within {self._read_timeout:g} s")
        except (urllib3.exceptions.HTTPError, ValueError, OSError) as exc:
            blocked = _blocked(exc)
            if blocked is not None:
                return PostResult(None, f"refused, {blocked}", permanent=True)
            return PostResult(None, f"could not send ({type(exc).__name__})")
        try:
            status = response.status
            if 200 <= status < 300:
                return PostResult(status)
            return PostResult(
                status, _status_text(status), _retry_after(response.headers.get("Retry-After"))
            )
        finally:
            response.close()  # the body is not read: the connection is not reused
            response.release_conn()

    def close(self) -> None:
        self._pools.clear()


def _blocked(exc: BaseException) -> BlockedAddressError | None:
    """The guard's refusal behind a wrapped error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, BlockedAddressError):
            return seen
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "reason", None)
    return None


def _status_text(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"HTTP {status} {phrase}".rstrip()


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
