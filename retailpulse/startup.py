"""Starting the service: build the actors, wire them together, resume stored jobs.

``System`` (in ``retailpulse.system``) is what a caller talks to afterwards; this
module decides what runs: which store, which fetcher and simulated GPU, how many
workers and slots, and in what order things start so that a failure leaves
nothing running.
"""

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from retailpulse.actors import (
    Dispatcher,
    ImageWorker,
    JobManager,
    JobStoreActor,
    StoreFactory,
)
from retailpulse.actors.chunk import chunk_factory
from retailpulse.actors.delayline import DelayLine
from retailpulse.actors.messages import AnyRef, CountOngoing, RegisterNode
from retailpulse.actors.metrics import MetricsActor
from retailpulse.actors.webhooks import WebhookActor
from retailpulse.config import ServiceConfig, env_flag, warn_workers_renamed
from retailpulse.download import HttpFetcher
from retailpulse.keys import Keyring, KeyringHolder
from retailpulse.ports import (
    Clock,
    FetcherFactory,
    RandomSource,
    SimulatedGpu,
    default_clock,
    default_random,
)
from retailpulse.stores import (
    DEFAULT_STORE_MASTER,
    MemoryJobStore,
    SqliteJobStore,
    StoreMaster,
    load_store_master,
)
from retailpulse.stores.postgres import PostgresJobStore, is_postgres_url
from retailpulse.system import System
from retailpulse.webhooks import (
    DEFAULT_SCHEDULE,
    SECRET_ENV,
    HttpWebhookSender,
    WebhookSender,
    WebhookSigner,
)
from retailpulse.words import plural

__all__ = ["ALLOW_PRIVATE_ENV", "start"]

logger = logging.getLogger(__name__)

ALLOW_PRIVATE_ENV = "RETAILPULSE_ALLOW_PRIVATE_URLS"

REGISTER_TIMEOUT = 120.0
"""Bound on registering the node at start (a database may be slow to answer)."""


def start(
    config: ServiceConfig | None = None,
    *,
    data: str | Path | None = None,
    store_master: StoreMaster | str | Path | None = None,
    fetcher_factory: FetcherFactory | None = None,
    gpu: SimulatedGpu | None = None,
    random_factory: Callable[[], RandomSource] | None = None,
    clock: Clock | None = None,
    api_keys: str | Path | Keyring | KeyringHolder | None = None,
    webhook_secret: str | None = None,
    webhook_schedule: Sequence[float] = DEFAULT_SCHEDULE,
    webhook_sender: WebhookSender | None = None,
    **settings: Any,
) -> System:
    """Start a Retail Pulse actor system and return it, running.

    ``data`` is the SQLite file that keeps jobs across restarts (created if missing;
    unfinished jobs in it resume at once), or a ``postgresql://user@host:port/dbname``
    URL: the PostgreSQL job store, whose schema is created or migrated now.
    ``None``, the default, keeps jobs in memory only, as tests want. An unusable
    file or database raises ``JobStoreError``.
    ``settings`` override fields of ``ServiceConfig`` (``gpu_slots=8``,
    ``allow_private_urls=True``...). When ``allow_private_urls`` is not given, the
    environment variable ``RETAILPULSE_ALLOW_PRIVATE_URLS=1`` turns it on.
    ``api_keys`` is a key file (see ``retailpulse keys``) or a ``Keyring``: the HTTP
    app then asks every ``/api/*`` request for one of its keys, and jobs are private
    to the key that submitted them. ``webhook_secret`` (``whsec_...``; else the
    environment variable ``RETAILPULSE_WEBHOOK_SECRET``) signs completion webhooks;
    without one, submissions with a ``callback_url`` are refused. An unreadable key
    file raises ``KeyFileError``, a malformed secret ``WebhookSecretError``.
    The keyword-only hooks replace side effects, for tests and simulations
    (``webhook_schedule``: seconds between delivery attempts; ``gpu``: the simulated
    GPU). The old keywords ``workers=`` (now ``gpu_slots=``)
    and ``sleeper=`` (now ``gpu=``) still work, with a ``DeprecationWarning``.
    """
    if "workers" in settings:
        warn_workers_renamed(stacklevel=3)
        settings["gpu_slots"] = settings.pop("workers")
    if "sleeper" in settings:
        warnings.warn("sleeper= is deprecated: it is now gpu=", DeprecationWarning, stacklevel=2)
        gpu = settings.pop("sleeper")
    config = config or ServiceConfig()
    if "allow_private_urls" not in settings and env_flag(ALLOW_PRIVATE_ENV):
        settings["allow_private_urls"] = True
    config = replace(config, **settings)
    if not isinstance(store_master, StoreMaster):
        store_master = load_store_master(store_master or DEFAULT_STORE_MASTER)
    make_fetcher = fetcher_factory or (lambda: HttpFetcher(config))
    make_random = random_factory or default_random
    now = clock or default_clock
    gpu_time_range = (config.min_sleep, config.max_sleep)
    open_store, path = _job_store(data)
    keys = _keys(api_keys)
    secret = webhook_secret if webhook_secret is not None else os.environ.get(SECRET_ENV)
    signer = WebhookSigner.from_secret(secret) if secret else None

    store = JobStoreActor.start(
        open_store, clock=now, retention=config.retention, store_master=store_master
    )
    try:
        # Every store runs the chunk protocol: the node claims the chunks of every
        # unfinished job (its own from before a restart, or any node's), none is handed it.
        node = _register(store, config)
        ongoing, _ = store.ask(CountOngoing(), block=True, timeout=REGISTER_TIMEOUT)
    except BaseException:
        store.stop(timeout=config.stop_timeout)
        raise
    # Started only once the store is open, so a bad data file leaves nothing running.
    metrics = MetricsActor.start(clock=now)
    delay_line = None
    if gpu is None:
        delay_line = gpu = DelayLine().start()
    simulated_gpu: SimulatedGpu = gpu

    def start_worker(dispatcher: AnyRef) -> AnyRef:
        return ImageWorker.start(
            dispatcher, make_fetcher(), make_random(), gpu_time_range, events=metrics
        )

    dispatcher = Dispatcher.start(
        config.download_threads,
        start_worker,
        config.stop_timeout,
        gpu=simulated_gpu,
        slots=config.gpu_slots,
    )

    manager = JobManager.start(
        chunk_factory(dispatcher, store, metrics),
        store,
        node=node,
        gpu_slots=config.gpu_slots,
        clock=time.monotonic,
        lease=config.lease_seconds,
        heartbeat=config.heartbeat_seconds,
        stop_timeout=config.stop_timeout,
        events=metrics,
        dispatcher=dispatcher,
    )
    webhooks = None
    if signer is not None:
        webhooks = WebhookActor.start(
            store,
            webhook_sender or HttpWebhookSender(config),
            signer,
            clock=now,
            random=make_random(),
            schedule=webhook_schedule,
        )
    if ongoing:
        where = path if path is not None else "the shared store"
        logger.info("resuming %s from %s", plural(ongoing, "unfinished job"), where)
    return System(
        config,
        store_master,
        manager,
        dispatcher,
        store=store,
        data=path,
        metrics=metrics,
        delay_line=delay_line,
        keys=keys,
        webhooks=webhooks,
        clock=now,
    )


def _keys(api_keys: str | Path | Keyring | KeyringHolder | None) -> KeyringHolder | None:
    if api_keys is None or isinstance(api_keys, KeyringHolder):
        return api_keys
    if isinstance(api_keys, Keyring):
        return KeyringHolder(keyring=api_keys)
    return KeyringHolder(api_keys)


def _register(store: AnyRef, config: ServiceConfig) -> int:
    """Register this process as a cluster node: a new id, never reused."""
    name = f"{socket.gethostname()}:{os.getpid()}"
    node: int = store.ask(
        RegisterNode(name, config.gpu_slots), block=True, timeout=REGISTER_TIMEOUT
    )
    logger.info("node %d (%s), %d GPU slots", node, name, config.gpu_slots)
    return node


def _job_store(data: str | Path | None) -> tuple[StoreFactory, Path | None]:
    """What opens the job store ``data`` names, and its file (``None``: not a file).

    The store is opened here once first, so that an unusable file or database is
    this plain ``JobStoreError`` and not one returned through the store actor, which
    pykka logs with a traceback. (For PostgreSQL this is also where the schema is
    created or migrated.)
    """
    if data is None:
        return MemoryJobStore, None
    if is_postgres_url(str(data)):
        url = str(data)
        PostgresJobStore(url).close()
        return (lambda: PostgresJobStore(url)), None
    path = Path(data)
    SqliteJobStore(path).close()
    return (lambda: SqliteJobStore(path)), path
