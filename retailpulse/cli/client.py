"""``retailpulse submit | status | results``: the HTTP API from the command line.

Conventions of job-system CLIs: ``submit`` prints the job id (so scripts can
capture it), ``--wait`` follows the job with a progress bar on stderr and ends
with a report on stdout, and the exit code says how it went:

==  ==========================================================================
0   done; with ``--wait``: the job completed
1   with ``--wait``: the job failed (the report says which stores and why)
2   usage error: bad arguments, unreadable file, payload rejected, unknown job
3   the service is unreachable or answered outside its contract
4   ``--wait --timeout`` ran out while the job was still running
130 interrupted (Ctrl-C); the job goes on in the service
==  ==========================================================================
"""

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from retailpulse.cli.report import failure_report, figures_table, results_table, summary_line
from retailpulse.client import (
    API_KEY_ENV,
    DEFAULT_URL,
    RECONNECT_FOR,
    URL_ENV,
    Client,
    ClientError,
    ConflictError,
    JobNotFoundError,
    RejectedError,
    UnauthorizedError,
    new_idempotency_key,
)

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "client_command",
    "follow",
    "register",
    "url_option",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_TIMEOUT = 4
EXIT_INTERRUPTED = 130

TABLE_ROWS = 50
"""Rows of the report's table; ``results`` (or ``--csv``) gives every image."""


def url_option() -> argparse.ArgumentParser:
    """The ``--url`` and ``--api-key`` options every client command takes, as a parent parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"the service's base URL (default ${URL_ENV} or {DEFAULT_URL})",
    )
    common.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"API key, sent as a bearer token (default ${API_KEY_ENV}; prefer it: "
        "arguments show in ps)",
    )
    return common


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    common = url_option()

    submit = commands.add_parser(
        "submit", parents=[common], help="submit a job from a JSON file and print its id"
    )
    submit.set_defaults(handler=_handler(_submit))
    submit.add_argument("file", help="the payload as JSON ('-' reads standard input)")
    submit.add_argument(
        "--wait", action="store_true", help="follow the job to its end, then print a report"
    )
    submit.add_argument(
        "--interval", type=float, default=0.25, help="seconds between status polls (0.25)"
    )
    submit.add_argument(
        "--timeout", type=float, default=None, help="give up waiting after this many seconds"
    )
    submit.add_argument(
        "--reconnect-for",
        type=float,
        default=RECONNECT_FOR,
        help="while waiting, keep polling a service that cannot be reached (restarting) "
        "for this many seconds before giving up with exit 3 (default %(default)g)",
    )
    bar = submit.add_mutually_exclusive_group()
    bar.add_argument("--quiet", action="store_true", help="no progress bar")
    bar.add_argument(
        "--progress",
        action="store_true",
        help="draw the progress bar even when stderr is not a terminal "
        "(by default it is drawn on a terminal only)",
    )
    submit.add_argument(
        "--idempotency-key",
        default=None,
        help="Idempotency-Key of this submit (default: a new UUID, so that retries of this "
        "command's own requests make one job; pass one to make re-runs safe too)",
    )

    status = commands.add_parser("status", parents=[common], help="print a job's status (JSON)")
    status.set_defaults(handler=_handler(_status))
    status.add_argument("job_id", type=int, help="the id that submit printed")

    results = commands.add_parser(
        "results", parents=[common], help="print every image's result (JSON or CSV)"
    )
    results.set_defaults(handler=_handler(_results))
    results.add_argument("job_id", type=int, help="the id that submit printed")
    _register_results_formats(results)
    _register_stores(commands, common)


def follow(
    client: Client,
    job_id: int,
    *,
    out: TextIO,
    err: TextIO,
    interval: float = 0.25,
    timeout: float | None = None,
    progress: bool | None = None,
    reconnect_for: float = RECONNECT_FOR,
) -> int:
    """Wait for the job with a progress bar on ``err``, then report it on ``out``.

    ``progress`` None draws the bar only when ``err`` is a terminal. A service lost
    while waiting (restarting, say) is polled for ``reconnect_for`` seconds more,
    with a note on ``err``. Returns ``EXIT_OK`` when the job completed and
    ``EXIT_FAILED`` when it failed.
    """
    bar = _ProgressBar(job_id, err, progress)

    def on_lost(error: ClientError | None, seconds: float) -> None:
        if error is None:
            bar.note(f"retailpulse: reached {client.base_url} again; still following job {job_id}")
        else:
            bar.note(
                f"retailpulse: lost the service ({error}); it may be restarting, "
                f"so polling it for up to {seconds:g} s more"
            )

    try:
        final = client.wait(
            job_id,
            interval=interval,
            timeout=timeout,
            on_status=bar.show,
            reconnect_for=reconnect_for,
            on_lost=on_lost,
        )
    finally:
        bar.close()
    results = client.results(job_id)
    print(summary_line(final), file=out)
    print(file=out)
    for line in results_table(results["images"], TABLE_ROWS):
        print(f"  {line}", file=out)
    failures = failure_report(final)
    if failures:
        print(f"\nfailed stores ({len(failures)}), from GET /api/status:", file=out)
        for line in failures:
            print(f"  {line}", file=out)
    return EXIT_OK if final["status"] == "completed" else EXIT_FAILED


class _ProgressBar:
    """tqdm over a job's images: done of total, with the failed count alongside.

    ``enabled`` None lets tqdm decide: drawn on a terminal only, so that a redirected
    stderr gets no carriage-return updates.
    """

    def __init__(self, job_id: int, err: TextIO, enabled: bool | None) -> None:
        self._job_id = job_id
        self._err = err
        self._enabled = enabled
        self._bar: tqdm[Any] | None = None

    def show(self, status: dict[str, Any]) -> None:
        progress = status.get("progress") or {}
        queued = " (queued)" if status.get("queued") else ""
        if self._bar is None:
            self._bar = tqdm(
                desc=f"job {self._job_id}{queued}",
                total=progress.get("total", 0),
                unit="img",
                file=self._err,
                disable=None if self._enabled is None else not self._enabled,
                mininterval=0,
                # No rate: polls are too few for one, and a store missing from the store
                # master fails its images at once, which would show thousands per second.
                bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]",
            )
        self._bar.set_description(f"job {self._job_id}{queued}", refresh=False)
        self._bar.set_postfix(failed=progress.get("failed", 0), refresh=False)
        self._bar.update(progress.get("done", 0) - self._bar.n)

    def note(self, line: str) -> None:
        """A line on ``err`` that does not tear the bar."""
        if self._bar is None or self._bar.disable:
            print(line, file=self._err, flush=True)
        else:
            self._bar.write(line, file=self._err)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _submit(args: argparse.Namespace, client: Client) -> int:
    try:
        body = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        print(f"retailpulse: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    job_id = client.submit(body, args.idempotency_key or new_idempotency_key())
    if not args.wait:
        print(job_id)
        return EXIT_OK
    print(f"submitted job {job_id} to {client.base_url}", file=sys.stderr)
    return follow(
        client,
        job_id,
        out=sys.stdout,
        err=sys.stderr,
        interval=args.interval,
        timeout=args.timeout,
        progress=False if args.quiet else (True if args.progress else None),
        reconnect_for=args.reconnect_for,
    )


def _status(args: argparse.Namespace, client: Client) -> int:
    print(json.dumps(client.status(args.job_id), indent=2))
    return EXIT_OK


def _register_results_formats(results: argparse.ArgumentParser) -> None:
    formats = results.add_mutually_exclusive_group()
    formats.add_argument(
        "--csv", action="store_true", help="CSV with a header row, streamed as it arrives"
    )
    formats.add_argument(
        "--ndjson", action="store_true", help="one JSON object per image, streamed as it arrives"
    )


def _register_stores(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    common: argparse.ArgumentParser,
) -> None:
    stores = commands.add_parser(
        "stores", parents=[common], help="print a job's figures per store or per area (a table)"
    )
    stores.set_defaults(handler=_handler(_stores))
    stores.add_argument("job_id", type=int, help="the id that submit printed")
    stores.add_argument("--by", choices=("store", "area"), default="store", help="group by")


def _results(args: argparse.Namespace, client: Client) -> int:
    if args.csv or args.ndjson:
        sys.stdout.flush()  # the bytes go under the text layer: keep the order
        out = sys.stdout.buffer
        for chunk in client.stream_results(args.job_id, "csv" if args.csv else "ndjson"):
            out.write(chunk)
        out.flush()
        return EXIT_OK
    print(json.dumps(client.results(args.job_id), indent=2))
    return EXIT_OK


def _stores(args: argparse.Namespace, client: Client) -> int:
    answer = client.stores(args.job_id, args.by)
    for line in figures_table(answer.get("areas" if args.by == "area" else "stores", []), args.by):
        print(line)
    return EXIT_OK


Command = Callable[[argparse.Namespace, Client], int]


def _handler(command: Command) -> Callable[[argparse.Namespace], int]:
    """Run a client command, turning every expected failure into a message and exit code."""

    def run(args: argparse.Namespace) -> int:
        client = Client(args.url, api_key=args.api_key)
        try:
            return command(args, client)
        except RejectedError as exc:
            print(f"retailpulse: the service rejected the payload: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except (JobNotFoundError, UnauthorizedError, ConflictError) as exc:
            print(f"retailpulse: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except ClientError as exc:
            print(f"retailpulse: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        except TimeoutError as exc:
            print(f"retailpulse: {exc}; it goes on in the service", file=sys.stderr)
            return EXIT_TIMEOUT
        except KeyboardInterrupt:
            print("retailpulse: interrupted; the job goes on in the service", file=sys.stderr)
            return EXIT_INTERRUPTED
        finally:
            client.close()

    return run


client_command = _handler
"""For command modules beside this one (``retailpulse.cli.jobs``)."""
