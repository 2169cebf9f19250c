"""``retailpulse serve``: run the HTTP API until Ctrl-C or SIGTERM."""

import argparse
import faulthandler
import ipaddress
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from retailpulse.cli.limits import SECONDS, ZERO_OR_MORE, add_limit_arguments, limit_settings
from retailpulse.client import URL_ENV
from retailpulse.config import ServiceConfig
from retailpulse.http import HttpLimits, HttpServer, create_app
from retailpulse.keys import KeyFileError, KeyringHolder
from retailpulse.logs import LOG_FORMATS, configure_logging
from retailpulse.startup import ALLOW_PRIVATE_ENV, start
from retailpulse.stores import (
    DEFAULT_STORE_MASTER,
    JobStoreError,
    StoreMasterError,
    load_store_master,
)
from retailpulse.stores.postgres import is_postgres_url
from retailpulse.webhooks import SECRET_ENV
from retailpulse.words import plural

__all__ = ["DEFAULT_DATA", "client_url", "http_limits", "positive_int", "register", "run"]

DEFAULT_DATA = "retailpulse.db"
"""The job store file, relative to the working directory, unless --data says otherwise."""
DATA_ENV = "RETAILPULSE_DATA"
"""Where jobs are kept when --data is not given: a SQLite file or a postgresql:// URL."""
STOP_POLL_SECONDS = 0.1
"""How soon a stop signal is acted on (the handler itself only records it)."""

logger = logging.getLogger("retailpulse")


def client_url(host: str, port: int) -> str:
    """The URL a client on this machine uses: a wildcard address is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also NaN
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def positive_days(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 days, not {text}")
    return value


def _where(data: str | None, path: Path | None) -> str:
    """Where the jobs are, for the start-up line (a database URL without its password)."""
    if data is not None and is_postgres_url(data):
        info = conninfo_to_dict(data)
        host, port, name = (info.get(key, "") for key in ("host", "port", "dbname"))
        return f"jobs in PostgreSQL {host}:{port}/{name}"
    return "memory only" if path is None else f"jobs in {path.resolve()}"


def _add_data_arguments(serve: argparse.ArgumentParser) -> None:
    """Where jobs are kept and for how long, and the simulated GPU time (for demos and tests)."""
    defaults = ServiceConfig()
    data = serve.add_mutually_exclusive_group()
    data.add_argument(
        "--data",
        default=os.environ.get(DATA_ENV, DEFAULT_DATA),
        help=(
            "where jobs are kept across restarts: a SQLite file, or "
            "postgresql://user@host:port/dbname for a cluster of nodes sharing one "
            f"PostgreSQL database (default ${DATA_ENV}, else ./{DEFAULT_DATA})"
        ),
    )
    data.add_argument(
        "--in-memory", action="store_true", help="keep jobs in memory only: a restart forgets them"
    )
    serve.add_argument(
        "--retention-days",
        type=positive_days,
        default=defaults.retention / 86400,
        help="days a finished job is kept before it is purged (default %(default)g)",
    )
    serve.add_argument(
        "--lease-seconds",
        type=SECONDS,
        default=defaults.lease_seconds,
        help=(
            "with a postgresql:// --data, how long a chunk a node claimed stays its own "
            "without a heartbeat: a killed node's work goes to the others after it "
            "(default %(default)g)"
        ),
    )
    serve.add_argument(
        "--min-sleep",
        type=seconds,
        default=defaults.min_sleep,
        help="shortest simulated GPU time per image, seconds (default %(default)g)",
    )
    serve.add_argument(
        "--max-sleep",
        type=seconds,
        default=defaults.max_sleep,
        help="longest simulated GPU time per image, seconds (default %(default)g)",
    )


HTTP_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str], ...] = (
    ("threads", "--http-threads", positive_int, "threads for ordinary requests"),
    (
        "heavy_threads",
        "--heavy-http-threads",
        positive_int,
        "threads for costly requests: results, submits over 256 KiB",
    ),
    (
        "heavy_queue",
        "--heavy-queue",
        ZERO_OR_MORE,
        "costly requests that may wait; more get 503 + Retry-After",
    ),
    (
        "connection_limit",
        "--max-connections",
        positive_int,
        "open client connections served at once; more wait",
    ),
    ("head_timeout", "--head-timeout", SECONDS, "seconds to send a request's head"),
    ("request_timeout", "--request-timeout", SECONDS, "seconds to send a whole request"),
    ("idle_timeout", "--idle-timeout", SECONDS, "seconds a kept-alive connection idles"),
)
"""``HttpLimits`` field, option, type, help: what the HTTP server grants its clients."""


def _add_http_arguments(serve: argparse.ArgumentParser) -> None:
    """See docs/hostile-clients.md for what each bounds."""
    defaults = HttpLimits()
    group = serve.add_argument_group("HTTP server")
    for field, flag, kind, what in HTTP_OPTIONS:
        group.add_argument(
            flag,
            type=kind,
            dest=field,
            metavar="SECONDS" if kind is SECONDS else "N",
            default=getattr(defaults, field),
            help=f"{what} (default %(default)s)",
        )


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    serve = commands.add_parser(
        "serve",
        help="serve the HTTP API",
        description=(
            "Run the Retail Pulse service: the HTTP API on --host:--port, jobs kept in the "
            "SQLite file --data (unfinished ones resume at start). Ctrl-C or SIGTERM stops it "
            "after the requests in flight."
        ),
    )
    serve.set_defaults(handler=run)
    defaults = ServiceConfig()
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    serve.add_argument(
        "--port", type=int, default=8080, help="port, 0 for any (default %(default)s)"
    )
    serve.add_argument(
        "--store-master",
        default=str(DEFAULT_STORE_MASTER),
        help="store master CSV (default: the shipped one, 4,944 stores)",
    )
    serve.add_argument(
        "--allow-empty-store-master",
        action="store_true",
        help="start even when the store master holds no store (every job then fails)",
    )
    serve.add_argument(
        "--workers",
        type=positive_int,
        default=defaults.gpu_slots,
        help="simulated GPU slots: images spending their GPU time at once, across all jobs "
        "(ServiceConfig.gpu_slots; default %(default)s)",
    )
    serve.add_argument(
        "--downloaders",
        type=positive_int,
        default=None,
        help="threads that download and measure; at most --workers (default min(--workers, 6))",
    )
    serve.add_argument(  # kept so that old scripts still start; see run()
        "--max-active-jobs", type=positive_int, default=None, help=argparse.SUPPRESS
    )
    serve.add_argument(
        "--allow-private-urls",
        action="store_true",
        help=f"allow downloads from loopback/private addresses (or {ALLOW_PRIVATE_ENV}=1)",
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="(default %(default)s)",
    )
    serve.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="key=value text lines or one JSON object per line (default %(default)s)",
    )
    _add_data_arguments(serve)
    _add_http_arguments(serve)
    _add_access_arguments(serve)
    add_limit_arguments(serve)


def http_limits(args: argparse.Namespace, config: ServiceConfig) -> HttpLimits:
    """The server's limits from the options; the body limit is the service's own."""
    chosen = {field: getattr(args, field) for field, *_ in HTTP_OPTIONS}
    return HttpLimits(max_body_bytes=config.max_body_bytes, **chosen)


def _add_access_arguments(serve: argparse.ArgumentParser) -> None:
    """API keys and the webhook secret (issue 16)."""
    serve.add_argument(
        "--api-keys",
        metavar="FILE",
        default=None,
        help="require an API key from this file (retailpulse keys new) on /api/* and "
        "/metrics; re-read on SIGHUP. Without it the API is open",
    )
    serve.add_argument(
        "--webhook-secret",
        default=None,
        help=f"whsec_... secret that signs completion webhooks (default ${SECRET_ENV}; "
        "prefer it: arguments show in ps). Without one, callback_url is refused",
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _reload_keys(keys: KeyringHolder | None) -> None:
    """SIGHUP: read the key file again, on the main thread (not in the handler)."""
    if keys is None:
        logger.info("SIGHUP: no --api-keys, nothing to reload")
        return
    try:
        keyring = keys.reload()
    except KeyFileError as exc:
        logger.error("SIGHUP: kept the keys in use: %s", exc)
        return
    logger.info("SIGHUP: %d API keys loaded from %s", len(keyring.entries), keys.path)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_format)
    try:
        store_master = load_store_master(
            args.store_master, allow_empty=args.allow_empty_store_master
        )
    except StoreMasterError as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return 2
    settings: dict[str, Any] = {
        "gpu_slots": args.workers,
        "downloaders": args.downloaders,
    }
    if args.max_active_jobs is not None:
        print(
            "retailpulse: --max-active-jobs no longer has an effect: a node works on at most "
            "about twice --workers images at a time, in chunks, and jobs take turns",
            file=sys.stderr,
        )
    settings.update(limit_settings(args))
    if args.allow_private_urls:
        settings["allow_private_urls"] = True
    if args.min_sleep > args.max_sleep:
        print("retailpulse: --min-sleep must not exceed --max-sleep", file=sys.stderr)
        return 2
    settings.update(
        min_sleep=args.min_sleep,
        max_sleep=args.max_sleep,
        retention=args.retention_days * 86400,
        lease_seconds=args.lease_seconds,
    )
    data = None if args.in_memory else args.data
    # A plain list, not a threading.Event: the handler runs on the main thread between
    # two bytecodes, possibly while that thread holds the Event's lock inside wait(),
    # and Event.set() would then wait for that lock forever.
    signals: list[int] = []
    reloads: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)

    def request_reload(signum: int, frame: FrameType | None) -> None:
        reloads.append(signum)

    secret = args.webhook_secret or os.environ.get(SECRET_ENV) or None
    try:
        system = start(
            store_master=store_master,
            data=data,
            api_keys=args.api_keys,
            webhook_secret=secret,
            **settings,
        )
    # ValueError: settings that contradict each other, or a malformed webhook secret
    except (JobStoreError, KeyFileError, ValueError) as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return 2
    with system:
        try:
            server = HttpServer(
                create_app(system), args.host, args.port, limits=http_limits(args, system.config)
            )
        except (OSError, ValueError) as exc:
            print(f"retailpulse: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        # An operator's view into a service that seems stuck: `kill -USR1 PID` prints
        # every thread's stack to stderr and the service carries on.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        signal.signal(signal.SIGHUP, request_reload)
        server.start()
        private = "allowed" if system.config.allow_private_urls else "refused"
        where = _where(data, system.data)
        print(
            f"Retail Pulse listening on {server.url} "
            f"({plural(len(store_master), 'store')}, "
            f"{plural(system.config.gpu_slots, 'GPU slot')}, "
            f"{plural(system.config.download_threads, 'downloader')}, "
            f"private URLs {private}, {where}); Ctrl-C stops",
            flush=True,
        )
        # The client commands default to port 8080; this is the line to paste elsewhere.
        print(f"export {URL_ENV}={client_url(server.host, server.port)}", flush=True)
        if system.keys is None and not _is_loopback(args.host):
            print(
                f"retailpulse: WARNING: listening on {args.host} without --api-keys: anyone "
                "who can reach it can submit, read and cancel every job",
                file=sys.stderr,
                flush=True,
            )
        while not signals:
            if reloads:
                reloads.clear()
                _reload_keys(system.keys)
            time.sleep(STOP_POLL_SECONDS)
        logger.info("stopping: no new requests, finishing the ones in flight")
        server.stop()
    logger.info("stopped")
    return 0
