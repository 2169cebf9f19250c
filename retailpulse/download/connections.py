"""urllib3 connections that connect only where the guard allows, and read only until a deadline.

The address check has to happen at the moment of connecting: a check made
beforehand on the URL lets the HTTP library resolve the name a second time, and
a hostile DNS server can answer that second lookup with a private address (DNS
rebinding). Here urllib3's connection classes are subclassed so that making the
socket itself resolves the host once through ``AddressGuard``, which refuses the
whole name if any address is not allowed, and then connects to exactly those
addresses. Everything else (the ``Host`` header, TLS SNI and certificate
verification) still uses the hostname, as without the guard.

The deadline has to be checked at every receive: a socket timeout only bounds the
wait for the next bytes, so a server sending its status line, its headers or its
body a byte a second (or ``100 Continue`` after ``100 Continue``) would otherwise
hold a download as long as it likes. Every socket these connections make, plain or
TLS, is a ``DeadlineSocket``: before each receive it looks at its fetcher's
``Deadline``, fails at once when it has passed, and waits at most the time left.
"""

import math
import socket
import ssl
import time
from typing import Any, ClassVar

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from retailpulse.download.guard import AddressGuard

__all__ = [
    "Deadline",
    "DeadlineSSLSocket",
    "DeadlineSocket",
    "GuardedHTTPConnection",
    "GuardedHTTPSConnection",
    "pool_classes",
]


class Deadline:
    """When the current download must end (``time.monotonic()``): one per fetcher, set
    by it before each download and read by its sockets. A fetcher belongs to one
    worker, so this is only ever touched by that worker's thread."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = math.inf


class _DeadlineMixin:
    """The receive side of a socket bounded by a ``Deadline`` (see the module's text)."""

    deadline: Deadline | None = None
    _wanted: float | None = None
    """The timeout the HTTP library asked for; the socket may wait less, near the end."""
    _applied: float | None = None
    """The timeout the socket really has now."""

    def settimeout(self, value: float | None) -> None:
        self._wanted = value
        self._apply(value)

    def _apply(self, value: float | None) -> None:
        # urllib3 sets the same timeout twice per request; each real settimeout() lets
        # go of the GIL (an fcntl call) and must win it back: skip it when unchanged.
        if value != self._applied:
            super().settimeout(value)  # type: ignore[misc]
            self._applied = value

    def _before_receiving(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the download's deadline has passed")
        wanted = self._wanted
        self._apply(left if wanted is None or left < wanted else wanted)


class DeadlineSocket(_DeadlineMixin, socket.socket):
    """A TCP socket whose receives end at its ``deadline`` (http.client reads through
    ``recv_into``)."""

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._before_receiving()
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._before_receiving()
        return super().recv(bufsize, flags)


class DeadlineSSLSocket(_DeadlineMixin, ssl.SSLSocket):
    """The TLS socket of a guarded HTTPS connection (the ``sslsocket_class`` of its
    context): its receives end at the deadline too."""

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._before_receiving()
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._before_receiving()
        return super().recv(buflen, flags)


def deadline_socket(sock: socket.socket, deadline: Deadline) -> DeadlineSocket:
    """The same connected socket, as a ``DeadlineSocket`` keeping its timeout."""
    timeout = sock.gettimeout()
    bounded = DeadlineSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    bounded.settimeout(timeout)
    bounded.deadline = deadline
    return bounded


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """A TLS client context whose sockets are ``DeadlineSSLSocket``: the system's
    defaults, verifying against the CA bundle at ``verify`` (a path), certifi's (True),
    or nothing (False)."""
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    if verify:
        import certifi

        context.load_verify_locations(verify if isinstance(verify, str) else certifi.where())
    context.sslsocket_class = DeadlineSSLSocket
    return context


class GuardedHTTPConnection(HTTPConnection):
    """An HTTP connection that resolves and checks its host before connecting (unless
    its ``address_guard`` is None: private URLs allowed), on a ``DeadlineSocket``."""

    address_guard: ClassVar[AddressGuard | None] = AddressGuard()
    deadline: ClassVar[Deadline] = Deadline()

    def _new_conn(self) -> socket.socket:
        if self.address_guard is None:
            return deadline_socket(super()._new_conn(), self.deadline)
        # BlockedAddressError passes through untouched: urllib3 does not retry it.
        try:
            addresses = self.address_guard.addresses(self.host, self.port)
        except OSError as exc:
            reason = exc if isinstance(exc, socket.gaierror) else socket.gaierror(str(exc))
            raise NameResolutionError(self.host, self, reason) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                sock = create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                last = ConnectTimeoutError(
                    self, f"connecting to {self.host} ({address}) timed out after {self.timeout} s"
                )
                last.__cause__ = exc
            except OSError as exc:
                last = NewConnectionError(self, f"cannot connect to {address}: {exc}")
                last.__cause__ = exc
            else:
                return deadline_socket(sock, self.deadline)
        assert last is not None  # addresses() never returns an empty list
        raise last


class GuardedHTTPSConnection(GuardedHTTPConnection, HTTPSConnection):
    """HTTPS: the guarded socket, then TLS verified against the hostname as usual.

    ``HTTPSConnection.connect`` calls ``_new_conn`` for the raw socket, so the
    method resolution order puts the guarded one first and TLS stays untouched. The
    TLS socket (a ``DeadlineSSLSocket`` from the pool's context) gets the deadline.
    """

    def connect(self) -> None:
        super().connect()
        if isinstance(self.sock, DeadlineSSLSocket):
            self.sock.deadline = self.deadline


def pool_classes(
    guard: AddressGuard | None, deadline: Deadline
) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose connections use ``guard`` (None: no guard) and ``deadline``.

    urllib3 builds connections from a class, not a factory, so both are bound as
    class attributes of small per-fetcher subclasses.
    """

    class Connection(GuardedHTTPConnection):
        address_guard = guard

    class SecureConnection(GuardedHTTPSConnection):
        address_guard = guard

    Connection.deadline = SecureConnection.deadline = deadline

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}
