"""``retailpulse serve``: run the HTTP API until Ctrl-C or SIGTERM."""

import argparse
import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

from retailpulse.cli.limits import add_limit_arguments, limit_settings
from retailpulse.config import ServiceConfig
from retailpulse.http import HttpServer, create_app
from retailpulse.stores import DEFAULT_STORE_MASTER, StoreMasterError, load_store_master
from retailpulse.system import ALLOW_PRIVATE_ENV, start

__all__ = ["positive_int", "register", "run"]

logger = logging.getLogger("retailpulse")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


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
        default=defaults.workers,
        help="images processed at once across all jobs (default %(default)s)",
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
    add_limit_arguments(serve)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        store_master = load_store_master(args.store_master)
    except StoreMasterError as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return 2
    settings: dict[str, Any] = {"workers": args.workers, "max_active_jobs": args.max_active_jobs}
    settings.update(limit_settings(args))
    if args.allow_private_urls:
        settings["allow_private_urls"] = True
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    with start(store_master=store_master, **settings) as system:
        try:
            server = HttpServer(create_app(system), args.host, args.port, args.http_threads)
        except (OSError, ValueError) as exc:
            print(f"retailpulse: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        server.start()
        private = "allowed" if system.config.allow_private_urls else "refused"
        print(
            f"Retail Pulse listening on {server.url} "
            f"({len(store_master)} stores, {system.config.workers} workers, "
            f"private URLs {private}); Ctrl-C stops",
            flush=True,
        )
        while not stop_requested.wait(0.5):
            pass
        logger.info("stopping: no new requests, finishing the ones in flight")
        server.stop()
    logger.info("stopped")
    return 0
