"""HTTP downloads of images with requests: bounded in time, size and destination."""

import time
from urllib.parse import urljoin

import requests
import urllib3

from retailpulse.config import ServiceConfig
from retailpulse.netguard import BlockedAddressError, check_url

__all__ = ["FetchError", "HttpFetcher"]

CHUNK = 64 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class FetchError(Exception):
    """A download failed; the message names the URL and the cause in plain words."""


class HttpFetcher:
    """Downloads image bytes through one ``requests.Session``.

    One fetcher belongs to one worker, so its session's connection pool is reused
    across that worker's images and never shared between threads. Redirects are
    followed by hand so that every hop passes the address guard.
    """

    def __init__(self, config: ServiceConfig) -> None:
        self._config = config
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "retailpulse/0.1"

    def fetch(self, url: str) -> bytes:
        deadline = time.monotonic() + self._config.download_timeout
        current = url
        for _ in range(self._config.max_redirects + 1):
            response = self._get(current)
            with response:
                if response.status_code in REDIRECT_CODES and "location" in response.headers:
                    current = urljoin(current, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise FetchError(
                        f"{url}: the server answered HTTP {response.status_code} "
                        f"{response.reason or ''}".rstrip()
                    )
                return self._read_body(url, response, deadline)
        raise FetchError(f"{url}: more than {self._config.max_redirects} redirects")

    def _get(self, url: str) -> requests.Response:
        if not url.lower().startswith(("http://", "https://")):
            raise FetchError(f"{url}: only http and https URLs can be downloaded")
        if not self._config.allow_private_urls:
            try:
                check_url(url)
            except BlockedAddressError as exc:
                raise FetchError(f"{url}: refused, {exc}") from None
        try:
            return self._session.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(self._config.connect_timeout, self._config.read_timeout),
            )
        except requests.Timeout:
            raise FetchError(f"{url}: the server did not answer in time") from None
        except requests.ConnectionError as exc:
            raise FetchError(f"{url}: could not connect ({_root_cause(exc)})") from None
        except requests.RequestException as exc:
            raise FetchError(f"{url}: download failed ({_root_cause(exc)})") from None

    def _read_body(self, url: str, response: requests.Response, deadline: float) -> bytes:
        """Read the body, checking the size cap and the total deadline after every
        receive: ``read1`` returns as soon as any bytes arrive, where ``iter_content``
        would block until a whole chunk came, which a dripping server never sends."""
        limit = self._config.max_image_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"{url}: the image is {declared} bytes, over the {limit}-byte limit")
        body = bytearray()
        try:
            while chunk := response.raw.read1(CHUNK, decode_content=True):
                body += chunk
                if len(body) > limit:
                    raise FetchError(f"{url}: the image is over the {limit}-byte limit")
                if time.monotonic() > deadline:
                    raise FetchError(
                        f"{url}: the download took over {self._config.download_timeout:g} s "
                        "in total (the server sends too slowly)"
                    )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchError(f"{url}: the download broke off ({_root_cause(exc)})") from None
        return bytes(body)


def _root_cause(exc: BaseException) -> str:
    """The innermost exception's text: requests wraps the useful part several layers deep."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        nxt = exc.__cause__ or exc.__context__
        assert nxt is not None
        exc = nxt
    return str(exc) or type(exc).__name__
