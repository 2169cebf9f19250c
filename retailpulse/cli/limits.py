"""The ``serve`` options for download and request limits, one per ``ServiceConfig`` field.

Kept apart from ``serve`` so that the list of limits can grow without touching
the command itself: ``add_limit_arguments`` adds the options and
``limit_settings`` turns the parsed values into ``start()`` keywords.
"""

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retailpulse.config import ServiceConfig

__all__ = ["LIMITS", "Limit", "add_limit_arguments", "limit_settings"]


def _number(kind: Callable[[str], Any], low: float, strict: bool) -> Callable[[str], Any]:
    """An argparse type: ``kind`` of the text, above ``low`` (or at least, if not strict)."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value < low or (strict and value == low):
            raise argparse.ArgumentTypeError(
                f"must be {'above' if strict else 'at least'} {low:g}, not {text}"
            )
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


SECONDS = _number(float, 0, strict=True)
COUNT = _number(int, 1, strict=False)
ZERO_OR_MORE = _number(int, 0, strict=False)
PAUSE = _number(float, 0, strict=False)


@dataclass(frozen=True, slots=True)
class Limit:
    field: str
    parse: Callable[[str], Any]
    metavar: str
    help: str

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


LIMITS = (
    Limit("connect_timeout", SECONDS, "SECONDS", "seconds to connect to an image server"),
    Limit("read_timeout", SECONDS, "SECONDS", "seconds an image server may stay silent"),
    Limit("download_timeout", SECONDS, "SECONDS", "seconds for a whole download, retries included"),
    Limit("max_image_bytes", COUNT, "BYTES", "largest image download, in bytes"),
    Limit("max_redirects", ZERO_OR_MORE, "N", "redirects followed per image"),
    Limit("retries", ZERO_OR_MORE, "N", "extra attempts after a transient download failure"),
    Limit(
        "retry_backoff",
        PAUSE,
        "SECONDS",
        "backoff factor in seconds: pauses 0, 2x, 4x... plus jitter",
    ),
    Limit(
        "retry_backoff_max",
        PAUSE,
        "SECONDS",
        "longest pause between attempts (also caps Retry-After)",
    ),
    Limit("max_images_per_job", COUNT, "N", "images one job may hold; more is refused with 413"),
    Limit(
        "max_body_bytes", COUNT, "BYTES", "largest submit body, in bytes; more is refused with 413"
    ),
    Limit("max_url_length", COUNT, "CHARS", "longest image URL; longer is refused with 400"),
)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ServiceConfig()
    group = parser.add_argument_group("limits")
    for limit in LIMITS:
        group.add_argument(
            limit.flag,
            type=limit.parse,
            metavar=limit.metavar,
            default=getattr(defaults, limit.field),
            help=f"{limit.help} (default %(default)s)",
        )


def limit_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed limits as ``start()`` keywords (``ServiceConfig`` field names)."""
    return {limit.field: getattr(args, limit.field) for limit in LIMITS}
