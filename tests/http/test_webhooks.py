"""Completion webhooks over real HTTP, checked by the test's own receiver on 127.0.0.1.

The receiver verifies each signature with the Standard Webhooks algorithm as the spec
writes it (not with the service's code): HMAC-SHA256 over ``id.timestamp.body`` with
the base64-decoded secret, compared with every ``v1,`` signature in the header.
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.system import System
from tests.receiver import Received, WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"retail-pulse-test-webhook-key-32b").decode()
FAST = (0.3, 0.3, 0.3)
"""Seconds between attempts in these tests (the real schedule starts at 5 s)."""
WAIT = 20.0


def verify(secret: str, received: Received) -> None:
    """The Standard Webhooks verification, as a receiver would write it."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    given = [s.split(",", 1) for s in received.headers["webhook-signature"].split(" ")]
    assert any(
        version == "v1" and hmac.compare_digest(sig.encode(), expected) for version, sig in given
    ), "signature does not verify"
    assert abs(time.time() - int(timestamp)) < 300, "stale timestamp"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as started:
        yield started


class Service:
    """A service with a webhook secret on real waitress; ``restart()`` keeps its data."""

    def __init__(self, data: Path | None, **settings: Any) -> None:
        self._data = data
        self._settings = {
            "gpu_slots": 2,
            "allow_private_urls": True,
            "webhook_secret": SECRET,
            "webhook_schedule": FAST,
            **settings,
        }
        self.system: System
        self.server: HttpServer
        self._start()

    def _start(self) -> None:
        self.system = retailpulse.start(data=self._data, **self._settings)
        self.server = HttpServer(create_app(self.system), "127.0.0.1", 0).start()

    def stop(self) -> None:
        assert self.server.stop(timeout=5)
        self.system.stop()

    def restart(self) -> None:
        self.stop()
        self._start()

    def submit(self, payload: dict[str, Any]) -> requests.Response:
        return requests.post(self.server.url + "/api/submit/", json=payload, timeout=10)

    def status(self, job_id: int) -> dict[str, Any]:
        response = requests.get(
            self.server.url + "/api/status", params={"jobid": job_id}, timeout=10
        )
        assert response.status_code == 200
        body: dict[str, Any] = response.json()
        return body

    def webhook_when(self, job_id: int, state: str) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            webhook: dict[str, Any] = self.status(job_id)["webhook"]
            if webhook["state"] == state:
                return webhook
            time.sleep(0.05)
        raise AssertionError(f"job {job_id}'s webhook never became {state}")


@pytest.fixture
def service() -> Iterator[Service]:
    running = Service(None)
    yield running
    running.stop()


def with_callback(payload: dict[str, Any], url: str) -> dict[str, Any]:
    return {**payload, "callback_url": url}


def test_a_finished_job_is_posted_signed_to_its_callback(
    service: Service, receiver: WebhookReceiver, spec_payload: dict[str, Any]
) -> None:
    job_id = service.submit(with_callback(spec_payload, receiver.url)).json()["job_id"]

    received = receiver.next()

    verify(SECRET, received)
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-id"].startswith("msg_")
    document = received.document
    assert (document["job_id"], document["status"]) == (job_id, "completed")
    assert document["progress"] == {"total": 3, "done": 3, "failed": 0}
    webhook = service.webhook_when(job_id, "delivered")
    assert webhook == {"state": "delivered", "attempts": 1, "last_error": None}


def test_a_failed_job_is_posted_with_its_errors(
    service: Service, receiver: WebhookReceiver, image_server: Any
) -> None:
    payload = {
        "count": 1,
        "callback_url": receiver.url,
        "visits": [
            {
                "store_id": "NOT-A-STORE",
                "image_url": [image_server.url("/img/shelf.png")],
                "visit_time": "t",
            }
        ],
    }
    job_id = service.submit(payload).json()["job_id"]

    received = receiver.next()

    verify(SECRET, received)
    assert received.document["status"] == "failed"
    assert received.document["error"][0]["store_id"] == "NOT-A-STORE"
    assert service.status(job_id)["status"] == "failed"


def test_a_503_is_retried_with_the_same_webhook_id_and_a_fresh_signature(
    service: Service, spec_payload: dict[str, Any]
) -> None:
    with WebhookReceiver(503) as receiver:
        job_id = service.submit(with_callback(spec_payload, receiver.url)).json()["job_id"]

        first, second = receiver.next(), receiver.next()
        webhook = service.webhook_when(job_id, "delivered")

    verify(SECRET, first)
    verify(SECRET, second)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert webhook == {
        "state": "delivered",
        "attempts": 2,
        "last_error": "HTTP 503 Service Unavailable",
    }


def test_a_410_gives_up_at_once(service: Service, spec_payload: dict[str, Any]) -> None:
    with WebhookReceiver(410) as receiver:
        job_id = service.submit(with_callback(spec_payload, receiver.url)).json()["job_id"]
        receiver.next()

        webhook = service.webhook_when(job_id, "failed")
        quiet = receiver.nothing_more(within=1.5)

    assert webhook["attempts"] == 1
    assert "410" in webhook["last_error"]
    assert quiet


def test_a_pending_delivery_survives_a_restart(
    tmp_path: Path, spec_payload: dict[str, Any]
) -> None:
    service = Service(tmp_path / "jobs.db", webhook_schedule=(2.0, 2.0))
    try:
        with WebhookReceiver(503) as receiver:
            job_id = service.submit(with_callback(spec_payload, receiver.url)).json()["job_id"]
            first = receiver.next()
            service.webhook_when(job_id, "pending")
            service.restart()  # before the retry, 2 s after the first attempt, is due

            second = receiver.next()
            webhook = service.webhook_when(job_id, "delivered")
    finally:
        service.stop()

    verify(SECRET, second)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert webhook["attempts"] == 2


@pytest.mark.parametrize(
    ("url", "allow_private", "message"),
    [
        ("ftp://hooks.example/x", True, "http or https"),
        ("http://127.0.0.1:9/x", False, "private"),
        ("http://[::1]:9/x", False, "private"),
        ("http://10.1.2.3/x", False, "private"),
        ("http://localhost:8080/x", False, "private"),
        (17, True, "string"),
    ],
)
def test_a_bad_callback_url_is_400_naming_it(
    spec_payload: dict[str, Any], url: Any, allow_private: bool, message: str
) -> None:
    service = Service(None, allow_private_urls=allow_private)
    try:
        response = service.submit({**spec_payload, "callback_url": url})
    finally:
        service.stop()

    assert response.status_code == 400
    assert response.json()["field"] == "callback_url"
    assert message in response.json()["error"]


def test_a_callback_url_needs_a_webhook_secret(spec_payload: dict[str, Any]) -> None:
    with (
        retailpulse.start(gpu_slots=1) as system,
        pytest.raises(retailpulse.ValidationError, match="webhook-secret"),
    ):
        system.submit({**spec_payload, "callback_url": "https://hooks.example/x"})


def test_a_job_without_a_callback_has_no_webhook_in_its_status(
    service: Service, spec_payload: dict[str, Any]
) -> None:
    job_id = service.submit(spec_payload).json()["job_id"]

    assert "webhook" not in service.status(job_id)
