"""``retailpulse retry JOBID``: run a failed job again for its failed images."""

import argparse
import json
import sys

from retailpulse.cli.client import EXIT_OK, client_command, follow, url_option
from retailpulse.client import Client

__all__ = ["register"]


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    retry = commands.add_parser(
        "retry",
        parents=[url_option()],
        help="retry a failed job's failed images (measured ones keep their results)",
    )
    retry.set_defaults(handler=client_command(_retry))
    retry.add_argument("job_id", type=int)
    retry.add_argument(
        "--wait", action="store_true", help="follow the job to its end, then print a report"
    )


def _retry(args: argparse.Namespace, client: Client) -> int:
    status = client.retry(args.job_id)
    if not args.wait:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    return follow(client, args.job_id, out=sys.stdout, err=sys.stderr)
