"""The address guard on the connected socket: resolve once, check all, connect to those.

No real name is ever resolved (every resolver here is a table) and no socket
leaves loopback: connection attempts to anything else are caught and recorded.
"""

from collections.abc import Sequence
from typing import Any

import pytest
import urllib3.util.connection
from urllib3.connection import HTTPSConnection

from retailpulse import guardedhttp
from retailpulse.config import ServiceConfig
from retailpulse.fetching import FetchError, HttpFetcher
from retailpulse.guardedhttp import GuardedHTTPSConnection
from retailpulse.netguard import AddressGuard, is_public_address
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

    monkeypatch.setattr("retailpulse.guardedhttp.create_connection", recording)
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

    assert str(caught.value).startswith(f"{url}: refused, host 'inside.example.test'")
    assert address in str(caught.value)
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


def test_tls_is_left_to_urllib3_so_sni_and_certificates_use_the_hostname() -> None:
    """Only the raw socket is replaced: connect(), which wraps it in TLS for
    ``self.host``, is urllib3's own."""
    assert GuardedHTTPSConnection.connect is HTTPSConnection.connect
    assert GuardedHTTPSConnection._new_conn is guardedhttp.GuardedHTTPConnection._new_conn


def test_with_private_urls_allowed_there_is_no_guard() -> None:
    with FaultyServer(respond(200, PNG)) as server:
        fetcher = HttpFetcher(
            ServiceConfig(allow_private_urls=True),
            AddressGuard(resolve=ScriptedResolver({}), allowed=lambda address: False),
        )

        assert fetcher.fetch(server.url()) == PNG
