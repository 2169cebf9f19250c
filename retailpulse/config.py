"""Service-wide settings, gathered in one frozen object so every layer reads the same values."""

import os
import warnings
from dataclasses import InitVar, dataclass

__all__ = ["ServiceConfig", "env_flag", "warn_workers_renamed"]

MIB = 1024 * 1024
DEFAULT_DOWNLOADERS = 6


def env_flag(name: str) -> bool:
    """Read a yes/no environment variable the way shells and containers spell it."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Limits and knobs of one running service.

    ``gpu_slots`` is how many images spend their simulated GPU time at once, across
    all jobs (the spec's W; ``--workers`` on the command line). ``downloaders`` is
    the number of threads that download and measure; ``None`` means
    ``min(gpu_slots, 6)``. Together they bound the threads the service uses, however
    many jobs or images arrive. ``workers=`` is the old name of ``gpu_slots``: it
    still works, with a ``DeprecationWarning``.
    ``max_active_jobs`` has no effect any more (a node holds at most about twice
    ``gpu_slots`` images at a time, in chunks that jobs take turns to get).
    """

    gpu_slots: int = 64
    downloaders: int | None = None
    max_active_jobs: int = 32
    allow_private_urls: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    download_timeout: float = 60.0
    max_image_bytes: int = 20 * MIB
    max_redirects: int = 5
    retries: int = 3
    retry_backoff: float = 0.5
    retry_backoff_max: float = 10.0
    min_sleep: float = 0.1
    max_sleep: float = 0.4
    ask_timeout: float = 10.0
    stop_timeout: float = 10.0
    max_body_bytes: int = 32 * MIB
    retention: float = 7 * 24 * 3600.0
    """Seconds a finished job is kept (status, results) before it is purged."""
    max_images_per_job: int = 100_000
    max_url_length: int = 8 * 1024
    """Longest image URL, in characters; longer ones are a 400 naming the field."""
    lease_seconds: float = 15.0
    """Cluster (PostgreSQL) only: how long a chunk claimed by a node stays its own
    without a heartbeat; a node killed mid-job has its chunks taken over after it."""
    heartbeat_seconds: float = 1.0
    """Cluster only: how often a node renews its leases and learns of cancels."""
    workers: InitVar[int | None] = None
    """Deprecated: the old name of ``gpu_slots``."""

    def __post_init__(self, workers: int | None) -> None:
        if workers is not None:
            warn_workers_renamed(stacklevel=4)
            object.__setattr__(self, "gpu_slots", workers)
        if self.gpu_slots < 1:
            raise ValueError("gpu_slots must be at least 1")
        if self.downloaders is not None and self.downloaders < 1:
            raise ValueError("downloaders must be at least 1")
        if self.max_active_jobs < 1:
            raise ValueError("max_active_jobs must be at least 1")
        if not 0 <= self.min_sleep <= self.max_sleep:
            raise ValueError("need 0 <= min_sleep <= max_sleep")
        if self.retention <= 0:
            raise ValueError("retention must be positive")
        _check_limits(self)

    @property
    def download_threads(self) -> int:
        """The downloaders actually started: never more than the slots they serve."""
        return min(self.gpu_slots, self.downloaders or DEFAULT_DOWNLOADERS)


def warn_workers_renamed(stacklevel: int) -> None:
    """Say once per call site that ``workers=`` is now ``gpu_slots=``."""
    warnings.warn(
        "workers= is deprecated: it is the number of simulated GPU slots, now gpu_slots=",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def _check_limits(config: ServiceConfig) -> None:
    """The download and request limits: a zero or negative one would refuse
    everything or nothing, so it is a configuration mistake, said at start-up."""
    for name in ("connect_timeout", "read_timeout", "download_timeout"):
        if not getattr(config, name) > 0:
            raise ValueError(f"{name} must be above 0 seconds")
    for name in ("max_image_bytes", "max_body_bytes", "max_images_per_job", "max_url_length"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1")
    for name in ("max_redirects", "retries", "retry_backoff", "retry_backoff_max"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name} must be 0 or more")
