"""The history database under test: a SQLite file, and a real PostgreSQL server (Debian's,
started on loopback for this session by tests/support/postgres.py and stopped at the end)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.support.postgres import fresh_database, postgres_cluster

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url():
    try:
        cluster = postgres_cluster()
        url = cluster.__enter__()
    except RuntimeError as exc:  # never a skip: a missing server is a broken setup
        pytest.fail(str(exc), pytrace=False)
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_target(request, tmp_path: Path) -> str:
    """Where a test's scans record: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return fresh_database(request.getfixturevalue("pg_admin_url"), f"ehrcheck_test_{next(_names)}")
