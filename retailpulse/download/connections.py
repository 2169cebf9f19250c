"""A requests adapter whose sockets connect only to addresses the guard allowed.

The address check has to happen at the moment of connecting: a check made
beforehand on the URL lets the HTTP library resolve the name a second time, and
a hostile DNS server can answer that second lookup with a private address (DNS
rebinding). Here urllib3's connection classes are subclassed so that making the
socket itself resolves the host once through ``AddressGuard``, which refuses the
whole name if any address is not allowed, and then connects to exactly those
addresses. Everything else (the ``Host`` header, TLS SNI and certificate
verification) still uses the hostname, as without the guard.
"""

import socket
from typing import Any, ClassVar

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

from retailpulse.download.guard import AddressGuard

__all__ = ["GuardedAdapter", "GuardedHTTPConnection", "GuardedHTTPSConnection"]


class GuardedHTTPConnection(HTTPConnection):
    """An HTTP connection that resolves and checks its host before connecting."""

    address_guard: ClassVar[AddressGuard] = AddressGuard()

    def _new_conn(self) -> socket.socket:
        # BlockedAddressError passes through untouched: urllib3 does not retry it.
        try:
            addresses = self.address_guard.addresses(self.host, self.port)
        except OSError as exc:
            reason = exc if isinstance(exc, socket.gaierror) else socket.gaierror(str(exc))
            raise NameResolutionError(self.host, self, reason) from exc
        last: Exception | None = None
        for address in addresses:
            try:
                return create_connection(
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
        assert last is not None  # addresses() never returns an empty list
        raise last


class GuardedHTTPSConnection(GuardedHTTPConnection, HTTPSConnection):
    """HTTPS: the guarded socket, then TLS verified against the hostname as usual.

    ``HTTPSConnection.connect`` calls ``_new_conn`` for the raw socket, so the
    method resolution order puts the guarded one first and TLS stays untouched.
    """


def _pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    """Connection pools whose connections use ``guard``.

    urllib3 builds connections from a class, not a factory, so the guard is bound
    as a class attribute of small per-guard subclasses.
    """

    class Connection(GuardedHTTPConnection):
        address_guard = guard

    class SecureConnection(GuardedHTTPSConnection):
        address_guard = guard

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = SecureConnection

    return {"http": Pool, "https": SecurePool}


class GuardedAdapter(HTTPAdapter):
    """``HTTPAdapter`` (retries and pooling as usual) over guarded connections."""

    def __init__(self, guard: AddressGuard, **kwargs: Any) -> None:
        self._guard = guard  # before super().__init__, which makes the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self._guard)
