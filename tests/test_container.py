"""The optional Dockerfile and compose file, checked without a Docker engine.

No engine runs here, so these tests keep the files honest the cheap way: the
command they run parses with the real CLI, the files they copy exist, and the
health check asks the route that the app serves.
"""

import json
import re
from pathlib import Path

from retailpulse.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = (ROOT / "compose.yaml").read_text()


def instruction(name: str) -> str:
    """The argument of the last instruction ``name``, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line for line in joined.splitlines() if line.startswith(f"{name} ")]
    assert lines, f"no {name} in the Dockerfile"
    return lines[-1][len(name) + 1 :].strip()


def test_the_image_runs_retailpulse_serve_on_all_interfaces_port_8080() -> None:
    entrypoint = json.loads(instruction("ENTRYPOINT"))
    command = json.loads(instruction("CMD"))

    args = build_parser().parse_args(command)

    assert entrypoint == ["retailpulse"]
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8080)
    assert instruction("EXPOSE") == "8080"


def test_the_image_runs_as_a_non_root_user_on_python_3_11() -> None:
    assert instruction("FROM").startswith("python:3.11-slim")
    assert instruction("USER") not in {"root", "0"}


def test_the_health_check_asks_healthz_on_the_served_port() -> None:
    check = instruction("HEALTHCHECK")

    assert "http://127.0.0.1:8080/healthz" in check


def test_every_copied_file_exists() -> None:
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source


def test_the_compose_command_parses_with_the_real_cli() -> None:
    [command] = re.findall(r"^\s*command:\s*(\[.*\])\s*$", COMPOSE, re.MULTILINE)

    args = build_parser().parse_args(json.loads(command))

    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 8080)
