"""Shared fixtures for driving one actor in isolation, with the public probes of
``retailpulse.testing``."""

from collections.abc import Callable

import pytest

from retailpulse.stores import Store, StoreMaster
from retailpulse.testing import WAIT, Probe, wait_until, wait_until_stopped

__all__ = ["WAIT", "Probe", "wait_until", "wait_until_stopped"]


@pytest.fixture
def probe() -> Callable[[str], Probe]:
    """Start a recording probe actor: ``probe("manager")``."""
    return Probe


@pytest.fixture
def store_master() -> StoreMaster:
    """A store master with three stores, S1, S2 and S3."""
    return StoreMaster(Store(f"S{n}", f"Store {n}", f"A{n}") for n in (1, 2, 3))
