"""Tests of the download subsystem: fetching, the address guard, guarded connections, retries."""
