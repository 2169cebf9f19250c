"""``retailpulse keys new|list|revoke``: the API keys a service started with
``--api-keys FILE`` accepts; and ``keys webhook-secret`` for ``--webhook-secret``.

``new`` prints the key alone on stdout, once (capture it: only its hash is kept).
A running service reads the file again on SIGHUP, so ``revoke`` takes effect
with ``kill -HUP PID`` and no restart.
"""

import argparse
import base64
import secrets
import sys

from retailpulse.keys import KeyFileError, add_key, read_keyring, revoke_key
from retailpulse.webhooks import SECRET_PREFIX

__all__ = ["register"]

EXIT_OK = 0
EXIT_USAGE = 2


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = commands.add_parser("keys", help="make, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    file = argparse.ArgumentParser(add_help=False)
    file.add_argument("--file", required=True, help="the key file (serve --api-keys FILE)")

    new = actions.add_parser("new", parents=[file], help="make a key and print it, once")
    new.add_argument("name", help="who the key is for; a job belongs to its key's name")
    new.add_argument("--admin", action="store_true", help="may see and cancel every job")
    new.set_defaults(handler=_new)

    listing = actions.add_parser("list", parents=[file], help="the keys' names and roles")
    listing.set_defaults(handler=_list)

    revoke = actions.add_parser("revoke", parents=[file], help="remove a key")
    revoke.add_argument("name")
    revoke.set_defaults(handler=_revoke)

    secret = actions.add_parser(
        "webhook-secret", help="print a new webhook signing secret (whsec_...)"
    )
    secret.set_defaults(handler=_webhook_secret)


def _new(args: argparse.Namespace) -> int:
    try:
        key = add_key(args.file, args.name, admin=args.admin)
    except KeyFileError as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(key)
    role = "an admin key" if args.admin else "a key"
    print(
        f"made {role} for {args.name} in {args.file}; it is shown this once. A running "
        "service takes it on SIGHUP.",
        file=sys.stderr,
    )
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    try:
        keyring = read_keyring(args.file)
    except KeyFileError as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for entry in keyring.entries:
        print(f"{entry.name}\t{'admin' if entry.admin else 'user'}")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    try:
        found = revoke_key(args.file, args.name)
    except KeyFileError as exc:
        print(f"retailpulse: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not found:
        print(f"retailpulse: {args.file} has no key named {args.name!r}", file=sys.stderr)
        return EXIT_USAGE
    print(f"revoked {args.name}; a running service drops it on SIGHUP", file=sys.stderr)
    return EXIT_OK


def _webhook_secret(args: argparse.Namespace) -> int:
    print(SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii"))
    return EXIT_OK
