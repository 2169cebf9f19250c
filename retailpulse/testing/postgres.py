"""PostgreSQL for tests: a scratch database on the shared server, or a private server.

The development and CI machines run PostgreSQL 15 on 127.0.0.1:5432 (trust auth,
user ``postgres``, database ``test``). Tests never use that database itself:
``scratch_database`` creates one of their own and drops it afterwards. Tests that
must restart the server (``PrivatePostgres``) start their own from the PostgreSQL
binaries, in a temporary directory, on a free loopback port.

Where no server answers, the PostgreSQL tests are skipped with ``SKIP_REASON``;
under ``CI=true`` that is a failure instead (``unavailable``'s caller decides).
"""

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import psycopg
from psycopg import sql

__all__ = [
    "ADMIN_URL_ENV",
    "DEFAULT_ADMIN_URL",
    "SKIP_REASON",
    "PrivatePostgres",
    "admin_url",
    "postgres_binaries",
    "private_server",
    "require_server",
    "reset_database",
    "scratch_database",
    "unavailable",
]

ADMIN_URL_ENV = "RETAILPULSE_TEST_PG"
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SKIP_REASON = (
    "PostgreSQL is not reachable at {url} (the development and CI machines run it on "
    "127.0.0.1:5432 with trust auth; start it with "
    "'pg_ctlcluster --skip-systemctl-redirect 15 main start', or point "
    f"{ADMIN_URL_ENV} at another server); under CI=true this is a failure"
)
BIN_DIRS = (
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/17/bin",
)


def admin_url() -> str:
    """The server tests make their databases on (``RETAILPULSE_TEST_PG`` or the default)."""
    return os.environ.get(ADMIN_URL_ENV, DEFAULT_ADMIN_URL)


def unavailable(url: str | None = None) -> str | None:
    """Why the test server cannot be used, or ``None`` when it answers."""
    url = url or admin_url()
    try:
        with psycopg.connect(url, connect_timeout=3, autocommit=True) as db:
            db.execute("SELECT 1")
    except psycopg.Error:
        return SKIP_REASON.format(url=url)
    return None


def require_server(url: str | None = None) -> None:
    """In a test: skip it when the server does not answer, or fail it under ``CI=true``
    (CI must never pass by skipping the PostgreSQL tests)."""
    import pytest  # only tests call this; the service itself never imports pytest

    reason = unavailable(url)
    if reason is None:
        return
    if os.environ.get("CI", "").strip().lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _with_dbname(url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return (
        f"postgresql://{info.get('user', 'postgres')}@{info.get('host', '127.0.0.1')}:"
        f"{info.get('port', 5432)}/{dbname}"
    )


@contextmanager
def scratch_database(url: str | None = None, prefix: str = "rp_test") -> Iterator[str]:
    """A new empty database on the server at ``url``; yields its URL, drops it after."""
    url = url or admin_url()
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_dbname(url, name)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
            db.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def reset_database(url: str) -> None:
    """Drop everything in the database's ``public`` schema: a fresh start for a test."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        db.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")


def postgres_binaries() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``, if PostgreSQL is installed."""
    for directory in BIN_DIRS:
        if (Path(directory) / "initdb").exists():
            return Path(directory)
    found = shutil.which("initdb")
    return None if found is None else Path(found).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivatePostgres:
    """A PostgreSQL server of a test's own, in ``directory``, on a free loopback port.

    Started by ``start()`` (or ``with``), stopped by ``stop()``; ``restart()`` stops
    it fast (as a crash would look to clients: connections dropped) and starts it
    on the same port and data. Every step is bounded in time. PostgreSQL refuses
    to run as root, so as root the server runs as the ``postgres`` user.
    """

    def __init__(self, directory: Path | None = None, *, timeout: float = 30.0) -> None:
        binaries = postgres_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
        self.bin = binaries
        self._owned = directory is None
        # Its own directory right under the temp root by default: the postgres user
        # (as whom the server runs under root) cannot enter pytest's private tmp_path.
        self.directory = directory or Path(tempfile.mkdtemp(prefix="retailpulse-pg-"))
        self.data = self.directory / "data"
        self.port = _free_port()
        self.timeout = timeout
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        argv = list(command)
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(  # noqa: S603 (our own fixed argv)
            argv, check=True, timeout=self.timeout, capture_output=True
        )

    def start(self) -> "PrivatePostgres":
        if not self.data.exists():
            self.directory.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.directory, "postgres", "postgres")
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "-E", "UTF8", "--no-sync",
            )  # fmt: skip
        self._start_server()
        return self

    def _start_server(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "log"),
            "-o", options, "-w", "-t", str(int(self.timeout)), "start",
        )  # fmt: skip
        deadline = time.monotonic() + self.timeout
        while unavailable(self.url) is not None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"private PostgreSQL on port {self.port} did not answer")
            time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(
                str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode,
                "-w", "-t", str(int(self.timeout)), "stop",
            )  # fmt: skip

    def restart(self, down_for: float = 0.0) -> None:
        """Stop (``immediate``: no goodbye to clients), wait ``down_for`` s, start again."""
        self.stop("immediate")
        time.sleep(down_for)
        self._start_server()

    def __enter__(self) -> "PrivatePostgres":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            self.stop("immediate")
        finally:
            if self._owned:
                shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def private_server() -> Iterator[PrivatePostgres]:
    """In a test: a started ``PrivatePostgres``, stopped and removed after; skipped (or
    failed under ``CI=true``) where PostgreSQL is not there."""
    require_server()
    if postgres_binaries() is None:
        import pytest

        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    with PrivatePostgres() as server:
        yield server
