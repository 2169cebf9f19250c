"""Image measurement: bytes in, size out. No network, no actors, so it is trivially testable."""

import io

from PIL import Image, UnidentifiedImageError

__all__ = ["ImageError", "measure", "perimeter"]

MAX_PIXELS = 89_478_485
"""Larger images are refused: a few bytes can claim gigapixels (decompression bomb).
The figure is Pillow's own default limit, about 9,459 x 9,459 pixels."""


class ImageError(Exception):
    """The bytes are not an image Pillow can read; the message says why in plain words."""


def measure(data: bytes) -> tuple[int, int]:
    """Return (width, height), reading only the header Pillow needs.

    ``Image.open`` is lazy: it parses the header and stops, so measuring a large
    JPEG costs microseconds and no pixel memory.
    """
    if not data:
        raise ImageError("not an image: the response body is empty")
    # No warnings.catch_warnings() here: it swaps process-wide state and is not
    # thread-safe, and many workers measure at once. The pixel limit below refuses
    # what Pillow would only warn about.
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except UnidentifiedImageError:
        raise ImageError(
            f"not an image: {len(data)} bytes that no supported format recognises"
        ) from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - hostile bytes can break any decoder step
        raise ImageError(f"not an image: {type(exc).__name__}: {exc}") from None
    if width * height > MAX_PIXELS:
        raise ImageError(f"refused: {width}x{height} pixels exceeds the limit of {MAX_PIXELS}")
    if width <= 0 or height <= 0:
        raise ImageError(f"not an image: it claims a size of {width}x{height}")
    return width, height


def perimeter(width: int, height: int) -> int:
    """The spec's measure: 2 * (height + width), in pixels."""
    return 2 * (height + width)
