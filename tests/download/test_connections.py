"""The address guard on the connected socket: resolve once, check all, connect to those.

No real name is ever resolved (every resolver here is a table) and no socket
leaves loopback: connection attempts to anything else are caught and recorded.
"""

import http.server
import ssl
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import trustme
import urllib3.util.connection

from retailpulse.config import ServiceConfig
from retailpulse.download import HttpFetcher
from retailpulse.download.guard import AddressGuard, is_public_address
from retailpulse.ports import FetchError
from retailpulse.testing import FaultyServer, ImageServer, Route, image_bytes, respond

PNG = image_bytes(20, 10)


class ScriptedResolver:
    """Plays DNS from a script: each lookup of a host gets the next answer in its list
    (the last answer repeats), so a test can imitate a rebinding DNS server."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self._answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        script = self._answers.get(host)
        if script is None:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return script[min(self.lookups.count(host), len(script)) - 1]


def public_or_loopback(address: str) -> bool:
    """The production policy, plus 127.0.0.1 so that tests have a server to reach."""
    return address == "127.0.0.1" or is_public_address(address)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every address the guarded connections connect to; only loopback really connects."""
    attempted: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def recording(address: tuple[str, int], *args: Any, **kwargs: Any) -> Any:
        attempted.append(address)
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(111, "Connection refused (test: not loopback)")
        return real(address, *args, **kwargs)

    monkeypatch.setattr("retailpulse.download.connections.create_connection", recording)
    return attempted


def guarded_fetcher(resolver: ScriptedResolver, **settings: Any) -> HttpFetcher:
    config = ServiceConfig(
        allow_private_urls=False, connect_timeout=2, read_timeout=2, retry_backoff=0.01, **settings
    )
    return HttpFetcher(config, AddressGuard(resolve=resolver, allowed=public_or_loopback))


def test_the_connection_goes_to_the_address_the_guard_resolved_and_checked(
    connects: list[tuple[str, int]],
) -> None:
    resolver = ScriptedResolver({"images.example.test": [["127.0.0.1"]]})
    with ImageServer({"/a.png": Route(PNG, "image/png")}) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        body = guarded_fetcher(resolver).fetch(f"http://images.example.test:{port}/a.png")

    assert body == PNG
    assert resolver.lookups == ["images.example.test"]
    assert connects == [("127.0.0.1", port)]


@pytest.mark.parametrize(
    "address", ["10.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "fc00::1", "fd00::7"]
)
def test_a_name_resolving_to_a_non_public_address_is_refused_without_connecting(
    connects: list[tuple[str, int]], address: str
) -> None:
    resolver = ScriptedResolver({"inside.example.test": [[address]]})
    url = "http://inside.example.test/a.png"

    with pytest.raises(FetchError) as caught:
        guarded_fetcher(resolver).fetch(url)

    assert str(caught.value) == (
        f"{url}: refused by the address guard: inside.example.test ({address}) "
        "is not a public address"
    )
    assert connects == []
    assert resolver.lookups == ["inside.example.test"]  # a refusal is not retried


def test_a_name_with_one_public_and_one_private_address_is_refused_as_a_whole(
    connects: list[tuple[str, int]],
) -> None:
    resolver = ScriptedResolver({"mixed.example.test": [["8.8.8.8", "10.0.0.1"]]})

    with pytest.raises(FetchError, match=r"refused.*10\.0\.0\.1"):
        guarded_fetcher(resolver).fetch("http://mixed.example.test/a.png")

    assert connects == []


@pytest.mark.parametrize(
    "url", ["http://127.0.0.2/a.png", "http://[::1]:8080/a.png", "http://169.254.169.254/latest/"]
)
def test_an_address_literal_that_is_not_allowed_is_refused_without_resolving(
    connects: list[tuple[str, int]], url: str
) -> None:
    resolver = ScriptedResolver({})

    with pytest.raises(FetchError, match="refused"):
        guarded_fetcher(resolver).fetch(url)

    assert resolver.lookups == []
    assert connects == []


def test_dns_rebinding_between_two_connections_is_caught_on_the_second(
    connects: list[tuple[str, int]],
) -> None:
    """The first lookup says loopback-allowed, the next says 10.0.0.1. The server
    answers 503 and closes, so the retry needs a new connection, which looks the
    name up again and is refused: each connection is checked on its own lookup."""
    resolver = ScriptedResolver({"rebind.example.test": [["127.0.0.1"], ["10.0.0.1"]]})
    with FaultyServer([respond(503), respond(200, PNG)]) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        with pytest.raises(FetchError) as caught:
            guarded_fetcher(resolver).fetch(f"http://rebind.example.test:{port}/a.png")

    assert "refused" in str(caught.value)
    assert "10.0.0.1" in str(caught.value)
    assert server.requests == 1
    assert connects == [("127.0.0.1", port)]
    assert resolver.lookups == ["rebind.example.test", "rebind.example.test"]


def test_a_redirect_to_a_private_address_is_refused_on_its_hop(
    connects: list[tuple[str, int]],
) -> None:
    resolver = ScriptedResolver({"images.example.test": [["127.0.0.1"]]})
    with ImageServer(
        {"/to-inside": Route(b"", "text/plain", 302, (("Location", "http://10.0.0.1/x.png"),))}
    ) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        url = f"http://images.example.test:{port}/to-inside"
        with pytest.raises(FetchError) as caught:
            guarded_fetcher(resolver).fetch(url)

    assert str(caught.value).startswith(f"{url}: refused")
    assert "10.0.0.1" in str(caught.value)
    assert connects == [("127.0.0.1", port)]


def test_a_name_that_does_not_resolve_is_a_failure_naming_the_host(
    connects: list[tuple[str, int]],
) -> None:
    with pytest.raises(FetchError) as caught:
        guarded_fetcher(ScriptedResolver({}), retries=0).fetch("http://nowhere.example.test/")

    assert str(caught.value) == (
        "http://nowhere.example.test/: cannot resolve the host name "
        "([Errno -2] Name or service not known: nowhere.example.test)"
    )
    assert connects == []


def test_https_connections_are_guarded_too(connects: list[tuple[str, int]]) -> None:
    resolver = ScriptedResolver({"secure.example.test": [["169.254.169.254"]]})

    with pytest.raises(FetchError, match=r"refused.*169\.254\.169\.254"):
        guarded_fetcher(resolver).fetch("https://secure.example.test/a.png")

    assert connects == []


@pytest.fixture(scope="module")
def tls_server() -> Iterator[tuple[int, str]]:
    """An HTTPS server on 127.0.0.1 whose certificate, from a throwaway CA, is valid for
    images.example.test only; yields its port and the CA bundle's path."""
    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("images.example.test").configure_cert(context)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PngHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        with authority.cert_pem.tempfile() as ca_path:
            yield server.server_address[1], ca_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _PngHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def tls_fetcher(resolver: ScriptedResolver, ca_path: str) -> HttpFetcher:
    config = ServiceConfig(allow_private_urls=False, retries=0, connect_timeout=2, read_timeout=2)
    guard = AddressGuard(resolve=resolver, allowed=public_or_loopback)
    return HttpFetcher(config, guard, verify=ca_path)


def test_https_through_the_guard_verifies_the_certificate_for_the_hostname(
    tls_server: tuple[int, str], connects: list[tuple[str, int]]
) -> None:
    port, ca_path = tls_server
    resolver = ScriptedResolver({"images.example.test": [["127.0.0.1"]]})

    body = tls_fetcher(resolver, ca_path).fetch(f"https://images.example.test:{port}/a.png")

    assert body == PNG
    assert connects == [("127.0.0.1", port)]


def test_https_to_a_name_the_certificate_does_not_cover_fails_verification(
    tls_server: tuple[int, str], connects: list[tuple[str, int]]
) -> None:
    """Same server, same checked address, another name: SNI and the check use the name."""
    port, ca_path = tls_server
    resolver = ScriptedResolver({"other.example.test": [["127.0.0.1"]]})
    url = f"https://other.example.test:{port}/a.png"

    with pytest.raises(FetchError) as caught:
        tls_fetcher(resolver, ca_path).fetch(url)

    assert str(caught.value).startswith(f"{url}: the TLS handshake failed")
    assert "other.example.test" in str(caught.value)
    assert connects == [("127.0.0.1", port)]


def test_with_private_urls_allowed_there_is_no_guard() -> None:
    with FaultyServer(respond(200, PNG)) as server:
        fetcher = HttpFetcher(
            ServiceConfig(allow_private_urls=True),
            AddressGuard(resolve=ScriptedResolver({}), allowed=lambda address: False),
        )

        assert fetcher.fetch(server.url()) == PNG
