"""A job's results as bytes, page by page: JSON, CSV and NDJSON, for streamed answers.

Each function takes an iterator of ``ImagePage`` and yields one chunk per page, so
the document is never whole in memory: the HTTP layer hands the generator to the
WSGI server, which sends each chunk as it comes (chunked transfer encoding).
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from retailpulse.model import ImagePage, ImageResult

__all__ = [
    "CSV_COLUMNS",
    "CSV_TYPE",
    "FORMATS",
    "NDJSON_TYPE",
    "csv_chunks",
    "json_chunks",
    "ndjson_chunks",
    "spreadsheet_safe",
]

FORMATS = ("json", "csv", "ndjson")
CSV_TYPE = "text/csv; charset=utf-8; header=present"
NDJSON_TYPE = "application/x-ndjson"

CSV_COLUMNS = (
    "store_id",
    "store_name",
    "area_code",
    "image_url",
    "status",
    "width",
    "height",
    "perimeter",
    "error",
)
_TEXT_COLUMNS = frozenset({"store_id", "store_name", "area_code", "image_url", "error"})
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def json_chunks(
    head: dict[str, Any], pages: Iterable[ImagePage], next_after: int | None
) -> Iterator[bytes]:
    """``{...head, "images": [...], "next": next_after}``, the head first, at once."""
    opening = _dumps(head)
    yield f'{opening[:-1]}{", " if head else ""}"images": ['.encode()
    first = True
    for page in pages:
        if not page.images:
            continue
        items = ", ".join(_dumps(image.to_dict()) for image in page.images)
        yield (items if first else ", " + items).encode()
        first = False
    yield f'], "next": {_dumps(next_after)}}}'.encode()


def ndjson_chunks(pages: Iterable[ImagePage]) -> Iterator[bytes]:
    """One image's JSON object per line."""
    for page in pages:
        if page.images:
            yield "".join(_dumps(image.to_dict()) + "\n" for image in page.images).encode()


def csv_chunks(pages: Iterable[ImagePage]) -> Iterator[bytes]:
    """A header row, then one row per image; empty cells for missing values."""
    yield _csv_rows([CSV_COLUMNS])
    for page in pages:
        if page.images:
            yield _csv_rows(_csv_row(image) for image in page.images)


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet will show, not run: a cell starting like a formula (``=``,
    ``+``, ``-``, ``@``, tab, CR) gets a leading apostrophe, as OWASP advises."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_row(image: ImageResult) -> list[Any]:
    values = image.to_dict()
    row: list[Any] = []
    for column in CSV_COLUMNS:
        value = values[column]
        if value is None:
            row.append("")
        elif column in _TEXT_COLUMNS:
            row.append(spreadsheet_safe(str(value)))
        else:
            row.append(value)
    return row


def _csv_rows(rows: Iterable[Iterable[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()
