"""A throwaway PostgreSQL cluster on 127.0.0.1 for the history tests: Debian's server programs
(scripts/setup installs them), `initdb` into .run/pg-<port>/, `pg_ctl start`, and `pg_ctl stop`
of that data directory at the end — never a system cluster. As root, the server programs run as
the `postgres` user (PostgreSQL refuses to run as root).

The port is EHRCHECK_TEST_PG_PORT when set (parallel checkouts pick their own), else a free one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.paths import ROOT


def pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser") or shutil.which("setpriv")
    if runuser is None:
        raise RuntimeError("running as root without runuser: cannot start PostgreSQL as an unprivileged user")
    return (
        [runuser, "-u", "postgres", "--", *cmd]
        if runuser.endswith("runuser")
        else [runuser, "--reuid=postgres", "--regid=postgres", "--init-groups", *cmd]
    )


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields the superuser URL postgresql://postgres@127.0.0.1:PORT/postgres (trust auth, loopback only)."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("PostgreSQL's initdb/pg_ctl not found: run scripts/setup (it installs Debian's postgresql)")
    port = int(os.environ.get("EHRCHECK_TEST_PG_PORT") or _free_port())
    data = Path(os.environ.get("EHRCHECK_RUN_DIR") or ROOT / ".run") / f"pg-{port}"
    if data.exists():
        shutil.rmtree(data)  # a cluster left by a killed run: never reused, its state is unknown
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    log = data / "server.log"
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PGTZ": "UTC"}
    subprocess.run(
        _as_server_user([initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
        check=True,
        capture_output=True,
        env=env,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    started = subprocess.run(
        _as_server_user([pg_ctl, "start", "-w", "-t", "60", "-D", str(data), "-l", str(log), "-o", options]),
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if started.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(data, ignore_errors=True)
        raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{tail}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        # pg_ctl stops the postmaster whose PID is in this data directory's postmaster.pid
        subprocess.run(
            _as_server_user([pg_ctl, "stop", "-w", "-m", "fast", "-D", str(data)]), capture_output=True, env=env, check=False
        )
        shutil.rmtree(data, ignore_errors=True)


def fresh_database(admin_url: str, name: str) -> str:
    """A new empty database on the cluster; its URL."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
