"""Events for the metrics actor: what happened, told by the actor it happened in.

They are kept apart from ``messages.py`` because nothing in the job flow depends on
them: an actor given no events ref simply tells nobody, and the service behaves the
same. Every event is a frozen dataclass, told (never asked), so reporting costs
the sender one queue put and no waiting.
"""

from dataclasses import dataclass

__all__ = ["ImageDownloaded", "ImageProcessed", "JobAccepted", "JobEnded", "JobStarted"]


@dataclass(frozen=True, slots=True)
class JobAccepted:
    """Manager -> events: a job was accepted (it may wait for a run slot)."""

    job_id: int
    images: int


@dataclass(frozen=True, slots=True)
class JobStarted:
    """Job -> events: the job actor runs; ``to_download`` of its ``images`` need a worker
    (the others belong to stores missing from the store master).

    ``job`` is the job actor's URN, the key that worker events carry too.
    """

    job_id: int
    job: str
    images: int
    to_download: int


@dataclass(frozen=True, slots=True)
class JobEnded:
    """Job (or manager, for a job cancelled while queued) -> events: the job has ended;
    ``state`` is ``completed``, ``failed`` or ``cancelled``."""

    job_id: int
    job: str
    state: str
    images: int
    failed: int


@dataclass(frozen=True, slots=True)
class ImageDownloaded:
    """One download attempt took ``seconds``; ``size`` is the body's length in bytes,
    or ``None`` when the download failed."""

    seconds: float
    size: int | None


@dataclass(frozen=True, slots=True)
class ImageProcessed:
    """Worker -> events: one image handled for the job actor with URN ``job``.

    ``seconds`` is the worker's whole time on it: download, measurement, GPU work.
    ``download`` is its download attempt (``None`` when the worker crashed first).
    """

    job: str
    ok: bool
    seconds: float
    download: ImageDownloaded | None = None
