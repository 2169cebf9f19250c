"""Exceptions that the embedding API raises, so callers can tell client faults from ours."""

__all__ = [
    "IdempotencyKeyReusedError",
    "JobNotFailedError",
    "LimitExceededError",
    "ServiceBusyError",
    "UnknownJobError",
    "ValidationError",
]


class ValidationError(ValueError):
    """A submitted payload is malformed; ``field`` names the offending JSON path.

    The field is kept apart from the message so that the HTTP layer and programs
    embedding the service can point a user at the exact place to fix.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


class LimitExceededError(ValidationError):
    """A well-formed payload that is larger than this service accepts (HTTP 413).

    A ``ValidationError`` still, so callers that catch those need no change; the
    HTTP layer answers 413 because the request is fine in form, only too big.
    """


class UnknownJobError(LookupError):
    """No job has this id (never issued, or not known to this service)."""

    def __init__(self, job_id: object) -> None:
        super().__init__(f"unknown job id {job_id!r}")
        self.job_id = job_id


class ServiceBusyError(RuntimeError):
    """An actor did not answer in time; the caller may retry (HTTP 503)."""


class IdempotencyKeyReusedError(ValidationError):
    """An ``Idempotency-Key`` already used, within 24 hours, for a different body
    (HTTP 422): sending it again cannot succeed, and a new key makes a new job."""

    def __init__(self) -> None:
        super().__init__(
            "Idempotency-Key",
            "was used for a different submission in the last 24 hours; use a new key for a new job",
        )


class JobNotFailedError(RuntimeError):
    """Only a failed job can be retried (HTTP 409); ``state`` is the job's state now."""

    def __init__(self, job_id: int, state: str) -> None:
        super().__init__(f"job {job_id} is {state}; only a failed job can be retried")
        self.job_id = job_id
        self.state = state
