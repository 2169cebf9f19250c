"""SSRF guard: decide which addresses the service may connect to.

Clients choose the URLs we download. Without a guard, any client could make the
service probe its own loopback, the cloud metadata address or the internal
network, so non-public addresses are refused unless the operator allows them.

The guard is applied where the socket is made (``retailpulse.download.connections``): the
host is resolved once, every address is checked, and only a checked address is
connected to. Checking a name and then letting the HTTP library resolve it again
would leave a gap for DNS rebinding (a name that answers "public" to the check
and "private" to the connection).
"""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "ADDRESS_REFUSED",
    "PRIVATE_URLS_HINT",
    "AddressGuard",
    "AddressPolicy",
    "BlockedAddressError",
    "Resolver",
    "is_public_address",
    "names_private_address",
    "system_resolver",
]

ADDRESS_REFUSED = "refused by the address guard"
"""Starts every refusal's message, so that a job's store reasons can group them."""
PRIVATE_URLS_HINT = "allow such URLs with --allow-private-urls"
"""How to allow what the guard refuses; said once per store, not once per image."""

Resolver = Callable[[str, int], Sequence[str]]
"""Host and port to the host's addresses as text; raises ``OSError`` when it cannot."""

AddressPolicy = Callable[[str], bool]
"""Whether the service may connect to one address."""


class BlockedAddressError(Exception):
    """The host is, or resolves to, an address the service may not reach.

    Deliberately not an ``OSError``: urllib3 retries socket errors, but a refusal
    is a decision, and asking again must not change it.
    """


def names_private_address(url: str) -> bool:
    """Whether the URL's host is, without asking DNS, one the guard would refuse.

    Only an address literal or ``localhost`` is judged: a name may resolve to
    anything, and only the connection's own check counts.
    """
    host = (urlsplit(url).hostname or "").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    return _is_address(host) and not is_public_address(host)


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4, IPv6 or IPv4-mapped IPv6)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (DNS, /etc/hosts), every address it gives."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class AddressGuard:
    """Resolves a host and vouches for every address it returns.

    Both the resolver and the policy are injectable, so tests can play DNS
    (including a rebinding DNS) without ever asking a real one.
    """

    resolve: Resolver = system_resolver
    allowed: AddressPolicy = is_public_address

    def addresses(self, host: str, port: int) -> list[str]:
        """Every address of ``host``, each one allowed, in the resolver's order.

        Raises ``BlockedAddressError`` if any address is not allowed (a name
        mapping to one public and one private address is refused as a whole),
        and ``OSError`` if the host cannot be resolved. An address literal is
        checked as it is, without a lookup.
        """
        host = host.strip("[]")
        if _is_address(host):
            found = [host]
        else:
            found = list(self.resolve(host, port))
            if not found:
                raise OSError(f"no address found for host {host!r}")
        for address in found:
            if not self.allowed(address):
                named = address if host == address else f"{host} ({address})"
                raise BlockedAddressError(f"{ADDRESS_REFUSED}: {named} is not a public address")
        return found


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
