"""SSRF guard: decide whether the service may connect to a URL's host.

Clients choose the URLs we download. Without a guard, any client could make the
service probe its own loopback, the cloud metadata address or the internal
network, so non-public addresses are refused unless the operator allows them.
"""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

__all__ = ["BlockedAddressError", "check_url", "is_public_address"]

Resolver = Callable[[str, int], Sequence[str]]


class BlockedAddressError(Exception):
    """The URL's host is, or resolves to, an address the service may not reach."""


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


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def check_url(url: str, resolve: Resolver = _resolve) -> None:
    """Raise ``BlockedAddressError`` unless every address of the URL's host is public.

    Every resolved address is checked, not just the first, so a name that maps to
    one public and one private address is refused.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a redirect's Location is not validated like a payload
        raise BlockedAddressError(f"not a valid URL ({exc})") from None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = list(resolve(host, port))
        except OSError as exc:
            raise BlockedAddressError(f"cannot resolve host {host!r}: {exc}") from None
    for address in addresses:
        if not is_public_address(address):
            raise BlockedAddressError(
                f"host {host!r} is a private, loopback, link-local or reserved address "
                f"({address}); downloads from such addresses are disabled "
                "(--allow-private-urls enables them)"
            )
