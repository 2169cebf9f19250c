"""Test doubles for Retail Pulse, public so that programs embedding it can test too.

The project's own tests use exactly these: a fetcher that serves images of given
sizes or errors without a network, an instant and a held simulated GPU, a seeded
random source, a manual clock and a stepping timer, recording probe actors with
bounded waits, a real HTTP image server on 127.0.0.1, a loopback server that fails
on cue (errors, hangs, resets, slow drips, lying headers) for retry and fault tests, and a reader
for the ``/metrics`` page.
"""

from retailpulse.testing.fakes import (
    FakeFetcher,
    GatedFetcher,
    HeldGpu,
    InstantGpu,
    ManualClock,
    SeededRandom,
    SteppingTimer,
    image_bytes,
    loopback_fetcher,
)
from retailpulse.testing.faultyserver import (
    Behaviour,
    FaultyServer,
    continue_forever,
    drip,
    drip_head,
    hang,
    hang_up_early,
    raw,
    reset,
    respond,
    stall,
    stream_steadily,
    unsized,
)
from retailpulse.testing.imageserver import SAMPLE_IMAGES, ImageServer, Route, sample_routes
from retailpulse.testing.metrics import metric_samples, metric_value
from retailpulse.testing.probes import WAIT, Probe, ProbeActor, wait_until, wait_until_stopped

__all__ = [
    "SAMPLE_IMAGES",
    "WAIT",
    "Behaviour",
    "FakeFetcher",
    "FaultyServer",
    "GatedFetcher",
    "HeldGpu",
    "ImageServer",
    "InstantGpu",
    "ManualClock",
    "Probe",
    "ProbeActor",
    "Route",
    "SeededRandom",
    "SteppingTimer",
    "continue_forever",
    "drip",
    "drip_head",
    "hang",
    "hang_up_early",
    "image_bytes",
    "loopback_fetcher",
    "metric_samples",
    "metric_value",
    "raw",
    "reset",
    "respond",
    "sample_routes",
    "stall",
    "stream_steadily",
    "unsized",
    "wait_until",
    "wait_until_stopped",
]
