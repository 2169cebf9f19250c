"""The README's examples run as written."""

import json
import subprocess
import sys
from pathlib import Path

from retailpulse.submission import parse_submission

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_embedding_example_completes_and_prints_each_perimeter() -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "embed.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    lines = run.stdout.splitlines()
    assert lines[0] == "job 1: completed"
    assert "550x368  perimeter=1836" in lines[1]
    assert "1280x720  perimeter=4000" in lines[2]


def test_fakes_example_tests_embedding_code_without_network_or_sleep() -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / "with_fakes.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert run.stdout.startswith("ok: largest perimeter 4000")


def test_example_payloads_are_valid_submissions() -> None:
    for name, visits in (("spec_payload.json", 2), ("failing_payload.json", 3)):
        submission = parse_submission(json.loads((EXAMPLES / name).read_text()))
        assert submission.count == visits
