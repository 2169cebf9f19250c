"""The ``retailpulse`` command line: one module per subcommand.

Each command module offers ``register(commands)``, which adds its subparser and
sets ``handler`` to the function that runs it, so commands can be added without
touching each other.
"""

import argparse
import sys
from collections.abc import Callable, Sequence

from retailpulse import __version__
from retailpulse.cli import bench, client, demo, jobs, keys, retry, serve

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

COMMANDS = (serve, client, jobs, retry, keys, demo, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="retailpulse", description="Retail Pulse: measure store-visit images, job by job."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
