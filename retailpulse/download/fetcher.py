"""HTTP downloads of images with urllib3: bounded in time, size and destination.

requests, which the rest of the project uses, is not on this path: per image it
merges session settings, prepares the request and wraps the response in layers
that guard nothing here, and measured on this machine that cost 0.95 ms of CPU
per image (``Session.get().content``) where urllib3's connection pool, which
requests runs on anyway, costs 0.25-0.37 ms (docs/lean-image-path.md): the service's
whole budget per image is 1.2 ms.
"""

import re
import time
from collections.abc import Iterator
from urllib.parse import urljoin

import urllib3
from urllib3 import BaseHTTPResponse, PoolManager
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
from retailpulse.download.connections import Deadline, pool_classes, tls_context
from retailpulse.download.guard import AddressGuard, BlockedAddressError
from retailpulse.download.retries import RETRY_STATUSES, DeadlineTimeout, download_retry
from retailpulse.ports import FetchError

__all__ = ["HttpFetcher"]

CHUNK = 1024 * 1024
"""Bytes asked for per read: a whole typical image, so most bodies take one call (a
read returns as soon as the body ends, and each receive under it is bounded by the
deadline, so a large chunk holds nothing back)."""
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
HEADERS = {"User-Agent": "retailpulse/0.1", "Accept-Encoding": "identity"}
"""No compression asked for: images are compressed already, and decoding costs CPU."""
_DIGITS = re.compile(r"[0-9]{1,19}")
"""A Content-Length as RFC 9110 spells it: ASCII digits only (``str.isdigit`` also
takes ``"²"``, which ``int`` then refuses)."""


class HttpFetcher:
    """Downloads image bytes through one urllib3 ``PoolManager``.

    One fetcher belongs to one worker, so its connection pools are reused across
    that worker's images and never shared between threads (nor may the fetcher be:
    each ``fetch`` sets the deadline its sockets read). Redirects are followed by
    hand, at most ``max_redirects``, and only to http(s). Unless private URLs are
    allowed, every connection goes through ``guard``, which checks the addresses
    actually connected to. Transient failures are retried by urllib3
    (``retailpulse.download.retries``), all within one total deadline per image, and
    every receive, of the answer's head as of its body, ends at that deadline
    (``retailpulse.download.connections``). No proxies, .netrc or CA bundles come
    from the environment: a proxy would be the connected address and hide the real
    target from the guard.
    """

    def __init__(
        self, config: ServiceConfig, guard: AddressGuard | None = None, verify: bool | str = True
    ) -> None:
        """``verify``: True for certifi's CAs, a CA bundle's path, or False for none."""
        self._config = config
        self._retry = download_retry(config)
        self._deadline = Deadline()
        self._pools = PoolManager(
            num_pools=16, headers=HEADERS, ssl_context=tls_context(verify), retries=False
        )
        guard = None if config.allow_private_urls else (guard or AddressGuard())
        self._pools.pool_classes_by_scheme = pool_classes(guard, self._deadline)

    def fetch(self, url: str) -> bytes:
        deadline = self._deadline.at = time.monotonic() + self._config.download_timeout
        current = url
        for _ in range(self._config.max_redirects + 1):
            response = self._get(url, current, deadline)
            body = None
            try:
                location = response.headers.get("location")
                if response.status in REDIRECT_CODES and location is not None:
                    current = _follow(url, current, location)
                    continue
                if response.status != 200:
                    raise FetchError(f"{url}: {_status_text(response)}")
                body = self._read_body(url, response, deadline)
                return body
            finally:
                if body is None:
                    # A body left unread (a redirect's, an error page, one over the cap):
                    # the connection cannot carry the next request, so it is closed.
                    response.close()
                response.release_conn()
        raise FetchError(f"{url}: more than {self._config.max_redirects} redirects")

    def _get(self, url: str, current: str, deadline: float) -> BaseHTTPResponse:
        """One request, with urllib3 retrying it within the time left."""
        if not current.lower().startswith(("http://", "https://")):
            raise FetchError(f"{url}: only http and https URLs can be downloaded")
        if deadline - time.monotonic() <= 0:
            raise FetchError(f"{url}: {self._too_slow()}")
        timeout = DeadlineTimeout(self._config.connect_timeout, self._config.read_timeout, deadline)
        try:
            return self._pools.urlopen(
                "GET",
                current,
                redirect=False,
                retries=self._retry.until(deadline),
                timeout=timeout,
                preload_content=False,
            )
        except BlockedAddressError as exc:
            raise FetchError(f"{url}: {exc}") from None
        except (urllib3.exceptions.HTTPError, ValueError, OSError) as exc:
            # ValueError: a malformed URL (a redirect's Location is not validated like
            # a payload); OSError: what a socket says that urllib3 did not wrap.
            if time.monotonic() >= deadline:  # the last attempt had only the time left
                raise FetchError(f"{url}: {self._too_slow('no answer in time')}") from None
            raise FetchError(f"{url}: {self._explain(exc)}") from None

    def _read_body(self, url: str, response: BaseHTTPResponse, deadline: float) -> bytes:
        """Read the body within the size cap. Each receive under a read is bounded by
        the deadline (a dripping server fails there); the cap is checked on the
        declared length first and on the bytes received, so a body without a length
        cannot grow past it either."""
        limit = self._config.max_image_bytes
        declared = _declared_length(response.headers.get("content-length"))
        if declared is not None and declared > limit:
            raise FetchError(f"{url}: the image is {declared} bytes, over the {limit}-byte limit")
        # Encoded (if a server compresses though asked not to), the length is not the
        # size of the bytes read: then only the end of the body ends the reading.
        whole = (
            declared if response.headers.get("content-encoding", "identity") == "identity" else None
        )
        chunks: list[bytes] = []
        size = 0
        try:
            while chunk := response.read(min(CHUNK, limit + 1 - size), decode_content=True):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise FetchError(f"{url}: the image is over the {limit}-byte limit")
                if size == whole:
                    break  # the whole body: no read to hear the end
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if time.monotonic() >= deadline:
                raise FetchError(f"{url}: {self._too_slow()}") from None
            raise FetchError(f"{url}: the download broke off ({self._explain(exc)})") from None
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

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
            return str(blocked)
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


def _follow(url: str, current: str, location: str) -> str:
    """Where a redirect points, or a failure naming it when it is no URL at all."""
    try:
        return urljoin(current, location)
    except ValueError as exc:  # such as an unclosed IPv6 bracket: "http://[::1"
        raise FetchError(f"{url}: redirected to an invalid location ({exc})") from None


def _status_text(response: BaseHTTPResponse) -> str:
    text = f"the server answered HTTP {response.status} {response.reason or ''}".rstrip()
    if response.status in RETRY_STATUSES:
        history = getattr(response.retries, "history", ())
        text += f" (asked {len(history) + 1} times)" if history else ""
    return text


def _declared_length(value: str | None) -> int | None:
    """The body's declared length, or None when there is none or it is not a plain
    number (then the cap is enforced on the bytes as they come). Several values, as
    in ``5, 5``, count only when they agree; urllib3 itself refuses the rest."""
    if value is None:
        return None
    lengths = {part.strip() for part in value.split(",")}
    if len(lengths) != 1:
        return None
    [length] = lengths
    return int(length) if _DIGITS.fullmatch(length) else None


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
