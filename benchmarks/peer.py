"""fhir-scorecard, the closest peer (PyPI, stdlib-only, Python >= 3.12), in its own venv.

`ensure_venv` makes `.venv-bench-peer` from a 3.12+ interpreter once and reuses it while the
pinned version is unchanged. The peer speaks HTTPS only and verifies certificates with Python's
default context, which reads `SSL_CERT_FILE`: that is how it is pointed at the benchmark's CA.

What it counts as checks: its graded findings (R1-R2 reachability, T1-T4 transparency, I1-I3
interop: nine) plus the app-to-server answers it reports but does not grade (six). Both are
counted, to be generous to it.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .servers import ROOT, SetupError

PEER = "fhir-scorecard==0.3.0"
VENV = ROOT / ".venv-bench-peer"
MARKER = VENV / ".ehrcheck-bench.txt"


def find_python312() -> str | None:
    """PEER_PYTHON, else python3.12 / python3.13 on PATH, else a pyenv install."""
    candidates = [os.environ.get("PEER_PYTHON") or ""]
    candidates += [shutil.which(n) or "" for n in ("python3.12", "python3.13")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python3")))
    for exe in filter(None, candidates):
        ok = (
            subprocess.run(
                [exe, "-c", "import sys; sys.exit(sys.version_info < (3, 12))"], capture_output=True, check=False
            ).returncode
            == 0
        )
        if ok:
            return exe
    return None


def ensure_venv(log: Path) -> Path:
    """The peer's CLI, installing it first when needed (a few seconds, once)."""
    exe = VENV / "bin" / "fhir-scorecard"
    if exe.exists() and MARKER.exists() and MARKER.read_text().strip() == PEER:
        return exe
    python = find_python312()
    if python is None:
        raise SetupError("fhir-scorecard needs Python >= 3.12 and none was found (set PEER_PYTHON=/path/to/python3.12)")
    if not (VENV / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(VENV)], check=True)
    with log.open("wb") as out:
        rc = subprocess.run(
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", PEER],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        ).returncode
    if rc != 0 or not exe.exists():
        raise SetupError(f"pip install {PEER} failed (log: {log})")
    MARKER.write_text(PEER + "\n")
    return exe


def env_trusting(ca: Path) -> dict[str, str]:
    return {**os.environ, "SSL_CERT_FILE": str(ca)}


@dataclass
class PeerChecks:
    graded: int
    reported: int  # observed, not graded

    @property
    def total(self) -> int:
        return self.graded + self.reported


def checks_in(json_out: Path) -> PeerChecks:
    """Checks in one `check --json-out` document (one endpoint)."""
    doc = json.loads(json_out.read_text())
    graded = sum(len(d.get("findings") or []) for card in doc["scorecards"] for d in card.get("dimensions") or [])
    reported = sum(len(block.get("answers") or []) for block in (doc.get("app_to_server") or {}).values())
    return PeerChecks(graded, reported)


def write_registry(urls: list[str], path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "endpoints": [
                    {"id": f"ep-{i}", "name": f"endpoint {i}", "kind": "ehr", "base_url": url} for i, url in enumerate(urls)
                ]
            }
        )
    )
