"""A loopback server that misbehaves on cue: errors, hangs, resets, slow drips, lies.

``ImageServer`` answers every request well; retries, deadlines and fault handling
need a server that answers the first requests badly and the later ones well, or
never answers, or resets the connection. It speaks HTTP with raw socket writes,
because an HTTP server library would not let it misbehave, and handles one
request per connection (``Connection: close``), so ``requests`` counts both.
"""

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import Self

from retailpulse.lifecycle import Service

__all__ = [
    "Behaviour",
    "FaultyServer",
    "continue_forever",
    "drip",
    "drip_head",
    "hang",
    "hang_up_early",
    "raw",
    "reset",
    "respond",
    "stall",
    "stream_steadily",
    "unsized",
]

MOST = 10.0
"""No behaviour goes on longer than this, in seconds, whatever the client does."""

Behaviour = Callable[[socket.socket, threading.Event], None]
"""Answers one request on a connected socket; the event is set when the server stops."""


def respond(
    status: int = 200, body: bytes = b"", headers: Sequence[tuple[str, str]] = ()
) -> Behaviour:
    """A complete answer with the given status, body and extra headers."""

    def answer(connection: socket.socket, stopping: threading.Event) -> None:
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
        )
        connection.sendall(head.encode("latin-1") + body)

    return answer


def raw(data: bytes) -> Behaviour:
    """Exactly these bytes, head and body as given (to lie in headers), then close."""

    def answer(connection: socket.socket, stopping: threading.Event) -> None:
        connection.sendall(data)

    return answer


def unsized(body: bytes, *, chunked: bool = False) -> Behaviour:
    """A 200 whose body has no ``Content-Length``: it ends where the connection closes,
    or (``chunked``) in chunks of 1,000 bytes, as servers that stream do."""

    def answer(connection: socket.socket, stopping: threading.Event) -> None:
        if not chunked:
            connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
            return
        pieces = [body[start : start + 1000] for start in range(0, len(body), 1000)]
        encoded = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            + encoded
            + b"0\r\n\r\n"
        )

    return answer


def _paced(
    connection: socket.socket, stopping: threading.Event, piece: bytes, pause: float
) -> None:
    """Send ``piece`` again and again, ``pause`` apart, until stopped or ``MOST`` is up."""
    ends = time.monotonic() + MOST
    while time.monotonic() < ends and not stopping.wait(pause):
        connection.sendall(piece)


def drip_head(connection: socket.socket, stopping: threading.Event) -> None:
    """The status line and headers one byte every 20 ms (a long header makes that 10 s):
    every byte comes well within any read timeout, so only a deadline over the whole
    exchange, the head included, can stop it."""
    head = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 480 + b"\r\nContent-Length: 1\r\n\r\nx"
    ends = time.monotonic() + MOST
    for byte in head:
        if time.monotonic() >= ends or stopping.wait(0.02):
            return
        connection.sendall(bytes([byte]))


def continue_forever(connection: socket.socket, stopping: threading.Event) -> None:
    """``HTTP/1.1 100 Continue`` every 20 ms and never the answer: http.client reads
    past each 100 to the next, so this holds a client as long as it lets it."""
    _paced(connection, stopping, b"HTTP/1.1 100 Continue\r\n\r\n", 0.02)


def stream_steadily(connection: socket.socket, stopping: threading.Event) -> None:
    """A body without length, 16 KiB every 2 ms (about 8 MB/s) for up to ``MOST``: no
    pause long enough for any socket timeout, so only the deadline stops it."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    _paced(connection, stopping, b"s" * 16384, 0.002)


def hang(connection: socket.socket, stopping: threading.Event) -> None:
    """Read the request, never answer (until the server stops)."""
    stopping.wait(60)


def reset(connection: socket.socket, stopping: threading.Event) -> None:
    """Abort the connection: with a zero linger time, close sends RST, not FIN."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def drip(connection: socket.socket, stopping: threading.Event) -> None:
    """Headers, then one body byte every 20 ms (at most 10 s): slow enough to stay
    within any read timeout, so only a total deadline can stop the download."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\nConnection: close\r\n\r\n")
    for _ in range(500):
        if stopping.is_set():
            return
        connection.sendall(b"x")
        time.sleep(0.02)


def stall(connection: socket.socket, stopping: threading.Event) -> None:
    """Headers and twenty body bytes over 1 s, then silence (until the server stops):
    a server that stops sending midway, late in the download."""
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\nConnection: close\r\n\r\n")
    for _ in range(20):
        if stopping.wait(0.05):
            return
        connection.sendall(b"x")
    stopping.wait(60)


def hang_up_early(connection: socket.socket, stopping: threading.Event) -> None:
    """Promise 1,000 bytes, send 10, close."""
    connection.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + b"x" * 10
    )


class FaultyServer(Service):
    """Serves ``script`` on ``127.0.0.1``: the n-th request gets ``script[n]``, and
    requests past its end get its last entry. ``requests`` counts the requests read.
    """

    def __init__(self, script: Sequence[Behaviour] | Behaviour) -> None:
        self._script = list(script) if isinstance(script, Sequence) else [script]
        if not self._script:
            raise ValueError("the script needs at least one behaviour")
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self._port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._counted = 0  # written by the accepting thread only
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="faulty-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def url(self, path: str = "/image.png") -> str:
        return self.base_url + path

    @property
    def requests(self) -> int:
        """How many requests arrived so far."""
        return self._counted

    def start(self) -> Self:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor.is_alive():
            self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        """Accept, read the request and pick its behaviour on this one thread (so the
        count needs no lock), then misbehave on a thread of its own, so that a hanging
        answer does not hold up the next connection."""
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            try:
                arrived = _read_request(connection)
            except OSError:
                arrived = False
            if not arrived:  # a pooled connection closed by the client, unused
                connection.close()
                continue
            behaviour = self._script[min(self._counted, len(self._script) - 1)]
            self._counted += 1
            thread = threading.Thread(target=self._serve, args=(connection, behaviour), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket, behaviour: Behaviour) -> None:
        # OSError: the client hung up first, which the tests provoke.
        with connection, contextlib.suppress(OSError):
            behaviour(connection, self._stopping)


def _read_request(connection: socket.socket) -> bool:
    """Read up to the end of the request head; False if the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return False
        data += chunk
    return True
