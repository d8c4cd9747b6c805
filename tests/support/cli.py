"""What CLI tests share: the one in-process `ehrcheck` runner, and a minimal R4 server's routes."""

from __future__ import annotations

from collections.abc import Mapping

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
