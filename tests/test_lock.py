"""requirements/lock.txt agrees with setup.cfg: every requirement pinned, in range, hashed.

`make` installs the lock with --require-hashes; a requirement added to setup.cfg
without `make lock` would otherwise only show up as a failed install on a fresh clone.
"""

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def declared() -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config["options"]["install_requires"] + config["options.extras_require"]["test"]
    return [Requirement(line) for line in lines.splitlines() if line.strip()]


def locked() -> dict[str, tuple[Version, int]]:
    """Package name: (pinned version, number of hashes)."""
    text = (ROOT / "requirements" / "lock.txt").read_text()
    pins: dict[str, tuple[Version, int]] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==([^ ;\\\n]+)", block)
        if match:
            name = canonicalize_name(match.group(1))
            pins[name] = (Version(match.group(2)), block.count("--hash=sha256:"))
    return pins


def test_every_declared_requirement_is_locked_within_its_range() -> None:
    pins = locked()

    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in setup.cfg but not in the lock: run `make lock`"
        version, _ = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} vs {requirement}"


def test_every_declared_requirement_has_an_upper_bound() -> None:
    unbounded = [
        str(r)
        for r in declared()
        if not any(s.operator in {"<", "<=", "~=", "=="} for s in r.specifier)
    ]

    assert unbounded == []


def test_every_locked_package_has_a_hash() -> None:
    pins = locked()

    assert len(pins) > 20
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []
