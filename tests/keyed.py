"""A live service with API keys (alice, bob and the admin ops), for HTTP and CLI tests."""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

import retailpulse
from retailpulse.http import HttpServer, create_app
from retailpulse.keys import add_key
from retailpulse.system import System


@dataclass
class KeyedService:
    url: str
    system: System
    keys: dict[str, str]
    """Name -> key: ``alice`` and ``bob`` (users), ``ops`` (admin)."""
    key_file: Path

    def call(self, method: str, path: str, who: str | None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if who is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(who, who)}"
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kwargs)

    def submit(self, who: str, payload: dict[str, Any], **headers: str) -> int:
        response = self.call("POST", "/api/submit/", who, json=payload, headers=headers)
        assert response.status_code == 201, response.text
        job_id: int = response.json()["job_id"]
        return job_id

    def wait(self, who: str, job_id: int) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            response = self.call("GET", "/api/status", who, params={"jobid": job_id})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] != "ongoing":
                return body
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} still ongoing after 20 s")


def keyed_service(tmp_path: Path) -> Iterator[KeyedService]:
    """Start one on real waitress; the ``keyed`` fixture of tests/conftest.py."""
    key_file = tmp_path / "keys"
    keys = {
        "alice": add_key(key_file, "alice"),
        "bob": add_key(key_file, "bob"),
        "ops": add_key(key_file, "ops", admin=True),
    }
    with retailpulse.start(gpu_slots=4, allow_private_urls=True, api_keys=key_file) as system:
        server = HttpServer(create_app(system), "127.0.0.1", 0).start()
        try:
            yield KeyedService(server.url, system, keys, key_file)
        finally:
            assert server.stop(timeout=5)
