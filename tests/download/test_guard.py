"""Unit tests of the SSRF guard: which addresses are public; host checks with a fake resolver."""

from collections.abc import Sequence

import pytest

from retailpulse.download.guard import AddressGuard, BlockedAddressError, is_public_address


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


def test_an_address_literal_that_is_public_is_allowed_without_resolving() -> None:
    guard = AddressGuard(resolve=no_lookups)

    assert guard.addresses("8.8.8.8", 80) == ["8.8.8.8"]
    assert guard.addresses("[2001:4860:4860::8888]", 8443) == ["2001:4860:4860::8888"]


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "169.254.169.254", "::1", "[::1]", "::ffff:127.0.0.1", "10.1.2.3", "fc00::5"],
)
def test_an_address_literal_that_is_not_public_is_refused_naming_it(host: str) -> None:
    with pytest.raises(BlockedAddressError) as caught:
        AddressGuard(resolve=no_lookups).addresses(host, 80)

    assert str(caught.value) == (
        f"refused by the address guard: {host.strip('[]')} is not a public address"
    )


def test_a_name_resolving_only_to_public_addresses_gives_all_of_them() -> None:
    resolver = FakeResolver({"images.example.test": ["8.8.8.8", "2001:4860:4860::8888"]})

    found = AddressGuard(resolve=resolver).addresses("images.example.test", 443)

    assert found == ["8.8.8.8", "2001:4860:4860::8888"]
    assert resolver.lookups == [("images.example.test", 443)]


@pytest.mark.parametrize(
    "private",
    ["10.0.0.7", "127.0.0.1", "::1", "::ffff:127.0.0.1", "169.254.169.254", "fd00::1", "fc00::1"],
)
def test_a_name_with_any_non_public_address_is_refused_as_a_whole(private: str) -> None:
    resolver = FakeResolver({"mixed.example.test": ["8.8.8.8", private]})

    with pytest.raises(BlockedAddressError) as caught:
        AddressGuard(resolve=resolver).addresses("mixed.example.test", 80)

    assert private in str(caught.value)
    assert "mixed.example.test" in str(caught.value)


def test_a_name_that_does_not_resolve_raises_os_error() -> None:
    with pytest.raises(OSError, match="Name or service not known"):
        AddressGuard(resolve=FakeResolver({})).addresses("nowhere.example.test", 80)


def test_a_name_resolving_to_no_address_at_all_raises_os_error() -> None:
    resolver = FakeResolver({"empty.example.test": []})

    with pytest.raises(OSError, match="no address"):
        AddressGuard(resolve=resolver).addresses("empty.example.test", 80)


def test_the_policy_can_be_replaced_to_allow_exactly_one_address() -> None:
    resolver = FakeResolver({"local.example.test": ["127.0.0.1"], "other.example.test": ["::1"]})
    guard = AddressGuard(resolve=resolver, allowed=lambda address: address == "127.0.0.1")

    assert guard.addresses("local.example.test", 80) == ["127.0.0.1"]
    with pytest.raises(BlockedAddressError, match="::1"):
        guard.addresses("other.example.test", 80)
