"""Unit tests of image measurement: sizes from real encoded images, clear errors for the rest."""

import random
import struct
import zlib

import pytest

from retailpulse.imaging import ImageError, measure, perimeter
from retailpulse.testing import image_bytes


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims the given size: signature, IHDR and an empty IDAT, no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP"])
def test_measure_reads_width_and_height_of_each_supported_format(fmt: str) -> None:
    assert measure(image_bytes(37, 19, fmt)) == (37, 19)


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 300), (640, 480), (1920, 1080)])
def test_measure_keeps_width_and_height_apart(width: int, height: int) -> None:
    assert measure(image_bytes(width, height)) == (width, height)


def test_measure_needs_only_the_header_of_a_png() -> None:
    assert measure(png_header(4000, 3000)) == (4000, 3000)


def test_empty_bytes_are_not_an_image() -> None:
    with pytest.raises(ImageError, match="empty"):
        measure(b"")


def test_text_bytes_are_not_an_image_and_the_error_gives_their_length() -> None:
    with pytest.raises(ImageError, match=r"not an image: 26 bytes"):
        measure(b"<html>404 not found</html>")


def test_a_png_cut_off_inside_its_signature_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not an image"):
        measure(image_bytes(5, 5)[:6])


def test_a_png_cut_off_inside_its_header_chunk_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not an image"):
        measure(image_bytes(5, 5)[:20])


def test_a_jpeg_cut_off_after_its_first_marker_is_not_an_image() -> None:
    with pytest.raises(ImageError, match="not an image"):
        measure(image_bytes(5, 5, "JPEG")[:4])


def test_an_image_claiming_billions_of_pixels_is_refused() -> None:
    with pytest.raises(ImageError, match="refused"):
        measure(png_header(100_000, 100_000))


def test_measure_raises_only_image_error_for_random_garbage() -> None:
    garbage = bytes(range(256)) * 4

    with pytest.raises(ImageError):
        measure(garbage)


def test_perimeter_is_twice_the_sum_of_height_and_width() -> None:
    assert perimeter(640, 480) == 2240
    assert perimeter(1, 1) == 4
    assert perimeter(3, 10) == perimeter(10, 3) == 26


@pytest.mark.filterwarnings("ignore:.*:UserWarning:PIL")
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])
def test_damaged_images_either_measure_right_or_fail_as_image_errors(fmt: str) -> None:
    """Every truncation and many single-byte corruptions of a real file: the only
    outcomes allowed are the true size or an ImageError, never another exception."""
    original = image_bytes(41, 23, fmt)
    rng = random.Random(fmt)
    damaged = [original[:cut] for cut in range(len(original))]
    for _ in range(300):
        position = rng.randrange(len(original))
        flipped = bytearray(original)
        flipped[position] ^= 1 << rng.randrange(8)
        damaged.append(bytes(flipped))

    outcomes = {"measured": 0, "refused": 0}
    for data in damaged:
        try:
            size = measure(data)
        except ImageError:
            outcomes["refused"] += 1
        else:
            outcomes["measured"] += 1
            assert size[0] > 0
            assert size[1] > 0

    assert outcomes["refused"] > 0
    assert sum(outcomes.values()) == len(damaged)
