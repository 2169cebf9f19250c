"""The benchmark's image server, in its own process as the bench runs it."""

import socket

from retailpulse.bench.imageserver import BENCH_IMAGES
from retailpulse.bench.processes import ImageServerProcess


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[bytes, bytes, bytes]:
    """One response's head and body off a keep-alive connection, and what follows."""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, rest = buffer.split(b"\r\n\r\n", 1)
    length = int(next(h for h in head.split(b"\r\n") if h.startswith(b"Content-Length:"))[15:])
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest[:length], rest[length:]


def test_requests_sent_together_on_one_connection_are_answered_in_order() -> None:
    paths = list(BENCH_IMAGES)[:2]
    with ImageServerProcess() as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            requests = [f"GET {p}?n=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths]
            sock.sendall(b"".join([*requests, b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"]))
            buffer = b""
            bodies = []
            for _ in paths:
                head, body, buffer = _read_response(sock, buffer)
                assert head.startswith(b"HTTP/1.1 200 OK")
                bodies.append(body)
            missing, body, _ = _read_response(sock, buffer)

    assert all(body.startswith(b"\xff\xd8") for body in bodies)  # both JPEGs, whole
    assert missing.startswith(b"HTTP/1.1 404 Not Found")
    assert body == b"not found"
