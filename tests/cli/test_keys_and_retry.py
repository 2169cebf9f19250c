"""``retailpulse keys``, ``retry``, ``--api-key`` and ``serve --api-keys`` as a user runs them."""

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from retailpulse.cli import main
from retailpulse.keys import add_key, read_keyring
from retailpulse.webhooks import WebhookSigner
from tests.keyed import KeyedService
from tests.serving import Served


def test_keys_new_prints_the_key_alone_and_keeps_only_its_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "keys"

    code = main(["keys", "new", "alice", "--file", str(file)])

    out = capsys.readouterr().out
    assert code == 0
    (key,) = out.splitlines()
    assert key.startswith("rp_")
    assert key not in file.read_text()
    assert read_keyring(file).authenticate(key) is not None


def test_keys_list_and_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = str(tmp_path / "keys")
    main(["keys", "new", "alice", "--file", file])
    main(["keys", "new", "ops", "--admin", "--file", file])
    capsys.readouterr()

    assert main(["keys", "list", "--file", file]) == 0
    listed = capsys.readouterr().out
    assert main(["keys", "revoke", "alice", "--file", file]) == 0
    assert main(["keys", "revoke", "alice", "--file", file]) == 2
    main(["keys", "list", "--file", file])

    assert listed.splitlines() == ["alice\tuser", "ops\tadmin"]
    assert capsys.readouterr().out.splitlines() == ["ops\tadmin"]


def test_keys_webhook_secret_prints_a_usable_secret(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "webhook-secret"]) == 0

    WebhookSigner.from_secret(capsys.readouterr().out.strip())


def test_client_commands_send_the_api_key_from_the_flag_or_the_environment(
    keyed: KeyedService,
    spec_payload: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    payload = tmp_path / "job.json"
    payload.write_text(json.dumps(spec_payload))

    refused = main(["submit", str(payload), "--url", keyed.url])
    refused_err = capsys.readouterr().err
    code = main(["submit", str(payload), "--url", keyed.url, "--api-key", keyed.keys["alice"]])
    job_id = int(capsys.readouterr().out)
    monkeypatch.setenv("RETAILPULSE_API_KEY", keyed.keys["bob"])
    bob_sees = main(["status", str(job_id), "--url", keyed.url])

    assert refused == 2
    assert "needs an API key" in refused_err
    assert code == 0
    assert keyed.wait("alice", job_id)["status"] == "completed"
    assert bob_sees == 2  # not bob's job: as if it did not exist


def test_submit_sends_an_idempotency_key_and_one_given_makes_reruns_safe(
    keyed: KeyedService,
    spec_payload: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = tmp_path / "job.json"
    payload.write_text(json.dumps(spec_payload))
    common = [str(payload), "--url", keyed.url, "--api-key", keyed.keys["alice"]]

    ids = []
    for args in (
        common,
        common,
        [*common, "--idempotency-key", "k"],
        [*common, "--idempotency-key", "k"],
    ):
        assert main(["submit", *args]) == 0
        ids.append(int(capsys.readouterr().out))

    assert ids[0] != ids[1]  # a new UUID per run
    assert ids[2] == ids[3]


def test_retry_runs_a_failed_job_again_and_refuses_one_that_is_not_failed(
    keyed: KeyedService, spec_payload: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    payload = {
        "count": 1,
        "visits": [
            {"store_id": "NOT-A-STORE", "image_url": ["https://x.test/a.png"], "visit_time": "t"}
        ],
    }
    job_id = keyed.submit("alice", payload)
    keyed.wait("alice", job_id)
    key = ["--url", keyed.url, "--api-key", keyed.keys["alice"]]

    code = main(["retry", str(job_id), *key, "--wait"])
    out = capsys.readouterr().out
    completed = keyed.submit("alice", spec_payload)
    keyed.wait("alice", completed)
    refused = main(["retry", str(completed), *key])
    err = capsys.readouterr().err

    assert code == 1  # it failed again: the store is still unknown
    assert "failed" in out
    assert keyed.wait("alice", job_id)["attempts"] == 2
    assert refused == 2
    assert "only a failed job" in err


def test_serve_reloads_its_key_file_on_sighup(
    served: Callable[..., Served], tmp_path: Path
) -> None:
    file = tmp_path / "keys"
    main(["keys", "new", "alice", "--file", str(file)])
    server = served("--api-keys", str(file), "--in-memory")
    url = server.url()
    key = add_key(file, "bob")  # after the service read the file

    before = requests.get(url + "/api/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=5)
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        after = requests.get(
            url + "/api/jobs", headers={"Authorization": f"Bearer {key}"}, timeout=5
        )
        if after.status_code == 200:
            break
        time.sleep(0.1)
    code = server.stop(signal.SIGTERM)

    assert before.status_code == 401
    assert after.status_code == 200
    assert code == 0


def test_serve_on_a_public_address_without_keys_warns(served: Callable[..., Served]) -> None:
    server = served("--host", "0.0.0.0", "--in-memory")
    line = server._lines.get(timeout=15)
    code = server.stop(signal.SIGTERM)
    assert server.process.stderr is not None
    err = server.process.stderr.read()

    assert line.startswith("Retail Pulse listening on")
    assert code == 0
    assert "WARNING" in err
    assert "--api-keys" in err
