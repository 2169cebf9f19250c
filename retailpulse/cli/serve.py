"""``retailpulse serve``: run the HTTP API until Ctrl-C or SIGTERM."""

import argparse
import faulthandler
import logging
import signal
import sys
import time
from types import FrameType
from typing import Any

from retailpulse.cli.limits import add_limit_arguments, limit_settings
from retailpulse.config import ServiceConfig
from retailpulse.http import HttpServer, create_app
from retailpulse.logs import LOG_FORMATS, configure_logging
from retailpulse.startup import ALLOW_PRIVATE_ENV, start
from retailpulse.stores import (
    DEFAULT_STORE_MASTER,
    JobStoreError,
    StoreMasterError,
    load_store_master,
)

__all__ = ["DEFAULT_DATA", "positive_int", "register", "run"]

DEFAULT_DATA = "retailpulse.db"
"""The job store file, relative to the working directory, unless --data says otherwise."""
STOP_POLL_SECONDS = 0.1
"""How soon a stop signal is acted on (the handler itself only records it)."""

logger = logging.getLogger("retailpulse")


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


def _add_data_arguments(serve: argparse.ArgumentParser) -> None:
    """Where jobs are kept and for how long, and the simulated GPU time (for demos and tests)."""
    defaults = ServiceConfig()
    data = serve.add_mutually_exclusive_group()
    data.add_argument(
        "--data",
        default=DEFAULT_DATA,
        help="SQLite file that keeps jobs across restarts (default ./%(default)s)",
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


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    serve = commands.add_parser("serve", help="serve the HTTP API")
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
    serve.add_argument(
        "--max-active-jobs",
        type=positive_int,
        default=defaults.max_active_jobs,
        help="jobs running at once; later ones queue (default %(default)s)",
    )
    serve.add_argument(
        "--allow-private-urls",
        action="store_true",
        help=f"allow downloads from loopback/private addresses (or {ALLOW_PRIVATE_ENV}=1)",
    )
    serve.add_argument(
        "--http-threads", type=positive_int, default=8, help="waitress threads (default 8)"
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
    add_limit_arguments(serve)


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_format)
    try:
        store_master = load_store_master(args.store_master)
    except StoreMasterError as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return 2
    settings: dict[str, Any] = {
        "gpu_slots": args.workers,
        "downloaders": args.downloaders,
        "max_active_jobs": args.max_active_jobs,
    }
    settings.update(limit_settings(args))
    if args.allow_private_urls:
        settings["allow_private_urls"] = True
    if args.min_sleep > args.max_sleep:
        print("retailpulse: --min-sleep must not exceed --max-sleep", file=sys.stderr)
        return 2
    settings.update(
        min_sleep=args.min_sleep, max_sleep=args.max_sleep, retention=args.retention_days * 86400
    )
    data = None if args.in_memory else args.data
    # A plain list, not a threading.Event: the handler runs on the main thread between
    # two bytecodes, possibly while that thread holds the Event's lock inside wait(),
    # and Event.set() would then wait for that lock forever.
    signals: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)

    try:
        system = start(store_master=store_master, data=data, **settings)
    except (JobStoreError, ValueError) as exc:  # ValueError: settings that contradict each other
        print(f"retailpulse: {exc}", file=sys.stderr)
        return 2
    with system:
        try:
            server = HttpServer(create_app(system), args.host, args.port, args.http_threads)
        except (OSError, ValueError) as exc:
            print(f"retailpulse: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        # An operator's view into a service that seems stuck: `kill -USR1 PID` prints
        # every thread's stack to stderr and the service carries on.
        faulthandler.register(signal.SIGUSR1, all_threads=True)
        server.start()
        private = "allowed" if system.config.allow_private_urls else "refused"
        where = "memory only" if system.data is None else f"jobs in {system.data.resolve()}"
        print(
            f"Retail Pulse listening on {server.url} "
            f"({len(store_master)} stores, {system.config.gpu_slots} GPU slots, "
            f"{system.config.download_threads} downloaders, "
            f"private URLs {private}, {where}); Ctrl-C stops",
            flush=True,
        )
        while not signals:
            time.sleep(STOP_POLL_SECONDS)
        logger.info("stopping: no new requests, finishing the ones in flight")
        server.stop()
    logger.info("stopped")
    return 0
