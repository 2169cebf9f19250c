"""Reference data the service checks jobs against (the store master)."""

from retailpulse.stores.master import (
    DEFAULT_STORE_MASTER,
    Store,
    StoreMaster,
    StoreMasterError,
    load_store_master,
)

__all__ = [
    "DEFAULT_STORE_MASTER",
    "Store",
    "StoreMaster",
    "StoreMasterError",
    "load_store_master",
]
