"""The submit payload: parsed once, at the edge, into immutable values.

Validation happens before a job id is issued, so a bad request never creates a
job, and every error names the JSON path of the field to fix
(``visits[1].image_url[0]``), because "bad request" alone helps nobody.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from retailpulse.errors import LimitExceededError, ValidationError

__all__ = [
    "DEFAULT_MAX_URL_LENGTH",
    "ImageSpec",
    "Submission",
    "Visit",
    "check_url_thoroughly",
    "parse_body",
    "parse_submission",
    "quote",
]


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image to process: the unit that workers receive and results report."""

    store_id: str
    url: str


@dataclass(frozen=True, slots=True)
class Visit:
    store_id: str
    visit_time: str
    image_urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Submission:
    visits: tuple[Visit, ...]
    callback_url: str | None = None
    """Where the job's final status is POSTed when it ends (a signed webhook)."""

    @property
    def count(self) -> int:
        return len(self.visits)

    def images(self) -> Iterator[ImageSpec]:
        """Every image in submission order, which is the order results keep."""
        for visit in self.visits:
            for url in visit.image_urls:
                yield ImageSpec(visit.store_id, url)


DEFAULT_MAX_URL_LENGTH = 8 * 1024
"""Longest image URL accepted, in characters: far above real ones (browsers and CDNs
stop near 8 KiB too), far below the megabytes that each status poll would quote."""

VALUES_PER_IMAGE = 10
"""JSON values a submission may spend per image: one visit of one URL takes five
(``{``, ``[`` and three commas), the rest is room for extra fields and for commas and
brackets inside URLs."""
SPARE_VALUES = 1024


def parse_body(
    body: bytes,
    max_images: int | None = None,
    max_url_length: int = DEFAULT_MAX_URL_LENGTH,
) -> Submission:
    """Decode a raw request body (UTF-8/16/32 JSON) and validate it.

    With ``max_images``, a body that holds more JSON containers and separators than
    a job of that many images could need is refused before it is decoded: parsing
    costs about a hundred bytes of memory per value (32 MiB of ``[],`` took 820 MB),
    while counting bytes costs nothing.
    """
    if max_images is not None:
        _check_structure(body, max_images)
    try:
        document = json.loads(body)
    except ValueError as exc:  # also bad encodings and integers of over 4,300 digits
        raise ValidationError("body", f"is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValidationError("body", "is nested too deeply") from None
    return parse_submission(document, max_url_length)


def _check_structure(body: bytes, max_images: int) -> None:
    """Refuse a body with more values than any job of ``max_images`` images has.

    Counting bytes overcounts (a comma inside a string counts too, as does a byte of
    a UTF-16 character), so the bound only ever errs towards refusing garbage.
    """
    allowed = VALUES_PER_IMAGE * max_images + SPARE_VALUES
    values = body.count(b",") + body.count(b"[") + body.count(b"{")
    if values > allowed:
        raise LimitExceededError(
            "body",
            f"holds over {allowed} JSON values (commas and brackets), more than a job "
            f"of at most {max_images} images needs",
        )


def parse_submission(document: Any, max_url_length: int = DEFAULT_MAX_URL_LENGTH) -> Submission:
    """Validate a decoded JSON document against the submit contract."""
    if not isinstance(document, dict):
        raise ValidationError("body", "must be a JSON object")
    if "count" not in document:
        raise ValidationError("count", "is required")
    count = document["count"]
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValidationError("count", "must be an integer")
    if count < 1:
        raise ValidationError("count", "must be at least 1")
    if "visits" not in document:
        raise ValidationError("visits", "is required")
    raw_visits = document["visits"]
    if not isinstance(raw_visits, list):
        raise ValidationError("visits", "must be a list")
    if count != len(raw_visits):
        raise ValidationError(
            "count",
            f"is {_brief(count)} but visits holds {len(raw_visits)} "
            f"{'entry' if len(raw_visits) == 1 else 'entries'}; they must match",
        )
    visits = tuple(
        _parse_visit(raw, f"visits[{i}]", max_url_length) for i, raw in enumerate(raw_visits)
    )
    callback_url = document.get("callback_url")
    if callback_url is not None:
        _check_url(callback_url, "callback_url", max_url_length)
    return Submission(visits, callback_url)


def _brief(number: int) -> str:
    """The number, unless it is too long to print: Python refuses to turn an
    integer of over 4,300 digits into text, and an embedding caller can pass one."""
    return str(number) if number.bit_length() <= 64 else "a number over 2**64"


def _parse_visit(raw: Any, where: str, max_url_length: int) -> Visit:
    if not isinstance(raw, dict):
        raise ValidationError(where, "must be an object")
    store_id = _text_field(raw, "store_id", where)
    visit_time = _text_field(raw, "visit_time", where)
    if "image_url" not in raw:
        raise ValidationError(f"{where}.image_url", "is required")
    urls = raw["image_url"]
    if not isinstance(urls, list):
        raise ValidationError(f"{where}.image_url", "must be a list of URLs")
    if not urls:
        raise ValidationError(f"{where}.image_url", "must hold at least one URL")
    for j, url in enumerate(urls):
        _check_url(url, f"{where}.image_url[{j}]", max_url_length)
    return Visit(store_id.strip(), visit_time, tuple(urls))


def _text_field(raw: dict[str, Any], key: str, where: str) -> str:
    field = f"{where}.{key}"
    if key not in raw:
        raise ValidationError(field, "is required")
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    _check_text(value, field)
    return value


def _check_url(url: Any, where: str, max_length: int) -> None:
    if not isinstance(url, str):
        raise ValidationError(where, "must be a string")
    if len(url) > max_length:
        raise ValidationError(
            where, f"must be at most {max_length} characters long, not {len(url)}: {quote(url)}"
        )
    simple = _SIMPLE_URL.fullmatch(url)
    if simple and int(simple["port"] or 0) <= MAX_PORT:
        return  # the common case, decided in C; anything else takes the thorough path
    check_url_thoroughly(url, where)


def check_url_thoroughly(url: str, where: str) -> None:
    """The full URL check; ``_check_url`` skips it for URLs of the simplest shape."""
    if _WHITESPACE.search(url):
        raise ValidationError(where, "must be an http(s) URL without spaces")
    _check_text(url, where)
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValidationError(where, f"is not a valid URL: {quote(url)}") from None
    if parts.scheme.lower() not in {"http", "https"} or not host:
        raise ValidationError(where, f"must be an http or https URL with a host, not {quote(url)}")


MAX_PORT = 65535
QUOTE_CHARS = 120
"""How much of a client's text an error message quotes: enough to recognise it."""


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of ``text``, cut to about ``limit`` characters with the length said."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


_SIMPLE_URL = re.compile(
    r"[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.-]+(?::(?P<port>[0-9]{1,5}))?(?:[/?#][!-~]*)?"
)
"""An http(s) URL with a plain host name or IPv4 address, an optional port and printable
ASCII after it: every URL this matches (port at most 65535) passes the thorough checks
below too, which ``tests/test_submission_properties.py`` checks on generated URLs.
Validating 10,000 such URLs takes a few milliseconds instead of 80."""

_WHITESPACE = re.compile(r"\s")
"""Exactly what ``str.isspace`` accepts; a regex scans in C, a 10k-URL job in milliseconds."""

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
"""The Unicode category Cc (C0 and C1 control characters)."""


def _check_text(value: str, where: str) -> None:
    """Refuse text that could not be written back out: JSON lets a client send lone
    surrogates and control characters that no response or log line can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(where, "must be valid Unicode (it holds a lone surrogate)") from None
    if _CONTROL.search(value):
        raise ValidationError(where, "must not contain control characters")
