"""Load the store master CSV into an immutable lookup table.

The table is built once at start-up and never changes, so actors may all read
the same instance without any locking.
"""

import csv
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

__all__ = ["DEFAULT_STORE_MASTER", "Store", "StoreMaster", "StoreMasterError", "load_store_master"]

DEFAULT_STORE_MASTER = Path(__file__).with_name("store_master.csv")
"""The shipped store master (the assignment's 4,944 stores)."""

_COLUMNS = {"storeid": "store_id", "storename": "store_name", "areacode": "area_code"}


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


def load_store_master(path: str | Path = DEFAULT_STORE_MASTER) -> StoreMaster:
    """Parse a store master CSV; a header row is required, column order is free."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise StoreMasterError(f"{path}: the file is empty")
            columns = [_canonical(name) for name in header]
            if "store_id" not in columns:
                raise StoreMasterError(
                    f"{path}: no store id column in header {header!r} "
                    "(expected store_id or StoreID)"
                )
            at = {name: columns.index(name) for name in _COLUMNS.values() if name in columns}
            stores = [_row_to_store(row, at) for row in reader if any(cell.strip() for cell in row)]
    except OSError as exc:
        raise StoreMasterError(f"{path}: cannot read the store master ({exc.strerror})") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise StoreMasterError(f"{path}: not a readable CSV file ({exc})") from None
    return StoreMaster(store for store in stores if store.store_id)


def _row_to_store(row: list[str], at: Mapping[str, int]) -> Store:
    def cell(name: str) -> str:
        index = at.get(name)
        return row[index].strip() if index is not None and index < len(row) else ""

    return Store(cell("store_id"), cell("store_name"), cell("area_code"))
