"""The history database under test: a SQLite file, and a real PostgreSQL server (Debian's,
started on loopback for this session by tests/support/postgres.py and stopped at the end)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.support.postgres import fresh_database

_names = itertools.count()  # pg_admin_url (the session's cluster) is in tests/conftest.py


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_target(request, tmp_path: Path) -> str:
    """Where a test's scans record: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    return fresh_database(request.getfixturevalue("pg_admin_url"), f"ehrcheck_test_{next(_names)}")
