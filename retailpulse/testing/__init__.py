"""Test doubles for Retail Pulse, public so that programs embedding it can test too.

The project's own tests use exactly these: a fetcher that serves images of given
sizes or errors without a network, an instant sleeper, a seeded random source, a
manual clock, a real HTTP image server on 127.0.0.1, and a loopback server that
fails on cue (errors, hangs, resets, slow drips) for retry and fault tests.
"""

from retailpulse.testing.fakes import (
    FakeFetcher,
    InstantSleeper,
    ManualClock,
    SeededRandom,
    image_bytes,
)
from retailpulse.testing.faultyserver import (
    Behaviour,
    FaultyServer,
    drip,
    hang,
    hang_up_early,
    reset,
    respond,
)
from retailpulse.testing.imageserver import SAMPLE_IMAGES, ImageServer, Route, sample_routes

__all__ = [
    "SAMPLE_IMAGES",
    "Behaviour",
    "FakeFetcher",
    "FaultyServer",
    "ImageServer",
    "InstantSleeper",
    "ManualClock",
    "Route",
    "SeededRandom",
    "drip",
    "hang",
    "hang_up_early",
    "image_bytes",
    "reset",
    "respond",
    "sample_routes",
]
