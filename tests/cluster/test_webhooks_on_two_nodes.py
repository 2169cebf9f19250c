"""Two real ``retailpulse serve`` nodes on one PostgreSQL database, both sending
completion webhooks: each delivery is claimed in the database, so each webhook
reaches the receiver once, however the two nodes' looks at the store interleave."""

import base64
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from retailpulse.testing import ImageServer
from retailpulse.testing.nodes import Node
from tests.receiver import WebhookReceiver

SECRET = "whsec_" + base64.b64encode(b"retail-pulse-cluster-webhook-key!").decode()
FAST = ("--min-sleep", "0.01", "--max-sleep", "0.02", "--webhook-secret", SECRET)
STORE = "S00339218"
JOBS = 6
HOLD = 0.5
"""Seconds the receiver holds each answer: a send long enough that the other node's
once-a-second look at the store comes while it is in flight."""
QUIET = 2.5
"""Seconds without a POST after which no second send is still coming: a look at the
store every second, plus the hold, plus slack."""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(hold=HOLD) as started:
        yield started


def payload(image_server: ImageServer, n: int, callback_url: str) -> dict[str, Any]:
    url = image_server.url(f"/img/shelf.png?webhook-job={n}")
    return {
        "count": 1,
        "visits": [{"store_id": STORE, "image_url": [url], "visit_time": "t"}],
        "callback_url": callback_url,
    }


def test_two_nodes_on_one_database_send_each_webhook_exactly_once(
    cluster_db: str,
    nodes: Callable[..., Node],
    image_server: ImageServer,
    receiver: WebhookReceiver,
) -> None:
    pair = [nodes(cluster_db, *FAST), nodes(cluster_db, *FAST)]

    job_ids = [pair[n % 2].submit(payload(image_server, n, receiver.url)) for n in range(JOBS)]
    arrived = [
        (r.headers["webhook-id"], r.document["job_id"])
        for r in receiver.until_quiet(JOBS, QUIET, within=60.0)
    ]
    states = [pair[0].get("/api/status", jobid=job_id)["webhook"] for job_id in job_ids]

    sends = Counter(webhook_id for webhook_id, _ in arrived)
    assert sorted(sends.values()) == [1] * JOBS, sends
    assert sorted(job for _, job in arrived) == sorted(job_ids)
    assert [(s["state"], s["attempts"]) for s in states] == [("delivered", 1)] * JOBS
