"""A lean image server for benchmarks, meant to run in its own process.

The threaded server in ``retailpulse.testing`` spends a thread and a good deal of
Python per request; at a thousand requests a second it would be the bottleneck
and the benchmark would measure it instead of the service. This one is a single
asyncio loop that parses only the request line, answers every request from
prebuilt bytes in one write (no Nagle stall) and keeps connections alive. It is
an ``asyncio.Protocol`` rather than streams: in the cluster benchmark it shares two
cores with the nodes it serves, so every microsecond it spends is one they lose.
"""

import argparse
import asyncio
import contextlib
import io
import signal
import sys
from collections.abc import Mapping, Sequence

from PIL import Image, ImageFilter

__all__ = ["BENCH_IMAGES", "build_responses", "main", "photo_like", "serve"]

BENCH_IMAGES: Mapping[str, tuple[int, int, str, int]] = {
    "/img/shelf-1280x720.jpg": (1280, 720, "JPEG", 85),
    "/img/aisle-1920x1080.jpg": (1920, 1080, "JPEG", 85),
    "/img/front-800x600.jpg": (800, 600, "JPEG", 85),
    "/img/label-640x480.png": (640, 480, "PNG", 85),
    "/img/wall-1600x1200.jpg": (1600, 1200, "JPEG", 85),
    "/img/endcap-1920x1080-hq.jpg": (1920, 1080, "JPEG", 93),
}
"""Paths served: store-visit photo sizes, JPEG and PNG, as (width, height, format,
JPEG quality). Store photos are large: the last two are 1600x1200 and a 1920x1080 of
about 300 KB (the sizes the service met in practice ran from 77 to 332 KB)."""

MAX_HEAD = 65_536
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
)


def photo_like(width: int, height: int, fmt: str, quality: int = 85) -> bytes:
    """Blurred noise in three channels: it compresses like a photo (a 1280x720 JPEG is
    about 85 KB), where a flat colour would make unrealistically tiny files."""
    noise = Image.effect_noise((width, height), 64).filter(ImageFilter.GaussianBlur(2))
    inverted = noise.point(lambda v: 255 - v)
    halved = noise.point(lambda v: v // 2)
    buffer = io.BytesIO()
    Image.merge("RGB", (noise, inverted, halved)).save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def build_responses(images: Mapping[str, tuple[int, int, str, int]]) -> dict[bytes, bytes]:
    """Whole HTTP responses, headers and body, keyed by request path."""
    responses = {}
    for path, (width, height, fmt, quality) in images.items():
        body = photo_like(width, height, fmt, quality)
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: image/{fmt.lower()}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("latin-1")
        responses[path.encode()] = head + body
    return responses


class _ImageProtocol(asyncio.Protocol):
    """One connection: every complete request in the buffer is answered at once from
    prebuilt bytes. A protocol, not a stream reader and writer: no coroutine, future
    or ``drain`` per request, so each costs a callback and a ``send``; the transport
    buffers what the socket does not take at once."""

    def __init__(self, responses: dict[bytes, bytes]) -> None:
        self._responses = responses
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        assert self._transport is not None
        buffer = self._buffer + data if self._buffer else data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            parts = buffer[:end].split(b" ", 2)
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b""
            self._transport.write(self._responses.get(path, NOT_FOUND))
            buffer = buffer[end + 4 :]
        if len(buffer) > MAX_HEAD:
            self._transport.close()  # no request head is this long: not a client of ours
            buffer = b""
        self._buffer = buffer


async def serve(port: int, responses: dict[bytes, bytes]) -> None:
    """Serve until SIGTERM/SIGINT, printing the port first so a parent can read it."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _ImageProtocol(responses), "127.0.0.1", port, backlog=4096
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retailpulse.bench.imageserver")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    responses = build_responses(BENCH_IMAGES)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, responses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
