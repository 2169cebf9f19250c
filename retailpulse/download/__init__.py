"""Downloading images: one subsystem, bounded in time, size and destination.

``fetcher`` downloads one URL (``HttpFetcher``, the production ``Fetcher``);
``guard`` decides which addresses may be connected to; ``connections`` makes
sockets only to addresses the guard allowed; ``retries`` is the retry policy,
bounded by each image's deadline. ``FetchError`` belongs to the ``Fetcher`` port
(``retailpulse.ports``) and is re-exported here for convenience.
"""

from retailpulse.download.fetcher import HttpFetcher
from retailpulse.download.guard import AddressGuard, BlockedAddressError, is_public_address
from retailpulse.ports import FetchError

__all__ = ["AddressGuard", "BlockedAddressError", "FetchError", "HttpFetcher", "is_public_address"]
