"""Ctrl-C keeps the evidence gathered so far and leaves no half-written report; files are
written atomically; bad input writes nothing at all.

The interrupt tests run the real CLI in a subprocess and send it a real SIGINT once some probes
have finished and one is stuck on a stalled server.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ehrcheck.files.store import write_atomic
from tests.faults.audit import healthy
from tests.faults.server import fault_server, stall


def _interrupt_once_stuck(args: list[str], srv) -> subprocess.CompletedProcess:
    """Start `ehrcheck ARGS`, wait until the SMART and access probes have finished and /metadata is hanging,
    then press Ctrl-C. (Polls; pytest-timeout bounds the wait.)"""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ehrcheck", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        done: set[str] = set()
        for line in proc.stderr:
            seen.append(line)
            done.update(p for p in ("smart", "access") if p in line and "completed" in line)
            if done == {"smart", "access"}:
                break
        while not any(p.endswith("/metadata") for p in srv.paths()):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(seen) + err)


@pytest.mark.timeout(120)
def test_ctrl_c_during_audit_keeps_partial_evidence_and_writes_no_report(tmp_path: Path):
    out = tmp_path / "report"
    with fault_server(healthy(metadata=stall())) as srv:
        res = _interrupt_once_stuck(["audit", srv.base, "-o", str(out), "--timeout", "60"], srv)
    assert res.returncode == 130, res.stderr
    assert "interrupted" in res.stderr and "Traceback" not in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["evidence.json"]  # no report, no temp file
    evidence = json.loads((out / "evidence.json").read_text())
    probes = evidence["probes"]
    assert probes["smart"]["status"] == "completed" and probes["smart"]["data"]["found"] is True
    assert probes["access"]["status"] == "completed"
    assert probes["capability"]["status"] == "error"
    assert "interrupted" in probes["capability"]["reason"]
    # The partial evidence is a valid evidence file: it scores, offline, with the gaps as gaps.
    scored = subprocess.run(
        [sys.executable, "-m", "ehrcheck", "score", str(out / "evidence.json"), "-o", "-", "-f", "json", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert scored.returncode == 0, scored.stderr
    findings = {f["rule_id"]: f for f in json.loads(scored.stdout)["findings"]}
    assert findings["INT-001"]["status"] == "not_observed" and "interrupted" in findings["INT-001"]["message"]
    assert findings["INT-018"]["status"] == "pass"


@pytest.mark.timeout(120)
def test_ctrl_c_during_probe_keeps_partial_evidence(tmp_path: Path):
    target = tmp_path / "ev.json"
    with fault_server(healthy(metadata=stall())) as srv:
        res = _interrupt_once_stuck(["probe", srv.base, "-o", str(target), "--timeout", "60"], srv)
    assert res.returncode == 130, res.stderr
    assert "kept the evidence of" in res.stderr
    assert json.loads(target.read_text())["probes"]["smart"]["status"] == "completed"
    assert [p.name for p in tmp_path.iterdir()] == ["ev.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path):
    target = tmp_path / "report.md"
    target.mkdir()  # the rename into place fails: a folder (not empty) holds the name
    (target / "last-week.md").write_text("the report from last week\n")
    with pytest.raises(OSError):
        write_atomic(target, "a whole new report")
    assert (target / "last-week.md").read_text() == "the report from last week\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_a_lone_surrogate_is_replaced_not_a_failed_write(tmp_path: Path):
    target = tmp_path / "report.md"
    write_atomic(target, "half a report … \ud800 and the rest")  # a lone surrogate cannot be UTF-8
    assert target.read_text(encoding="utf-8") == "half a report … ? and the rest"
