"""The actor system: JobManager -> ChunkActor (one per claimed chunk) -> Dispatcher ->
ImageWorker pool, and the JobStoreActor that owns the job store."""

from retailpulse.actors.chunk import ChunkActor, ChunkFactory
from retailpulse.actors.dispatcher import Dispatcher, WorkerFactory
from retailpulse.actors.manager import JobManager
from retailpulse.actors.messages import GetPoolStats, PoolStats
from retailpulse.actors.store import JobStoreActor, StoreFactory
from retailpulse.actors.worker import ImageWorker

__all__ = [
    "ChunkActor",
    "ChunkFactory",
    "Dispatcher",
    "GetPoolStats",
    "ImageWorker",
    "JobManager",
    "JobStoreActor",
    "PoolStats",
    "StoreFactory",
    "WorkerFactory",
]
