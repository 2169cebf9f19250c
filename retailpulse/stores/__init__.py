"""Where data lives: the store master (reference data) and the job store (every job)."""

from retailpulse.stores.jobstore import (
    Creation,
    Delivery,
    DeliveryAttempt,
    IdempotencyClaim,
    JobMeta,
    JobStore,
    JobStoreError,
    OutcomeRecord,
)
from retailpulse.stores.master import (
    DEFAULT_STORE_MASTER,
    Store,
    StoreMaster,
    StoreMasterError,
    load_store_master,
)
from retailpulse.stores.memory import MemoryJobStore
from retailpulse.stores.sqlite import SqliteJobStore

__all__ = [
    "DEFAULT_STORE_MASTER",
    "Creation",
    "Delivery",
    "DeliveryAttempt",
    "IdempotencyClaim",
    "JobMeta",
    "JobStore",
    "JobStoreError",
    "MemoryJobStore",
    "OutcomeRecord",
    "SqliteJobStore",
    "Store",
    "StoreMaster",
    "StoreMasterError",
    "load_store_master",
]
