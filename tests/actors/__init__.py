"""Unit tests of the actors, each driven alone with fakes and probes."""
