"""API keys: making them, the key file that keeps their hashes, and checking one.

A key is ``rp_`` and 32 random bytes (``secrets.token_urlsafe``): 256 bits of entropy.
The file keeps each key's name, role and SHA-256 digest, never the key. A plain hash
is right here, unlike for passwords: a slow, salted hash (bcrypt, scrypt) exists to
make guessing a *low*-entropy secret from its hash expensive, but nobody can search a
2**256 space however fast the hash is, and a fast hash lets every request be checked
in microseconds. Digests are compared with ``hmac.compare_digest`` against every entry,
so the time a check takes says nothing about how close a guess was.

The file is text, one key a line: ``NAME ROLE sha256:HEX`` (``ROLE`` is ``admin`` or
``user``; ``#`` starts a comment). It is rewritten whole (a temporary file renamed over
it, mode 0600), so a reader never sees half a file.
"""

import hashlib
import hmac
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KEY_PREFIX",
    "KeyEntry",
    "KeyFileError",
    "Keyring",
    "KeyringHolder",
    "Principal",
    "add_key",
    "hash_key",
    "read_keyring",
    "revoke_key",
]

KEY_PREFIX = "rp_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
_ROLES = ("admin", "user")


class KeyFileError(Exception):
    """The key file cannot be read or written, or a line in it is malformed."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's name (a job's owner) and whether it is an admin key,
    which sees and may cancel every job."""

    name: str
    admin: bool = False


@dataclass(frozen=True, slots=True)
class KeyEntry:
    name: str
    admin: bool
    digest: str
    """``sha256:`` and the hex digest of the key."""


@dataclass(frozen=True, slots=True)
class Keyring:
    """The keys a service accepts, as read from its key file (immutable: a reload
    builds a new one and replaces it whole)."""

    entries: tuple[KeyEntry, ...] = ()

    def authenticate(self, key: str) -> Principal | None:
        """The principal of ``key``, or ``None`` if it is not a current key."""
        digest = hash_key(key)
        found: KeyEntry | None = None
        for entry in self.entries:  # every entry, match or not: no early exit
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        return None if found is None else Principal(found.name, found.admin)


class KeyringHolder:
    """The current ``Keyring`` of a key file, replaced whole by ``reload()``.

    Readers (HTTP threads) take ``current`` and use that immutable object; a reload
    (the serve command's main thread, on SIGHUP) reads the file into a new keyring and
    swaps the one reference, which is atomic, so no lock is needed and no reader ever
    sees a keyring half read.
    """

    def __init__(self, path: str | Path | None = None, keyring: Keyring | None = None) -> None:
        self.path = None if path is None else Path(path)
        if keyring is None:
            if self.path is None:
                raise ValueError("need a key file or a keyring")
            keyring = read_keyring(self.path)
        self._current = keyring

    @property
    def current(self) -> Keyring:
        return self._current

    def reload(self) -> Keyring:
        """Read the file again; on an error the keys in use stay and it is raised."""
        if self.path is None:
            return self._current
        self._current = read_keyring(self.path)
        return self._current


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def read_keyring(path: str | Path) -> Keyring:
    """Every key in the file; a missing file is an error (a typo must not open the API)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({exc.strerror or exc})") from exc
    return Keyring(tuple(_entries(text, str(path))))


def add_key(path: str | Path, name: str, *, admin: bool = False) -> str:
    """Make a new key named ``name``, append its hash to the file (created if missing)
    and return the key: the only time it exists outside the caller's hands."""
    if not _NAME.fullmatch(name):
        raise KeyFileError(
            f"key name {name!r} must be 1 to 64 letters, digits or _.@- (starting with one "
            "of the first two)"
        )
    entries = list(read_keyring(path).entries) if Path(path).exists() else []
    if any(entry.name == name for entry in entries):
        raise KeyFileError(f"{path}: a key named {name!r} exists; revoke it first")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    entries.append(KeyEntry(name, admin, hash_key(key)))
    _write(Path(path), entries)
    return key


def revoke_key(path: str | Path, name: str) -> bool:
    """Remove the key named ``name``; False if there was none."""
    entries = list(read_keyring(path).entries)
    kept = [entry for entry in entries if entry.name != name]
    if len(kept) == len(entries):
        return False
    _write(Path(path), kept)
    return True


def _entries(text: str, where: str) -> list[KeyEntry]:
    entries: list[KeyEntry] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if (
            len(parts) != 3
            or not _NAME.fullmatch(parts[0])
            or parts[1] not in _ROLES
            or not re.fullmatch(r"sha256:[0-9a-f]{64}", parts[2])
        ):
            raise KeyFileError(f"{where}:{number}: expected 'NAME admin|user sha256:HEX'")
        entries.append(KeyEntry(parts[0], parts[1] == "admin", parts[2]))
    return entries


def _write(path: Path, entries: list[KeyEntry]) -> None:
    lines = ["# Retail Pulse API keys: NAME ROLE sha256:HEX (hashes only; see docs)"]
    lines += [f"{e.name} {'admin' if e.admin else 'user'} {e.digest}" for e in entries]
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as out:  # mkstemp: mode 0600
            out.write("\n".join(lines) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot write the key file ({exc.strerror or exc})") from exc
