"""HTTP downloads of images with requests: bounded in time, size and destination."""

import socket
import time
from collections.abc import Iterator
from typing import Any, cast
from urllib.parse import urljoin

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from retailpulse.config import ServiceConfig
from retailpulse.download.connections import GuardedAdapter
from retailpulse.download.guard import AddressGuard, BlockedAddressError
from retailpulse.download.retries import RETRY_STATUSES, DeadlineTimeout, download_retry
from retailpulse.ports import FetchError

__all__ = ["HttpFetcher"]

CHUNK = 64 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class HttpFetcher:
    """Downloads image bytes through one ``requests.Session``.

    One fetcher belongs to one worker, so its session's connection pool is reused
    across that worker's images and never shared between threads (nor may the
    fetcher be: each ``fetch`` sets its own deadline on the session's adapter). Redirects are
    followed by hand, at most ``max_redirects``, and only to http(s). Unless
    private URLs are allowed, every connection goes through ``guard``, which
    checks the addresses actually connected to. Transient failures are retried by
    urllib3 (``retailpulse.download.retries``), all within one total deadline per image.
    """

    def __init__(
        self, config: ServiceConfig, guard: AddressGuard | None = None, verify: bool | str = True
    ) -> None:
        """``verify`` is requests' own: True for the system's CAs, or a CA bundle's path."""
        self._config = config
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "retailpulse/0.1"
        self._session.verify = verify
        # No proxies, .netrc or CA bundles from the environment: a proxy would be the
        # connected address and hide the real target from the guard.
        self._session.trust_env = False
        self._retry = download_retry(config)
        if config.allow_private_urls:
            self._adapter = HTTPAdapter(max_retries=self._retry)
        else:
            self._adapter = GuardedAdapter(guard or AddressGuard(), max_retries=self._retry)
        self._session.mount("http://", self._adapter)
        self._session.mount("https://", self._adapter)

    def fetch(self, url: str) -> bytes:
        deadline = time.monotonic() + self._config.download_timeout
        current = url
        for _ in range(self._config.max_redirects + 1):
            response = self._get(url, current, deadline)
            with response:
                if response.status_code in REDIRECT_CODES and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise FetchError(f"{url}: {_status_text(response)}")
                return self._read_body(url, response, deadline)
        raise FetchError(f"{url}: more than {self._config.max_redirects} redirects")

    def _get(self, url: str, current: str, deadline: float) -> requests.Response:
        """One request, with urllib3 retrying it within the time left."""
        if not current.lower().startswith(("http://", "https://")):
            raise FetchError(f"{url}: only http and https URLs can be downloaded")
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchError(f"{url}: {self._too_slow()}")
        self._adapter.max_retries = self._retry.until(deadline)
        timeout = DeadlineTimeout(self._config.connect_timeout, self._config.read_timeout, deadline)
        try:
            return self._session.get(
                current,
                stream=True,
                allow_redirects=False,
                # requests documents a urllib3 Timeout here; its stubs know only numbers.
                timeout=cast(Any, timeout),
            )
        except BlockedAddressError as exc:
            raise FetchError(f"{url}: refused, {exc}") from None
        except (requests.RequestException, urllib3.exceptions.HTTPError, ValueError) as exc:
            # ValueError: requests refuses some malformed URLs (a redirect's
            # Location is not validated like a payload) with a plain ValueError.
            if time.monotonic() >= deadline:  # the last attempt had only the time left
                raise FetchError(f"{url}: {self._too_slow('no answer in time')}") from None
            raise FetchError(f"{url}: {self._explain(exc)}") from None

    def _read_body(self, url: str, response: requests.Response, deadline: float) -> bytes:
        """Read the body, checking the size cap and the total deadline after every
        receive: ``read1`` returns as soon as any bytes arrive, where ``iter_content``
        would block until a whole chunk came, which a dripping server never sends."""
        limit = self._config.max_image_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"{url}: the image is {declared} bytes, over the {limit}-byte limit")
        body = bytearray()
        # Near the deadline each receive waits at most the time left, so a server that
        # stops sending just before it cannot hold the download a whole read timeout
        # past it. Only near it: settimeout() lets go of the GIL and must win it back,
        # a wait per call on a busy service (8% of the throughput, measured).
        sock = _socket_of(response)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError(f"{url}: {self._too_slow()}")
                if sock is not None and left < self._config.read_timeout:
                    sock.settimeout(left)
                chunk = response.raw.read1(CHUNK, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > limit:
                    raise FetchError(f"{url}: the image is over the {limit}-byte limit")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise FetchError(f"{url}: {self._too_slow()}") from None
            raise FetchError(f"{url}: the download broke off ({self._explain(exc)})") from None
        return bytes(body)

    def _too_slow(self, why: str = "the server sends too slowly") -> str:
        return f"the download took over {self._config.download_timeout:g} s in total ({why})"

    def _explain(self, exc: BaseException) -> str:  # noqa: PLR0911 - one return per cause
        """The cause of a failed request in plain words.

        requests and urllib3 wrap the cause several layers deep (a retried request
        once more, in ``MaxRetryError``), so the whole chain is searched for the
        most telling cause, most specific first.
        """
        chain = list(_causes(exc))

        def found(*kinds: type[BaseException]) -> BaseException | None:
            return next((e for e in chain if isinstance(e, kinds)), None)

        again = ", also on retrying" if self._config.retries and found(MaxRetryError) else ""
        if blocked := found(BlockedAddressError):
            return f"refused, {blocked}"
        if any(
            isinstance(e, ConnectTimeoutError) and not isinstance(e, NewConnectionError)
            for e in chain
        ):
            return f"could not connect within {self._config.connect_timeout:g} s{again}"
        if found(ReadTimeoutError, TimeoutError):
            return f"the server did not answer within {self._config.read_timeout:g} s{again}"
        if found(ConnectionResetError):
            return f"the server reset the connection{again}"
        if tls := found(SSLError):
            return f"the TLS handshake failed ({_innermost(tls)})"
        if unknown := found(NameResolutionError):
            return f"cannot resolve the host name ({_innermost(unknown)}){again}"
        if refused := found(NewConnectionError):
            return f"could not connect ({_innermost(refused)}){again}"
        if broken := found(ProtocolError):
            return f"the connection broke ({_innermost(broken)}){again}"
        return f"download failed ({_innermost(exc)})"


def _status_text(response: requests.Response) -> str:
    text = f"the server answered HTTP {response.status_code} {response.reason or ''}".rstrip()
    if response.status_code in RETRY_STATUSES:
        history = getattr(getattr(response.raw, "retries", None), "history", ())
        text += f" (asked {len(history) + 1} times)" if history else ""
    return text


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it wraps: a ``MaxRetryError``'s reason, the cause or
    context, or else an exception among its arguments (requests and urllib3 wrap
    exceptions that way: ``ProtocolError("Connection aborted.", reset)``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        if isinstance(current, MaxRetryError) and current.reason is not None:
            current = current.reason
        elif current.__cause__ is not None or current.__context__ is not None:
            current = current.__cause__ or current.__context__
        else:
            current = next((a for a in current.args if isinstance(a, BaseException)), None)


def _innermost(exc: BaseException) -> str:
    """The text of the last exception in the chain: the one closest to the socket."""
    *_, last = _causes(exc)
    return str(last) or type(last).__name__


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket the body is read from: the connection's while it is kept alive, or,
    when the server said ``Connection: close`` and http.client has let go of it, the
    one under the response's file (``SocketIO._sock``, the only way to reach it)."""
    raw = response.raw
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:
        buffered = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(buffered, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None
