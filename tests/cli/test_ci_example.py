"""examples/ci/: the GitHub Actions workflow's ehrcheck command really runs (against loopback),
its flags exist, and the example waiver file and pack load."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import jsonschema
import yaml

from ehrcheck.cli import app
from ehrcheck.engine.waivers import load_waivers
from ehrcheck.rules.custom import load_custom_packs
from tests.paths import ROOT, SCHEMAS
from tests.support.cli import run
from tests.support.loopback import Reply, serve

EXAMPLES = ROOT / "examples" / "ci"
ROUTES = {
    "/fhir/metadata": Reply(
        200,
        {
            "resourceType": "CapabilityStatement",
            "fhirVersion": "4.0.1",
            "status": "active",
            "kind": "instance",
            "format": ["json"],
            "rest": [{"mode": "server"}],
        },
    ),
}


def _workflow() -> dict:
    return yaml.safe_load((EXAMPLES / "ehrcheck-audit.yml").read_text(encoding="utf-8"))


def _audit_step() -> dict:
    steps = _workflow()["jobs"]["audit"]["steps"]
    return next(s for s in steps if "run" in s and s["run"].lstrip().startswith("ehrcheck "))


def test_workflow_shape():
    wf = _workflow()
    assert wf["permissions"]["security-events"] == "write"
    steps = wf["jobs"]["audit"]["steps"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif"))
    assert upload["with"]["sarif_file"] == "ehrcheck-out/report.sarif"
    assert "always()" in upload["if"]


def test_workflow_command_runs_and_writes_valid_sarif(tmp_path: Path, monkeypatch):
    argv = shlex.split(_audit_step()["run"])
    assert argv[0] == "ehrcheck"
    waivers = tmp_path / ".github" / "ehrcheck-waivers.yaml"
    waivers.parent.mkdir()
    waivers.write_text((EXAMPLES / "waivers.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    with serve(ROUTES) as srv:
        args = [srv.base if a == "$FHIR_BASE_URL" else a for a in argv[1:]]
        res = run(*args, "-q")
    assert res.exit_code in (0, 1), res.output  # the thin server may fall short of the gates; never 2
    out = tmp_path / "ehrcheck-out"
    assert sorted(p.name for p in out.iterdir()) == ["evidence.json", "report.html", "report.json", "report.sarif", "report.xml"]
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    jsonschema.Draft4Validator(schema).validate(json.loads((out / "report.sarif").read_text()))


def test_example_files_load():
    waivers = load_waivers(EXAMPLES / "waivers.yaml")
    assert waivers and all(w.reason and w.expires for w in waivers)
    packs = load_custom_packs([EXAMPLES / "practice-pack.yaml"])
    assert [r.id for r in packs[0].rules] == ["ACM-001", "ACM-002", "ACM-003"]


def _all_options() -> set[str]:
    import typer.main

    root = typer.main.get_command(app)
    found: set[str] = set()

    def walk(cmd) -> None:
        for p in cmd.params:
            found.update(o for o in [*p.opts, *p.secondary_opts] if o.startswith("--"))
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(root)
    return found


def test_every_flag_the_docs_mention_exists():
    import re

    docs = ROOT / "docs"
    known = _all_options()
    for page in (docs / "ci.md", docs / "packs.md", EXAMPLES / "README.md", EXAMPLES / "ehrcheck-audit.yml"):
        mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", page.read_text(encoding="utf-8")))
        assert mentioned - known == set(), f"{page.name} mentions options the CLI does not have"
