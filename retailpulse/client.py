"""A small HTTP client for the Retail Pulse API, used by the command line and the demo.

It speaks only the documented HTTP contract, so it works against any running
service, and turns each way a call can go wrong into one exception class that a
caller (the CLI) can map to a message and an exit code.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import requests

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_URL",
    "RECONNECT_FOR",
    "URL_ENV",
    "Client",
    "ClientError",
    "ConflictError",
    "JobNotFoundError",
    "RejectedError",
    "ServerError",
    "UnauthorizedError",
    "UnreachableError",
    "new_idempotency_key",
]

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "RETAILPULSE_URL"
API_KEY_ENV = "RETAILPULSE_API_KEY"
SUBMIT_ATTEMPTS = 3
"""Tries of one submit when the service is unreachable or busy (same Idempotency-Key)."""

StatusCallback = Callable[[dict[str, Any]], None]
LostCallback = Callable[["ClientError | None", float], None]
"""Told ``(error, seconds left)`` when polls start failing, ``(None, 0)`` once they work again."""

RECONNECT_FOR = 60.0
"""How long ``wait`` keeps polling a service it cannot reach: time enough for a restart."""


class ClientError(Exception):
    """A call to the service did not give the answer asked for; the message says why."""


class UnreachableError(ClientError):
    """No connection, or no answer in time."""


class ServerError(ClientError):
    """The service answered, but not as the contract says (5xx, not JSON...)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RejectedError(ClientError):
    """The service refused the payload (HTTP 400); ``field`` names the offending part."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


class JobNotFoundError(ClientError):
    """The service knows no job with this id (or it is another API key's)."""


class UnauthorizedError(ClientError):
    """The service wants an API key, or refused the one given (HTTP 401)."""


class ConflictError(ClientError):
    """The job is not in a state the call applies to (HTTP 409: retry of a job not failed)."""


def new_idempotency_key() -> str:
    """A fresh key for one submit (a UUID 4): its retries then make one job."""
    return str(uuid.uuid4())


_GATEWAY = frozenset({502, 504})
"""A proxy's answers while the service behind it is down: polled again like no answer."""


class Client:
    """Calls one service at ``base_url`` (e.g. ``http://127.0.0.1:8080``), with
    ``api_key`` as a bearer token when given."""

    def __init__(
        self, base_url: str = DEFAULT_URL, timeout: float = 10.0, api_key: str | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._session = requests.Session()
        if api_key:
            self._session.headers["Authorization"] = f"Bearer {api_key}"

    def close(self) -> None:
        self._session.close()

    def submit(self, body: bytes, idempotency_key: str | None = None) -> int:
        """Submit a payload, as JSON bytes, and return the new job's id.

        The bytes go to the service as they are, so the service's own validation
        (and its messages naming the field) applies, not a second copy of it here.
        With an ``idempotency_key`` a submit that got no answer (unreachable, timed
        out, 503) is sent again, up to ``SUBMIT_ATTEMPTS`` times: the service makes
        one job of them all.
        """
        attempts = SUBMIT_ATTEMPTS if idempotency_key else 1
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        for attempt in range(1, attempts + 1):
            try:
                answer = self._call("POST", "/api/submit/", data=body, headers=headers)
                break
            except (UnreachableError, ServerError) as exc:
                busy = not isinstance(exc, ServerError) or exc.status == 503
                if attempt == attempts or not busy:
                    raise
                time.sleep(0.5 * attempt)
        job_id = answer.get("job_id")
        if not isinstance(job_id, int):
            raise ServerError(f"{self.base_url} answered the submission without a job id")
        return job_id

    def status(self, job_id: int) -> dict[str, Any]:
        return self._call("GET", "/api/status", job_id=job_id)

    def results(self, job_id: int) -> dict[str, Any]:
        return self._call("GET", "/api/results", job_id=job_id)

    def retry(self, job_id: int) -> dict[str, Any]:
        """Run a failed job again for its failed images; its status, ``ongoing``."""
        return self._call("POST", "/api/retry", job_id=job_id)

    def stores(self, job_id: int, by: str = "store") -> dict[str, Any]:
        """Figures per store (``{"stores": [...]}``) or per area (``by="area"``,
        ``{"areas": [...]}``)."""
        return self._call(
            "GET", f"/api/stores?by={'area' if by == 'area' else 'store'}", job_id=job_id
        )

    def stream_results(self, job_id: int, fmt: str = "csv") -> Iterator[bytes]:
        """The job's results in ``fmt`` (``json``, ``csv``, ``ndjson``) as the service
        sends them, chunk by chunk: a job of any size without holding it whole.

        The request is made and checked at once (errors raise here); the body is read
        as the iterator is consumed.
        """
        url = f"{self.base_url}/api/results"
        params = {"jobid": str(job_id), "format": fmt}
        try:
            response = self._session.get(url, params=params, timeout=self._timeout, stream=True)
        except requests.RequestException as exc:
            raise UnreachableError(f"cannot reach the service at {self.base_url} ({exc})") from None
        if response.status_code != 200:
            response.close()
            if response.status_code == 400:
                raise JobNotFoundError(f"the service at {self.base_url} has no job {job_id}")
            if response.status_code == 401:
                raise self._unauthorized()
            raise ServerError(
                f"GET {url} answered HTTP {response.status_code}", response.status_code
            )
        return self._chunks(response)

    @staticmethod
    def _chunks(response: requests.Response) -> Iterator[bytes]:
        try:
            yield from response.iter_content(64 * 1024)
        except requests.RequestException as exc:
            raise UnreachableError(f"the results stream broke off ({exc})") from None
        finally:
            response.close()

    def cancel(self, job_id: int) -> dict[str, Any]:
        """Cancel a job: its status document plus ``cancelled`` (false if it had ended)."""
        return self._call("POST", "/api/cancel", job_id=job_id)

    def jobs(self, limit: int | None = None, after: int | None = None) -> dict[str, Any]:
        """A page of recent jobs, newest first: ``{"jobs": [...], "next": cursor}``."""
        params = {k: str(v) for k, v in (("limit", limit), ("after", after)) if v is not None}
        return self._call("GET", "/api/jobs", params=params)

    def metrics(self) -> str:
        """The ``/metrics`` page (Prometheus text format)."""
        try:
            response = self._session.get(self.base_url + "/metrics", timeout=self._timeout)
        except requests.RequestException as exc:
            raise UnreachableError(f"cannot reach {self.base_url}/metrics ({exc})") from None
        if response.status_code == 401:
            raise self._unauthorized()
        if response.status_code != 200:
            raise ServerError(
                f"GET /metrics answered HTTP {response.status_code}", response.status_code
            )
        return response.text

    def _unauthorized(self) -> UnauthorizedError:
        given = "Authorization" in self._session.headers
        return UnauthorizedError(
            f"the service at {self.base_url} refused the API key (unknown or revoked)"
            if given
            else f"the service at {self.base_url} needs an API key (--api-key or {API_KEY_ENV})"
        )

    def wait(
        self,
        job_id: int,
        *,
        interval: float = 0.25,
        timeout: float | None = None,
        on_status: StatusCallback | None = None,
        reconnect_for: float = RECONNECT_FOR,
        on_lost: LostCallback | None = None,
    ) -> dict[str, Any]:
        """Poll the status every ``interval`` seconds until the job ends; return the last.

        ``on_status`` sees every status read (for a progress bar). A busy service
        (503) is asked again at the next interval. A service that cannot be reached,
        or answers 502 or 504 (a proxy in front of a restarting one), is asked again
        for up to ``reconnect_for`` seconds, as a restarted service resumes its jobs;
        ``on_lost`` hears when that starts and ends. Then the last error is raised.
        Raises ``TimeoutError`` when the job is still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        lost_since: float | None = None
        while True:
            try:
                status = self.status(job_id)
            except ServerError as exc:
                if exc.status == 503:  # overloaded for a moment: ask again next time
                    pass
                elif exc.status in _GATEWAY:
                    lost_since = _still_lost(exc, lost_since, reconnect_for, on_lost)
                else:
                    raise
            except UnreachableError as exc:
                lost_since = _still_lost(exc, lost_since, reconnect_for, on_lost)
            else:
                if lost_since is not None:
                    lost_since = None
                    if on_lost is not None:
                        on_lost(None, 0.0)
                if on_status is not None:
                    on_status(status)
                if status.get("status") != "ongoing":
                    return status
            if deadline is not None and time.monotonic() + interval > deadline:
                raise TimeoutError(f"job {job_id} is still running after {timeout:g} s")
            time.sleep(interval)

    def _call(
        self,
        method: str,
        path: str,
        *,
        job_id: int | None = None,
        data: bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = self.base_url + path
        if job_id is not None:
            params = {"jobid": str(job_id)}
        headers = dict(headers or {})
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._session.request(
                method, url, params=params, data=data, headers=headers, timeout=self._timeout
            )
        except requests.Timeout:
            message = f"{self.base_url} did not answer within {self._timeout:g} s"
            raise UnreachableError(message) from None
        except requests.RequestException as exc:
            raise UnreachableError(
                f"cannot reach the service at {self.base_url} ({type(exc).__name__}); "
                f"is `retailpulse serve` running there? (set --url or {URL_ENV})"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ServerError(
                f"{method} {url} answered HTTP {response.status_code} with no JSON object",
                response.status_code,
            )
        if response.status_code == 401:
            raise self._unauthorized()
        if response.status_code == 400 and job_id is not None:
            raise JobNotFoundError(f"the service at {self.base_url} has no job {job_id}")
        if response.status_code == 409:
            raise ConflictError(str(body.get("error", "the job cannot be retried")))
        if response.status_code in {400, 422}:
            raise RejectedError(
                str(body.get("error", "the payload was rejected")), body.get("field")
            )
        if response.status_code >= 300:
            reason = body.get("error", response.reason)
            raise ServerError(
                f"{method} {url} answered HTTP {response.status_code}: {reason}",
                response.status_code,
            )
        return body


def _still_lost(
    error: ClientError, since: float | None, reconnect_for: float, on_lost: LostCallback | None
) -> float:
    """When polls started failing; raises ``error`` once that is ``reconnect_for`` ago."""
    now = time.monotonic()
    if since is None:
        since = now
        if on_lost is not None:
            on_lost(error, reconnect_for)
    if now - since >= reconnect_for:
        raise error
    return since
