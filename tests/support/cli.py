"""What CLI tests share: the one in-process `ehrcheck` runner, and a minimal R4 server's routes."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ehrcheck.cli import app
from tests.support.loopback import Loopback, Reply

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


def scan_every_output(tmp_path: Path, srv: Loopback, lines: list[str]) -> tuple[Result, list[str], str]:
    """`ehrcheck scan` of `lines` with every output it writes (reports, kept evidence, SARIF, JUnit,
    a history database), for a planted-secret search: the result, every text written, and the
    paths `srv` was sent so far (call it inside `serve`)."""
    listing, out, db = tmp_path / "urls.txt", tmp_path / "s", tmp_path / "h.sqlite"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = run(
        "scan", str(listing), "-o", str(out), "-f", "html,sarif,junit", "--keep-evidence", "--reports",
        "--db", str(db), "--workers", "1", "--timeout", "3",
    )  # fmt: skip
    sent = " ".join(path for _, path, _ in srv.requests)
    written = [res.output, db.read_bytes().decode("latin-1")]
    written += [p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file()]
    return res, written, sent


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
