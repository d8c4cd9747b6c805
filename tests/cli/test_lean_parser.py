"""`score` and `audit` without typer (ehrcheck/cli/lean.py) do what typer does with the same command line.

Two parts. On a table of command lines, the lean parser either gives the command exactly the
values typer gives it, or leaves the line to typer; every line typer refuses (its errors) is left
to typer; and the lines a person usually types are taken by the lean parser, so the fast path is
real. Then real processes: the same evidence scored through the lean path and through typer
(forced by giving a flag's value through its environment variable) write the same bytes, exit
with the same code and print the same error."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ehrcheck
import ehrcheck.cli.audit as audit_module
from ehrcheck.cli import build_app
from ehrcheck.cli.lean import LEAN as LEAN_COMMANDS
from ehrcheck.cli.lean import parse
from ehrcheck.cli.options import typer_command
from ehrcheck.cli.spec import AUDIT, DEBUG, SCORE, Opt
from tests.support.cli import ROUTES
from tests.support.loopback import serve

ROOT = Path(ehrcheck.__file__).resolve().parent.parent
EVIDENCE = ROOT / "tests" / "files" / "evidence_v1" / "demo-summit-health-cloud.json.gz"
ENVVARS = sorted(
    {p.decl.envvar for c in (SCORE, AUDIT) for p in c.params if isinstance(p.decl, Opt) and p.decl.envvar} | {DEBUG.envvar}
)

LEAN, TYPER = "lean", "typer"  # who must parse the line
CASES: list[tuple[list[str], dict[str, str], str]] = [
    (["e.json"], {}, LEAN),
    (["e.json", "-o", "-", "--format", "json"], {}, LEAN),
    (["e.json", "-o", "-", "--format", "json", "-q"], {}, LEAN),
    (["-q", "e.json", "-f", "md", "--output", "out"], {}, LEAN),
    (["e.json", "--output=out.html", "--format=html", "--quiet"], {}, LEAN),
    (["e.json", "--fail-under", "80", "--fail-on", "high", "--exit-zero"], {}, LEAN),
    (["e.json", "--fail-under", "0"], {}, LEAN),
    (["e.json", "--fail-under", "100"], {}, LEAN),
    (["e.json", "--fail-under", "99.5"], {}, LEAN),
    (["e.json", "--fail-under=12.25"], {}, LEAN),
    (["e.json", "--as-of", "2026-01-31", "--profile", "solo"], {}, LEAN),
    (["e.json", "--pdf", "--force"], {}, LEAN),
    (["e.json", "--waivers", "w.yaml", "--pack", "a.yaml", "--pack", "b.yaml"], {}, LEAN),
    (["e.json", "--pack=a.yaml"], {}, LEAN),
    (["e.json", "--profile", "no-such-profile", "--as-of", "soon"], {}, LEAN),  # the command refuses these
    (["dir/e v.json", "-o", "report dir/"], {}, LEAN),
    # typer's errors: the lean parser never claims them
    ([], {}, TYPER),
    (["a.json", "b.json"], {}, TYPER),
    (["e.json", "--nope"], {}, TYPER),
    (["e.json", "-o"], {}, TYPER),
    (["e.json", "--format"], {}, TYPER),
    (["e.json", "--fail-under", "abc"], {}, TYPER),
    (["e.json", "--fail-under", "101"], {}, TYPER),
    (["e.json", "--fail-under", "-1"], {}, TYPER),
    (["e.json", "--fail-under", ""], {}, TYPER),
    (["e.json", "--pdf=yes"], {}, TYPER),
    (["e.json", "--quiet=1"], {}, TYPER),
    (["e.json", "-x"], {}, TYPER),
    (["e.json", "--timeout", "5"], {}, TYPER),  # audit's flag, not score's
    # lines typer reads its own way, left to it
    (["e.json", "--fail-under", "1e1"], {}, TYPER),
    (["e.json", "--fail-under", "nan"], {}, TYPER),
    (["e.json", "--fail-under", " 5"], {}, TYPER),
    (["e.json", "-qo", "-"], {}, TYPER),
    (["e.json", "-ofile.json"], {}, TYPER),
    (["e.json", "-o=file.json"], {}, TYPER),
    (["e.json", "-o", "--force"], {}, TYPER),
    (["e.json", "-o", "a", "-o", "b"], {}, TYPER),
    (["e.json", "-q", "-q"], {}, TYPER),
    (["--", "e.json"], {}, TYPER),
    (["-"], {}, TYPER),
    ([""], {}, TYPER),
    (["e.json", "--help"], {}, TYPER),
    (["e.json", "-o", ""], {}, TYPER),
    (["e.json", "--format", "json"], {"EHRCHECK_OUTPUT": "-"}, TYPER),
    (["e.json"], {"EHRCHECK_FORMAT": "json"}, TYPER),
    (["e.json"], {"EHRCHECK_PACK": "a.yaml b.yaml"}, TYPER),
    (["e.json"], {"EHRCHECK_PDF": "1"}, TYPER),
    (["e.json"], {"EHRCHECK_FAIL_UNDER": "120"}, TYPER),
    (["e.json"], {"EHRCHECK_DEBUG": "1"}, TYPER),
    (["e.json"], {"_EHRCHECK_COMPLETE": "bash_complete"}, TYPER),
]
AUDIT_CASES: list[tuple[list[str], dict[str, str], str]] = [
    (["http://127.0.0.1:1/fhir"], {}, LEAN),
    (["https://h.example/r4", "-o", "out", "-q", "--timeout", "2.5", "--ca-bundle", "ca.pem"], {}, LEAN),
    (["https://h.example/r4", "--format", "json,md", "--fail-under", "70", "--fail-on", "high", "--exit-zero"], {}, LEAN),
    (["-f", "json", "--output=-", "https://h.example/r4"], {}, LEAN),
    (["https://h.example/r4", "--as-of", "2026-01-31", "--profile", "fqhc", "--pdf", "--force"], {}, LEAN),
    (["https://h.example/r4", "--claims", "c.yaml", "--evidence", "e.json", "--label", "Acme EHR"], {}, LEAN),
    (["https://h.example/r4", "--waivers", "w.yaml", "--pack", "p.yaml", "--pack", "q.yaml"], {}, LEAN),
    (["https://h.example/r4", "--chpl-id", "15.04.04.1932.WebC.84.01.0.221117", "--chpl-id", "2"], {}, LEAN),
    (["https://h.example/r4", "--chpl-file", "chpl.json", "--chpl-url", "http://127.0.0.1:2/rest"], {}, LEAN),
    (["https://h.example/r4", "--endpoints-bundle", "b.json", "--endpoints-sample", "0"], {}, LEAN),
    (["https://h.example/r4", "--credentials", "cred.yaml", "--patient", "p1", "--patient", "p2"], {}, LEAN),
    (["https://h.example/r4", "--us-core", "all", "--us-core-version", "7.0.0", "--tx-server", "http://t/"], {}, LEAN),
    (["https://h.example/r4", "--sample", "2", "--bulk-timeout", "30", "--include-phi", "--quiet"], {}, LEAN),
    (["https://h.example/r4", "--timeout", "0"], {}, LEAN),  # the command refuses it (exit 2)
    (["not a url"], {}, LEAN),  # likewise
    ([], {}, TYPER),
    (["https://h.example/r4", "--timeout", "abc"], {}, TYPER),
    (["https://h.example/r4", "--endpoints-sample", "x"], {}, TYPER),
    (["https://h.example/r4", "--endpoints-sample", "-1"], {}, TYPER),
    (["https://h.example/r4", "--sample", "2.5"], {}, TYPER),
    (["https://h.example/r4", "--sample", "+2"], {}, TYPER),
    (["https://h.example/r4", "--include-phi=1"], {}, TYPER),
    (["https://h.example/r4", "extra"], {}, TYPER),
    (["https://h.example/r4", "--launch", "standalone"], {}, TYPER),  # reads stdin: typer's EOF handling
    (["https://h.example/r4", "--no-browser"], {}, TYPER),
    (["https://h.example/r4", "--launch-timeout", "5"], {}, TYPER),
    (["https://h.example/r4"], {"EHRCHECK_LAUNCH": "ehr"}, TYPER),
    (["https://h.example/r4"], {"EHRCHECK_TIMEOUT": "3"}, TYPER),
    (["https://h.example/r4"], {"EHRCHECK_CHPL_ID": "1 2"}, TYPER),
    (["https://h.example/r4", "--help"], {}, TYPER),
]
TABLE = [("score", *c) for c in CASES] + [("audit", *c) for c in AUDIT_CASES]
DECLARED = {"score": SCORE, "audit": AUDIT}


def _typer_values(
    command: str, argv: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any] | None]:
    """The exit code and the values the real typer command calls the command's work with."""
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(audit_module, command, typer_command(DECLARED[command], lambda **values: seen.append(values)))
    app = build_app(command)
    full_env: dict[str, str | None] = {name: None for name in ENVVARS}
    full_env.update(env)
    res = CliRunner().invoke(app, [command, *argv], env=full_env)
    return res.exit_code, (seen[0] if seen else None)


@pytest.mark.parametrize(
    ("command", "argv", "env", "who"),
    TABLE,
    ids=[f"{c[0]} " + " ".join(c[1]) + (f" {c[2]}" if c[2] else "") for c in TABLE],
)
def test_lean_parser_agrees_with_typer(
    command: str, argv: list[str], env: dict[str, str], who: str, monkeypatch: pytest.MonkeyPatch
):
    code, typer_values = _typer_values(command, argv, env, monkeypatch)
    declared, _, typer_only = LEAN_COMMANDS[command]
    lean_values = parse(declared, argv, env, typer_only)
    if who == LEAN:
        assert code == 0 and typer_values is not None, f"typer refused a line the table calls simple (exit {code})"
        assert lean_values is not None, "the lean parser left a simple line to typer"
    else:
        assert lean_values is None, lean_values
    if lean_values is not None:
        assert lean_values == typer_values
        assert [type(v) for v in lean_values.values()] == [type(v) for v in typer_values.values()]


@pytest.mark.parametrize("command", ["score", "audit"])
def test_every_option_is_in_the_table(command: str):
    """Each flag of the declaration appears in a line of the table (a new option gets a case)."""
    given = {word.split("=")[0] for name, argv, _, _ in TABLE if name == command for word in argv}
    flags = {flag for p in DECLARED[command].params if isinstance(p.decl, Opt) for flag in p.decl.flags}
    assert flags <= given, flags - given


def _ehrcheck(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    clean = {k: v for k, v in os.environ.items() if k not in ENVVARS}
    # sys.modules at exit tells which path ran: the lean one never imports typer.
    code = "import atexit, sys; atexit.register(lambda: sys.stderr.write('\\nTYPER ' + str('typer' in sys.modules)))\n"
    code += "sys.argv[0] = 'ehrcheck'\nfrom ehrcheck.cli import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**clean, "COLUMNS": "120", "NO_COLOR": "1", **env},
        capture_output=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["-o", "-", "--format", "json", "-q"], {"EHRCHECK_FORMAT": "json"}),
        (["-o", "-", "--format", "md", "--profile", "solo"], {"EHRCHECK_PROFILE": "solo"}),
        (["-o", "-", "--format", "sarif", "--fail-under", "99.5"], {"EHRCHECK_FAIL_UNDER": "99.5"}),
        (["-o", "-", "--format", "json", "--fail-on", "info"], {"EHRCHECK_FAIL_ON": "info"}),
        (["-o", "-", "--format", "json", "--fail-on", "info", "--exit-zero"], {"EHRCHECK_EXIT_ZERO": "1"}),
        (["-o", "-", "--format", "json", "--profile", "nope"], {"EHRCHECK_PROFILE": "nope"}),
        (["-o", "-", "--format", "json", "--as-of", "soon"], {"EHRCHECK_AS_OF": "soon"}),
        (["-o", "report.txt", "--format", "json"], {"EHRCHECK_FORMAT": "json"}),
        (["-o", "out", "--format", "html,md,json"], {"EHRCHECK_FORMAT": "html,md,json"}),
    ],
)
def test_lean_and_typer_runs_write_the_same(tmp_path: Path, args: list[str], env: dict[str, str]):
    """Each pair: the lean line, and typer's run of it with one flag given by its environment
    variable instead (the same value, so the same command)."""
    evidence = tmp_path / "evidence.json"
    evidence.write_bytes(gzip.decompress(EVIDENCE.read_bytes()))
    flag = {
        "EHRCHECK_FORMAT": "--format",
        "EHRCHECK_PROFILE": "--profile",
        "EHRCHECK_FAIL_UNDER": "--fail-under",
        "EHRCHECK_FAIL_ON": "--fail-on",
        "EHRCHECK_EXIT_ZERO": "--exit-zero",
        "EHRCHECK_AS_OF": "--as-of",
    }[next(iter(env))]
    typer_args = list(args)
    at = typer_args.index(flag)
    del typer_args[at : at + (1 if flag == "--exit-zero" else 2)]
    runs = {}
    for path, line, extra in (("lean", args, {}), ("typer", typer_args, env)):
        cwd = tmp_path / path
        cwd.mkdir()
        proc = _ehrcheck(["score", str(evidence), *line], cwd, extra)
        stderr, typer_loaded = proc.stderr.rsplit(b"\nTYPER ", 1)
        assert typer_loaded == (b"True" if path == "typer" else b"False")
        files = {str(p.relative_to(cwd)): p.read_bytes() for p in sorted(cwd.rglob("*")) if p.is_file()}
        runs[path] = (proc.returncode, proc.stdout, stderr, files)
    assert runs["lean"] == runs["typer"]
    assert b"Traceback" not in runs["lean"][2]


def test_an_audit_runs_without_typer(tmp_path: Path):
    """A simple audit line of a loopback server: the lean path, its reports, exit 0; and a bad
    base URL refused by it with typer's run's message and exit code."""
    with serve(ROUTES) as srv:
        proc = _ehrcheck(["audit", srv.base, "-o", "out", "-q"], tmp_path, {})
    stderr, typer_loaded = proc.stderr.rsplit(b"\nTYPER ", 1)
    assert proc.returncode == 0 and typer_loaded == b"False", stderr.decode(errors="replace")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["evidence.json", "report.html", "report.json", "report.md"]
    runs = []
    for env in ({}, {"EHRCHECK_TIMEOUT": "10"}):  # the default, given by its variable: typer parses
        bad = _ehrcheck(["audit", "ftp://127.0.0.1/fhir", "-o", "out2"], tmp_path, env)
        runs.append((bad.returncode, bad.stdout, bad.stderr.rsplit(b"\nTYPER ", 1)))
    assert runs[0][0] == runs[1][0] == 2
    assert runs[0][1:2] == runs[1][1:2] and runs[0][2][0] == runs[1][2][0]
    assert [r[2][1] for r in runs] == [b"False", b"True"]
    assert b"must start with http:// or https://" in runs[0][2][0] and b"Traceback" not in runs[0][2][0]
