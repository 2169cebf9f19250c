"""Unit tests of the SSRF guard: which addresses are public; URL checks with a fake resolver."""

from collections.abc import Sequence

import pytest

from retailpulse.netguard import BlockedAddressError, check_url, is_public_address


class FakeResolver:
    """Answers host lookups from a table and records them; no DNS is ever queried."""

    def __init__(self, table: dict[str, Sequence[str]]) -> None:
        self._table = table
        self.lookups: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append((host, port))
        if host not in self._table:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return self._table[host]


def no_lookups(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"an address literal must not be resolved, yet {host!r} was")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "10.255.255.254",
        "172.16.0.1",
        "172.31.255.1",
        "192.168.1.10",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",
        "fd12:3456:789a::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "2001:db8::1",
    ],
)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "172.32.0.1",
        "2001:4860:4860::8888",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
    ],
)
def test_globally_routable_addresses_are_public(address: str) -> None:
    assert is_public_address(address) is True


def test_an_ip_literal_url_to_a_public_address_is_allowed_without_resolving() -> None:
    check_url("http://8.8.8.8/image.png", resolve=no_lookups)
    check_url("https://[2001:4860:4860::8888]:8443/image.png", resolve=no_lookups)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8080/a.png", "127.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/a.png", "::1"),
        ("http://[::ffff:127.0.0.1]/a.png", "::ffff:127.0.0.1"),
        ("http://10.1.2.3/a.png", "10.1.2.3"),
    ],
)
def test_an_ip_literal_url_to_a_non_public_address_is_refused_naming_it(
    url: str, address: str
) -> None:
    with pytest.raises(BlockedAddressError) as caught:
        check_url(url, resolve=no_lookups)

    assert address in str(caught.value)
    assert "--allow-private-urls" in str(caught.value)


def test_a_name_resolving_only_to_public_addresses_is_allowed() -> None:
    resolver = FakeResolver({"images.example.test": ["8.8.8.8", "2001:4860:4860::8888"]})

    check_url("https://images.example.test/a.png", resolve=resolver)

    assert resolver.lookups == [("images.example.test", 443)]


def test_a_name_resolving_to_one_public_and_one_private_address_is_refused() -> None:
    resolver = FakeResolver({"mixed.example.test": ["8.8.8.8", "10.0.0.7"]})

    with pytest.raises(BlockedAddressError) as caught:
        check_url("http://mixed.example.test/a.png", resolve=resolver)

    assert "10.0.0.7" in str(caught.value)
    assert "mixed.example.test" in str(caught.value)


def test_a_name_resolving_to_the_metadata_address_is_refused() -> None:
    resolver = FakeResolver({"metadata.example.test": ["169.254.169.254"]})

    with pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254"):
        check_url("http://metadata.example.test/", resolve=resolver)


def test_the_resolver_is_asked_with_the_urls_explicit_port_or_the_scheme_default() -> None:
    resolver = FakeResolver({"a.example.test": ["8.8.8.8"]})

    check_url("http://a.example.test/x.png", resolve=resolver)
    check_url("https://a.example.test/x.png", resolve=resolver)
    check_url("http://a.example.test:8081/x.png", resolve=resolver)

    assert resolver.lookups == [
        ("a.example.test", 80),
        ("a.example.test", 443),
        ("a.example.test", 8081),
    ]


def test_a_name_that_does_not_resolve_is_refused_with_the_reason() -> None:
    resolver = FakeResolver({})

    with pytest.raises(BlockedAddressError) as caught:
        check_url("http://nowhere.example.test/a.png", resolve=resolver)

    assert "cannot resolve" in str(caught.value)
    assert "nowhere.example.test" in str(caught.value)


@pytest.mark.parametrize("url", ["http://8.8.8.8:99999/a.png", "http://[::1/a.png"])
def test_a_malformed_url_is_refused_not_raised_as_a_value_error(url: str) -> None:
    # Payload URLs are validated on submit, but a redirect's Location is not.
    with pytest.raises(BlockedAddressError) as caught:
        check_url(url, resolve=no_lookups)

    assert "not a valid URL" in str(caught.value)
