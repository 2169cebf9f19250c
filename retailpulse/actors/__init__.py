"""The actor system: JobManager -> JobActor (one per job) -> Dispatcher -> ImageWorker pool,
and the JobStoreActor that owns the job store."""

from retailpulse.actors.dispatcher import Dispatcher, WorkerFactory
from retailpulse.actors.job import JobActor
from retailpulse.actors.manager import JobFactory, JobManager, JobOrder
from retailpulse.actors.messages import GetPoolStats, PoolStats
from retailpulse.actors.store import JobStoreActor, StoreFactory
from retailpulse.actors.worker import ImageWorker

__all__ = [
    "Dispatcher",
    "GetPoolStats",
    "ImageWorker",
    "JobActor",
    "JobFactory",
    "JobManager",
    "JobOrder",
    "JobStoreActor",
    "PoolStats",
    "StoreFactory",
    "WorkerFactory",
]
