"""Image measurement: bytes in, size out. No network, no actors, so it is trivially testable."""

import io
import warnings

from PIL import Image, UnidentifiedImageError

__all__ = ["ImageError", "measure", "perimeter"]

MAX_PIXELS = 200_000_000
"""Larger images are refused: a few bytes can claim gigapixels (decompression bomb)."""


class ImageError(Exception):
    """The bytes are not an image Pillow can read; the message says why in plain words."""


def measure(data: bytes) -> tuple[int, int]:
    """Return (width, height), reading only the header Pillow needs.

    ``Image.open`` is lazy: it parses the header and stops, so measuring a large
    JPEG costs microseconds and no pixel memory.
    """
    if not data:
        raise ImageError("not an image: the response body is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except UnidentifiedImageError:
        raise ImageError(
            f"not an image: {len(data)} bytes that no supported format recognises"
        ) from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageError(f"refused: {exc}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"not an image: {exc}") from None
    if width * height > MAX_PIXELS:
        raise ImageError(f"refused: {width}x{height} pixels exceeds the limit of {MAX_PIXELS}")
    if width <= 0 or height <= 0:
        raise ImageError(f"not an image: it claims a size of {width}x{height}")
    return width, height


def perimeter(width: int, height: int) -> int:
    """The spec's measure: 2 * (height + width), in pixels."""
    return 2 * (height + width)
