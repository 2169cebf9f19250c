"""``retailpulse jobs | cancel``: list recent jobs, cancel one.

Kept apart from ``retailpulse.cli.client`` (submit, status, results) so that
each module stays one small group of commands; both share its ``--url`` option
and its mapping of failures to exit codes.
"""

import argparse
import json
import sys
from typing import Any

from retailpulse.cli.client import EXIT_OK, client_command, url_option
from retailpulse.cli.serve import positive_int
from retailpulse.client import Client

__all__ = ["jobs_table", "register"]


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    common = url_option()
    jobs = commands.add_parser(
        "jobs",
        parents=[common],
        help="list recent jobs, newest first",
        description="Recent jobs with their status and progress, newest first, a page at a "
        "time (GET /api/jobs). The next page's --after is printed on stderr.",
    )
    jobs.set_defaults(handler=client_command(_jobs))
    jobs.add_argument(
        "--limit", type=positive_int, default=None, help="jobs per page (the service's default 50)"
    )
    jobs.add_argument(
        "--after",
        type=positive_int,
        default=None,
        help="only jobs with a smaller id: the 'next' of the previous page",
    )
    jobs.add_argument("--json", action="store_true", help="the page as the API gives it")

    cancel = commands.add_parser(
        "cancel",
        parents=[common],
        help="cancel a job and print its status (JSON)",
        description="Cancel a job (POST /api/cancel): images not yet handed out are not "
        "processed, those in flight finish. Cancelling a job that has ended changes nothing; "
        "'cancelled' in the answer says whether this call cancelled it.",
    )
    cancel.set_defaults(handler=client_command(_cancel))
    cancel.add_argument("job_id", type=int, help="the id that submit printed")


def jobs_table(jobs: list[dict[str, Any]]) -> list[str]:
    """One aligned row per job: id, status, images done of total, failed, submitted."""
    rows = [("job_id", "status", "done", "failed", "submitted_at")]
    for job in jobs:
        progress = job.get("progress", {})
        state = str(job.get("status", "?")) + (" (queued)" if job.get("queued") else "")
        rows.append(
            (
                str(job.get("job_id", "?")),
                state,
                f"{progress.get('done', 0)}/{progress.get('total', 0)}",
                str(progress.get("failed", 0)),
                str(job.get("submitted_at", "")),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    return [
        f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  "
        f"{r[3]:>{widths[3]}}  {r[4]}"
        for r in rows
    ]


def _jobs(args: argparse.Namespace, client: Client) -> int:
    page = client.jobs(args.limit, args.after)
    if args.json:
        print(json.dumps(page, indent=2))
        return EXIT_OK
    jobs = page.get("jobs", [])
    if not jobs:
        print("no jobs", file=sys.stderr)
        return EXIT_OK
    for line in jobs_table(jobs):
        print(line)
    if page.get("next") is not None:
        print(f"more: retailpulse jobs --after {page['next']}", file=sys.stderr)
    return EXIT_OK


def _cancel(args: argparse.Namespace, client: Client) -> int:
    answer = client.cancel(args.job_id)
    print(json.dumps(answer, indent=2))
    if not answer.get("cancelled"):
        print(
            f"job {args.job_id} was not running (it is {answer.get('status')}): nothing changed",
            file=sys.stderr,
        )
    return EXIT_OK
