"""Every command over a corpus of hostile inputs: the exit code is 0, 1 or 2, stderr has no
traceback and no escape sequence, and a crash (any exception other than a clean exit) fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ehrcheck.cli import app

CLOSED = "http://127.0.0.1:9/fhir"  # nothing listens: a probe ends at once, connection refused

CORPUS: dict[str, bytes] = {
    "empty": b"",
    "binary": bytes(range(256)) * 4,
    "not-utf8": "caf\xe9: [/]\n".encode("latin-1"),
    "surrogate-json": b'{"schema": "\\ud800", "k": "\\udfff[/]\\u001b[2J"}',
    "huge-number": b'{"n": ' + b"9" * 5000 + b"}",
    "deep-json": b"[" * 100_000 + b"]" * 100_000,
    "deep-yaml": b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "alias-bomb": b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n',
    "bad-date": b"claims_version: 1\nexpires: 2026-02-30\nwaivers:\n  - rule: HIP-001\n    expires: 2026-02-30\n",
    "markup": b"title: '[/][bold]x\\e[31m'\n[/]: \"\\x1b]0;pwned\\x07\"\n",
    "ansi-lines": b"\x1b[2J\x1b]0;title\x07http://127.0.0.1:9/fhir\n\x9b31m[/]\n",
    "yaml-list": b"- 1\n- [2, 3]\n",
    "json-array": b"[1, 2, 3]",
    "evidence-shaped": json.dumps({"schema": "ehrcheck/evidence", "schema_version": 1, "probes": {"capability": 3}}).encode(),
    "results-row": json.dumps({"url": CLOSED}).encode() + b"\n",
}


def commands(f: Path, tmp: Path) -> list[list[str]]:
    s = str(f)
    out = str(tmp / "out")
    return [
        ["score", s, "-o", str(tmp / "r.md")],
        ["compare", s, s, "-o", str(tmp / "c.md")],
        ["diff", s, s],
        ["scan", s, "-o", out, "-q", "--timeout", "1"],
        ["claims", "check", s],
        ["rules", "check", s],
        ["rules", "explain", f.read_bytes()[:40].decode("utf-8", "replace").replace("\x00", "")],
        ["probe", CLOSED, "--claims", s, "-o", str(tmp / "ev.json"), "--timeout", "1", "-q"],
        ["audit", CLOSED, "--waivers", s, "-o", out, "--timeout", "1", "-q"],
        ["audit", CLOSED, "--pack", s, "-o", out, "--timeout", "1", "-q"],
        ["audit", CLOSED, "--credentials", s, "-o", out, "--timeout", "1", "-q"],
        ["audit", CLOSED, "--chpl-file", s, "-o", out, "--timeout", "1", "-q"],
        ["audit", CLOSED, "--endpoints-bundle", s, "-o", out, "--timeout", "1", "-q"],
        ["audit", CLOSED, "-o", str(f / "under-a-file"), "--timeout", "1"],
        ["audit", CLOSED, "--label", f.read_bytes()[:60].decode("utf-8", "replace").replace("\x00", ""), "-o", "-", "-f", "md"],
    ]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_command_over_hostile_input(tmp_path: Path, name: str):
    f = tmp_path / f"{name}.yaml"
    f.write_bytes(CORPUS[name])
    runner = CliRunner()
    for args in commands(f, tmp_path):
        res = runner.invoke(app, args, catch_exceptions=True)
        where = f"ehrcheck {' '.join(args)[:120]!r} on {name}"
        assert res.exception is None or isinstance(res.exception, SystemExit), f"{where} crashed: {res.exception!r}"
        assert res.exit_code in (0, 1, 2), f"{where}: exit {res.exit_code}"
        assert "Traceback" not in res.stderr, where
        for bad in ("\x1b", "\x9b", "\x07"):
            assert bad not in res.stderr, f"{where}: {bad!r} on stderr"
        if res.exit_code == 2:
            assert res.stderr.strip(), f"{where}: exit 2 without a message"
