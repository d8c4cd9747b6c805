"""What CLI tests share: the one in-process `ehrcheck` runner, and a minimal R4 server's routes."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ehrcheck.cli import app
from tests.support.loopback import Reply

# The smallest server that gets scored: an R4 CapabilityStatement with one resource, and a
# Patient search that demands a login.
CAP = {
    "resourceType": "CapabilityStatement",
    "fhirVersion": "4.0.1",
    "status": "active",
    "kind": "instance",
    "format": ["json"],
    "rest": [{"mode": "server", "resource": [{"type": "Patient", "interaction": [{"code": "read"}]}]}],
}
ROUTES = {
    "/fhir/metadata": Reply(200, CAP),
    "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome", "issue": []}, {"WWW-Authenticate": "Bearer"}),
}


def run(*args: str, env: Mapping[str, str | None] | None = None) -> Result:
    """`ehrcheck ARGS...` in-process, with `env` added to the environment (None unsets a name).

    Exceptions propagate, so a traceback fails the test instead of hiding in `result.exception`;
    the exit code and output are what a person at the terminal would see."""
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def wait_for_rows(proc: subprocess.Popen, results: Path, rows: int) -> None:
    """Wait (bounded, ~2 minutes) until a scan running as `proc` has written `rows` lines to
    `results`, so a test can interrupt it mid-scan; fail if it ends first or writes none."""
    for _ in range(6000):
        if results.exists() and results.read_bytes().count(b"\n") >= rows:
            return
        if proc.poll() is not None:
            pytest.fail(f"scan ended before it could be interrupted: {proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
        try:
            proc.wait(timeout=0.02)
        except subprocess.TimeoutExpired:
            pass
    pytest.fail(f"the scan wrote fewer than {rows} rows")
