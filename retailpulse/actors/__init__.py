"""The actor system: JobManager -> JobActor (one per job) -> Dispatcher -> ImageWorker pool."""

from retailpulse.actors.dispatcher import Dispatcher, GetPoolStats, PoolStats, WorkerFactory
from retailpulse.actors.job import JobActor
from retailpulse.actors.manager import JobFactory, JobManager, JobOrder
from retailpulse.actors.worker import ImageWorker

__all__ = [
    "Dispatcher",
    "GetPoolStats",
    "ImageWorker",
    "JobActor",
    "JobFactory",
    "JobManager",
    "JobOrder",
    "PoolStats",
    "WorkerFactory",
]
