"""Load the store master CSV into an immutable lookup table.

The table is built once at start-up and never changes, so actors may all read
the same instance without any locking.
"""

import csv
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from retailpulse.words import plural

__all__ = ["DEFAULT_STORE_MASTER", "Store", "StoreMaster", "StoreMasterError", "load_store_master"]

DEFAULT_STORE_MASTER = Path(__file__).with_name("store_master.csv")
"""The shipped store master (the assignment's 4,944 stores)."""

_COLUMNS = {"storeid": "store_id", "storename": "store_name", "areacode": "area_code"}
_OTHER_DELIMITERS = {";": "semicolons (;)", "\t": "tabs", "|": "bars (|)"}
"""Delimiters a spreadsheet export may use instead of commas, named in the error."""

logger = logging.getLogger(__name__)


class StoreMasterError(ValueError):
    """The store master file cannot be used; the message says which file and why."""


@dataclass(frozen=True, slots=True)
class Store:
    store_id: str
    store_name: str
    area_code: str


class StoreMaster(Mapping[str, Store]):
    """Read-only mapping of store id to store."""

    def __init__(self, stores: Iterable[Store]) -> None:
        table: dict[str, Store] = {}
        for store in stores:
            table.setdefault(store.store_id, store)
        self._stores = MappingProxyType(table)

    def __getitem__(self, store_id: str) -> Store:
        return self._stores[store_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._stores)

    def __len__(self) -> int:
        return len(self._stores)

    def __repr__(self) -> str:
        return f"StoreMaster({len(self)} stores)"


def _canonical(header: str) -> str:
    """Map any spelling of a column (StoreID, store_id, "Store Id") to one key."""
    key = re.sub(r"[^a-z]", "", header.lower())
    return _COLUMNS.get(key, header)


def load_store_master(
    path: str | Path = DEFAULT_STORE_MASTER, *, allow_empty: bool = False
) -> StoreMaster:
    """Parse a store master CSV; a header row is required, column order is free.

    Cells are trimmed. Odd rows are loaded as well as they can be and counted in
    one warning (a duplicated id keeps its first row, a row with a blank id is
    skipped, a ragged row fills its missing cells with empty text): a master that
    loads silently wrong fails every job of its stores. A master with no store
    at all is refused unless ``allow_empty``, as every job would then fail.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise StoreMasterError(f"{path}: the file is empty")
            at = _columns(path, header)
            rows = [row for row in reader if any(cell.strip() for cell in row)]
    except OSError as exc:
        raise StoreMasterError(f"{path}: cannot read the store master ({exc.strerror})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise StoreMasterError(f"{path}: not a readable CSV file ({exc})") from None
    stores = [_row_to_store(row, at) for row in rows]
    master = StoreMaster(store for store in stores if store.store_id)
    blank = sum(1 for store in stores if not store.store_id)
    oddities = {
        "duplicated store id (the first row of each is kept)": len(stores) - blank - len(master),
        "blank store id (skipped)": blank,
        "cell count unlike the header's (missing cells are empty)": sum(
            1 for row in rows if len(row) != len(header)
        ),
    }
    found = [f"{plural(n, 'row')} with a {what}" for what, n in oddities.items() if n]
    if found:
        logger.warning("store master %s: %s", path, "; ".join(found))
    if not master and not allow_empty:
        raise StoreMasterError(
            f"{path}: no stores in it, so every job would fail "
            "(--allow-empty-store-master starts anyway)"
        )
    return master


def _columns(path: Path, header: list[str]) -> dict[str, int]:
    """Where each known column is; a header without a store id column is refused."""
    columns = [_canonical(name) for name in header]
    if "store_id" in columns:
        return {name: columns.index(name) for name in _COLUMNS.values() if name in columns}
    if len(header) == 1:
        for delimiter, name in _OTHER_DELIMITERS.items():
            if delimiter in header[0]:
                raise StoreMasterError(
                    f"{path}: its header is separated by {name}, not commas; "
                    "the store master must be comma-separated (CSV)"
                )
    raise StoreMasterError(
        f"{path}: no store id column in header {header!r} (expected store_id or StoreID)"
    )


def _row_to_store(row: list[str], at: Mapping[str, int]) -> Store:
    def cell(name: str) -> str:
        index = at.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    return Store(cell("store_id"), cell("store_name"), cell("area_code"))
