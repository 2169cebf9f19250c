"""Retail Pulse: measure store-visit images job by job, on an actor system.

The package root re-exports the embedding API so that a program can write
``with retailpulse.start() as service: ...`` without learning the module layout.
"""

from retailpulse.config import ServiceConfig
from retailpulse.errors import (
    LimitExceededError,
    ServiceBusyError,
    UnknownJobError,
    ValidationError,
)
from retailpulse.startup import start
from retailpulse.system import System

__version__ = "0.1.0"

__all__ = [
    "LimitExceededError",
    "ServiceBusyError",
    "ServiceConfig",
    "System",
    "UnknownJobError",
    "ValidationError",
    "__version__",
    "start",
]
