"""`ehrcheck audit --credentials` against sekmet in SMART mode, as a user runs it: the report has
token checks, per-profile US Core results and a completed bulk export, and no secret (client
secret, private key material, bearer token, signed assertion, access token) appears in any
output: evidence, HTML/Markdown/JSON reports, stdout or stderr."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ehrcheck.probes.authenticated.credentials import load_credentials
from tests.support.auth import client, creds_yaml

pytestmark = pytest.mark.servers  # every test here talks to the loopback servers scripts/test starts

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")  # assertions and sekmet's tokens


def ehrcheck(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHRCHECK_") or k.startswith("EHRCHECK_TEST_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "ehrcheck", *args], capture_output=True, text=True, env=env, timeout=300)


def outputs(folder: Path | None, proc: subprocess.CompletedProcess) -> dict[str, str]:
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    if folder is not None:
        for path in sorted(folder.iterdir()):
            texts[path.name] = path.read_text(encoding="utf-8")
    return texts


def assert_no_secret(texts: dict[str, str], secrets: list[str]) -> None:
    assert all(len(s) >= 6 for s in secrets)
    for name, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {name}"
        assert not JWT.search(text), f"a JWT (assertion or access token) leaked into {name}"


def test_audit_with_private_key_jwt(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    creds_file = tmp_path / "creds.yaml"
    creds_file.write_text(creds_yaml(sekmet_keys_dir, "ehrcheck-jwt"))
    out = tmp_path / "out"
    proc = ehrcheck(
        [
            "audit",
            sekmet_auth_url,
            "--credentials",
            str(creds_file),
            "-o",
            str(out),
            "--format",
            "html,md,json",
            "--sample",
            "2",
            "--bulk-timeout",
            "60",
        ]
    )
    assert proc.returncode in (0, 1), proc.stderr
    # one line per finished probe on stderr, the authenticated ones included
    for probe in ("token", "scopes", "uscore", "bulk"):
        assert re.search(rf"completed\s+{probe}\b", proc.stderr), proc.stderr
    report = json.loads((out / "report.json").read_text())
    status = {f["rule_id"]: f["status"] for f in report["findings"]}
    for rid in (
        "INT-300",
        "HIP-300",
        "HIP-301",
        "HIP-302",
        "HIP-303",
        "HIP-304",
        "HIP-305",
        "HIP-311",
        "INT-302",
        "INT-310",
        "INT-312",
        "INT-313",
        "INT-314",
    ):
        assert status[rid] == "pass", (rid, status[rid])
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["probes"]["bulk"]["data"]["patient"]["status"]["state"] == "complete"
    assert evidence["probes"]["uscore"]["data"]["profiles"]["us-core-observation-lab"]["resources"] > 0
    md = (out / "report.md").read_text()
    assert "HIP-303" in md and "us-core-observation-lab" in md  # per-profile results reach the report
    secrets = load_credentials(creds_file, environ={}).secrets()
    pem = (sekmet_keys_dir / client(sekmet_keys_dir, "ehrcheck-jwt")["private_key"]).read_text()
    secrets += [ln for ln in pem.splitlines() if ln and not ln.startswith("-----")]
    assert_no_secret(outputs(out, proc), secrets)


def test_client_secret_from_the_environment(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    c = client(sekmet_keys_dir, "ehrcheck-secret")
    env = {"EHRCHECK_CLIENT_ID": c["client_id"], "EHRCHECK_CLIENT_SECRET": c["client_secret"], "EHRCHECK_SCOPE": c["scopes"]}
    out = tmp_path / "out"
    proc = ehrcheck(["audit", sekmet_auth_url, "-o", str(out), "--sample", "1", "--us-core", "all"], env)
    assert proc.returncode in (0, 1), proc.stderr
    evidence = json.loads((out / "evidence.json").read_text())
    assert evidence["probes"]["token"]["data"]["negative"]["wrong_secret"]["rejected"] is True
    assert evidence["probes"]["uscore"]["data"]["selection"] == "all_uscdi"
    basic = base64.b64encode(f"{c['client_id']}:{c['client_secret']}".encode()).decode()
    assert_no_secret(outputs(out, proc), [c["client_secret"], basic, c["client_secret"] + "-not-it"])


def test_bearer_token_report_to_stdout(sekmet_auth_url, sekmet_keys_dir, tmp_path):
    token = json.loads((sekmet_keys_dir / "clients.json").read_text())["static_bearer_token"]
    evidence_file = tmp_path / "evidence.json"
    proc = ehrcheck(
        ["audit", sekmet_auth_url, "-o", "-", "--format", "json", "--evidence", str(evidence_file), "--sample", "1"],
        {"EHRCHECK_BEARER_TOKEN": token},
    )
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    status = {f["rule_id"]: f["status"] for f in report["findings"]}
    assert status["INT-300"] == "not_observed"  # no token endpoint to test with a ready-made token
    assert status["INT-302"] == "pass" and status["INT-310"] == "pass"
    assert_no_secret({"stdout": proc.stdout, "stderr": proc.stderr, "evidence": evidence_file.read_text()}, [token])
