"""`ehrcheck launch` as a person runs it: the system browser opened through $BROWSER (Python's
webbrowser runs it with the URL; our stand-in signs in over HTTP), --no-browser with the redirect
pasted on stdin, a browser that never comes back (exit 2), bad registrations (exit 2). And the
planted-secret test: no token, code, verifier, id_token or client secret in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.paths import ROOT
from tests.support.launch import free_port
from tests.support.smart_fake import CLIENT_SECRET, fake_smart
from tests.support.smart_login import follow

LOGIN = f"{sys.executable} -m tests.support.smart_login %s"


def creds(tmp_path: Path, **fields: str) -> Path:
    port = free_port()
    app = {"client_id": "fake-app", "client_secret": CLIENT_SECRET, "redirect_uri": f"http://127.0.0.1:{port}/callback", **fields}
    path = tmp_path / "creds.yaml"
    path.write_text("app:\n" + "".join(f"  {k}: {v}\n" for k, v in app.items()))
    return path


def ehrcheck(
    *args: str, browser: str | None = LOGIN, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, "BROWSER": browser or "", "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "ehrcheck", *args],
        check=False,
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_no_secret_reaches_any_output(tmp_path):
    with fake_smart() as fake:
        out = tmp_path / "out"
        proc = ehrcheck(
            "--debug",
            "launch",
            fake.fhir_base,
            "--credentials",
            str(creds(tmp_path)),
            "-o",
            str(out),
            "-f",
            "html,md,json,junit,sarif",
        )
        planted = [*fake.issued, *fake.verifiers, CLIENT_SECRET]
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert sum(p.startswith("PLANTED-CODE") for p in planted) >= 6 and len(fake.verifiers) >= 6
    assert any(p.startswith("PLANTED-AT") for p in planted) and any(p.startswith("PLANTED-RT") for p in planted)
    assert any(p.startswith("ey") for p in planted)  # id_tokens
    files = sorted(out.iterdir())
    assert {f.name for f in files} >= {"evidence.json", "report.html", "report.md", "report.json"}
    outputs = {f.name: f.read_text() for f in files} | {"stderr": proc.stderr, "stdout": proc.stdout}
    assert "launch" in json.loads(outputs["evidence.json"])["probes"]
    leaks = {(name, p[:14]) for name, text in outputs.items() for p in planted if p and p in text}
    assert leaks == set()
    assert "PLANTED" not in "".join(outputs.values())


def test_a_browser_that_never_comes_back_exits_2(tmp_path):
    with fake_smart() as fake:
        proc = ehrcheck(
            "launch",
            fake.fhir_base,
            "--credentials",
            str(creds(tmp_path)),
            "-o",
            str(tmp_path / "o"),
            "--launch-timeout",
            "2",
            browser="true %s",
        )
    assert proc.returncode == 2, proc.stderr[-1500:]
    assert "no browser came back within 2 s" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("elsewhere_first", [False, True])
def test_no_browser_reads_the_pasted_redirect(tmp_path, elsewhere_first):
    """--no-browser: the URL is printed; the person pastes where the browser ended. A redirect URI
    nobody listens on (the usual case over SSH) is fine then. The same redirect moved to another
    host (or path) is refused with a message, whatever its state, and the launch keeps waiting for
    the real one (round 10: it was accepted because only the state was compared)."""
    with fake_smart() as fake:
        path = creds(tmp_path, redirect_uri="https://app.example.invalid/callback", scope='"launch/patient patient/*.rs"')
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ehrcheck",
                "launch",
                fake.fhir_base,
                "--credentials",
                str(path),
                "--no-browser",
                "-o",
                str(tmp_path / "o"),
            ],
            cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "400"},
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        moved: list[str] = []
        try:
            for _ in range(6):  # the main launch, limited, granular and three broken requests
                line = proc.stderr.readline()
                while "/authorize?" not in line:
                    lines.append(line)
                    assert line, "".join(lines)[-2000:]
                    line = proc.stderr.readline()
                landed = follow(line.strip(), stop=lambda u: u.startswith("https://app.example.invalid/"))
                if elsewhere_first and not moved:
                    for other in (
                        "https://evil.example.invalid/callback",
                        "https://app.example.invalid:8443/callback",
                        "https://app.example.invalid/other",
                        "http://app.example.invalid/callback",
                    ):
                        proc.stdin.write(landed.replace("https://app.example.invalid/callback", other) + "\n")
                        proc.stdin.flush()
                        refusal = proc.stderr.readline()
                        while refusal and "not the redirect of this request" not in refusal:  # progress lines interleave
                            refusal = proc.stderr.readline()
                        moved.append(refusal)
                        assert "not on the redirect URI" in refusal, refusal
                proc.stdin.write(landed + "\n")
                proc.stdin.flush()
            _, err = proc.communicate(timeout=60)
        finally:
            proc.kill() if proc.poll() is None else None
    assert proc.returncode in (0, 1), err[-2000:]
    assert len(moved) == (4 if elsewhere_first else 0)
    evidence = json.loads((tmp_path / "o" / "evidence.json").read_text())
    assert evidence["probes"]["launch"]["data"]["token"]["accepted"] is True
    assert evidence["probes"]["launch"]["data"]["negative"]["pkce_wrong_verifier"]["rejected"] is True


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_id": ""}, "needs an app registration"),
        ({"redirect_uri": "not-a-url"}, "redirect_uri must be the http(s) URL"),
        ({"redirect_uri": "https://app.example.invalid/cb"}, "not a loopback address ehrcheck can listen on"),
        ({"colour": "blue"}, "app: unknown field(s): 'colour'"),
    ],
)
def test_bad_registrations_exit_2_with_one_line(tmp_path, fields, message):
    proc = ehrcheck(
        "launch", "http://127.0.0.1:9/fhir", "--credentials", str(creds(tmp_path, **fields)), browser="true %s", timeout=30
    )
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_ehr_launch_needs_a_loopback_launch_uri(tmp_path):
    proc = ehrcheck("launch", "http://127.0.0.1:9/fhir", "--launch", "ehr", "--credentials", str(creds(tmp_path)), timeout=30)
    assert proc.returncode == 2 and "needs app.launch_uri" in proc.stderr, proc.stderr
