"""Test doubles for Retail Pulse, public so that programs embedding it can test too.

The project's own tests use exactly these: a fetcher that serves images of given
sizes or errors without a network, an instant and a held simulated GPU, a seeded random source, a
manual clock and a stepping timer, recording probe actors with bounded waits, a
real HTTP image server on 127.0.0.1, and a reader for the ``/metrics`` page.
"""

from retailpulse.testing.fakes import (
    FakeFetcher,
    HeldSleeper,
    InstantSleeper,
    ManualClock,
    SeededRandom,
    SteppingTimer,
    image_bytes,
)
from retailpulse.testing.imageserver import SAMPLE_IMAGES, ImageServer, Route, sample_routes
from retailpulse.testing.metrics import metric_samples, metric_value
from retailpulse.testing.probes import WAIT, Probe, ProbeActor, wait_until, wait_until_stopped

__all__ = [
    "SAMPLE_IMAGES",
    "WAIT",
    "FakeFetcher",
    "HeldSleeper",
    "ImageServer",
    "InstantSleeper",
    "ManualClock",
    "Probe",
    "ProbeActor",
    "Route",
    "SeededRandom",
    "SteppingTimer",
    "image_bytes",
    "metric_samples",
    "metric_value",
    "sample_routes",
    "wait_until",
    "wait_until_stopped",
]
