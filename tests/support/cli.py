"""What CLI tests share: a minimal R4 server's routes and an in-process `ehrcheck` runner."""

from __future__ import annotations

from typer.testing import CliRunner

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


def run(*args: str):
    """`ehrcheck ARGS...` in-process; exceptions propagate so a traceback fails the test."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)
