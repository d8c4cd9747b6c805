"""Output paths that do what they say, and help and terminal text a person reads.

`-o x.pdf` writes a PDF (not a folder named x.pdf), an unknown extension is refused with the
list of formats, the default folder is named after the target so a second vendor never lands on
the first, and a folder holding another target's report is overwritten only with --force.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ehrcheck.cli import app
from ehrcheck.cli.output import default_folder
from tests.support.cli import ROUTES, run
from tests.support.loopback import serve


def routes_at(prefix: str) -> dict:
    return {path.replace("/fhir", prefix, 1): reply for path, reply in ROUTES.items()}


COMMANDS = (
    ["audit"],
    ["probe"],
    ["score"],
    ["launch"],
    ["demo"],
    ["compare"],
    ["diff"],
    ["scan"],
    ["history"],
    ["claims", "init"],
    ["claims", "check"],
    ["rules", "list"],
    ["rules", "explain"],
    ["rules", "check"],
    [],
)


def test_a_file_extension_names_the_format_and_an_unknown_one_is_refused(tmp_path: Path):
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "t8" / "out.txt"))
        assert res.exit_code == 2
        assert "'.txt' is not a report format" in res.output and ".pdf" in res.output and "summary" in res.output
        assert not (tmp_path / "t8").exists()  # refused before probing: nothing written
        res = run("audit", srv.base, "-o", str(tmp_path / "one.md"), "-q")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "one.md").is_file() and (tmp_path / "one.evidence.json").is_file()
    assert (tmp_path / "one.md").read_text().startswith("# ehrcheck readiness report")


def test_a_folder_name_with_a_dot_is_a_folder_when_it_ends_with_a_slash(tmp_path: Path):
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", f"{tmp_path / 'reports.v2'}/", "-q")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "reports.v2" / "report.html").is_file()


def test_the_default_folder_is_named_after_the_target_and_a_second_vendor_gets_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    with serve(ROUTES) as first, serve(routes_at("/api/r4"), prefix="/api/r4") as second:
        assert run("audit", first.base, "-q").exit_code == 0
        assert run("audit", second.base, "-q").exit_code == 0
        folders = sorted(p.name for p in tmp_path.iterdir())
        assert folders == sorted({default_folder(first.base).name, default_folder(second.base).name})
        assert len(folders) == 2 and all(re.fullmatch(r"ehrcheck-127\.0\.0\.1-\d+-[a-z0-9-]+", f) for f in folders)
        for base, folder in ((first.base, default_folder(first.base)), (second.base, default_folder(second.base))):
            assert json.loads((tmp_path / folder / "report.json").read_text())["target"]["base_url"] == base


def test_a_folder_holding_another_targets_report_needs_force(tmp_path: Path):
    out = tmp_path / "vendor-report"
    with serve(ROUTES) as first, serve(routes_at("/other"), prefix="/other") as second:
        assert run("audit", first.base, "-o", str(out), "-q").exit_code == 0
        before = (out / "report.json").read_text()
        res = run("audit", second.base, "-o", str(out), "-q")
        assert res.exit_code == 2
        assert "holds the report of another target" in res.output and first.base in res.output and "--force" in res.output
        assert (out / "report.json").read_text() == before  # untouched
        assert run("audit", first.base, "-o", str(out), "-q").exit_code == 0  # the same target: a re-run
        assert run("audit", second.base, "-o", str(out), "-q", "--force").exit_code == 0
    assert json.loads((out / "report.json").read_text())["target"]["base_url"] == second.base


def test_stdout_cannot_take_a_pdf(tmp_path: Path):
    res = run("score", str(tmp_path / "x.json"), "-o", "-", "-f", "pdf")
    assert res.exit_code == 2 and "a PDF goes to a file" in res.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "ehrcheck")
def test_help_shows_metavars_a_person_reads(command: list[str]):
    res = run(*command, "--help")
    assert res.exit_code == 0
    text = res.stdout
    assert not re.search(r"<(bool|str|path|int|float|list)", text), text  # no Python types
    assert not re.search(r"\{[a-z_]+\}", text), text  # no {base_url}


def test_flags_read_as_flags_and_arguments_as_what_they_are():
    audit = run("audit", "--help").stdout
    assert re.search(r"Usage: ehrcheck audit \[OPTIONS\] URL", audit)
    assert re.search(r"--pdf\s{2,}Also print", audit)  # nothing between the flag and its help
    assert re.search(r"--fail-under\s+N", audit) and re.search(r"--claims\s+FILE", audit)
    assert "Usage: ehrcheck compare [OPTIONS] RUN..." in run("compare", "--help").stdout


def test_each_command_lists_only_its_own_gates():
    diff = run("diff", "--help").stdout
    assert "--fail-on-regression" in diff and "--fail-on-new" in diff
    assert "--fail-under" not in diff and "--fail-on " not in diff and "waiver" not in diff
    audit = run("audit", "--help").stdout
    assert "regression" not in audit


def test_the_terminal_summary_states_the_finding_not_the_rule_title(tmp_path: Path):
    from ehrcheck.engine.scorecard import score_evidence

    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(tmp_path / "r"))
    assert res.exit_code == 0
    evidence = json.loads((tmp_path / "r" / "evidence.json").read_text())
    from ehrcheck.models import Evidence

    result = score_evidence(Evidence.model_validate(evidence))
    failed = next(f for f in result.findings if f.status.value == "fail" and f.message and f.message != f.title)
    flat = " ".join(res.stderr.split())
    assert failed.message.split(".")[0][:40] in flat
    assert f"{failed.rule_id} │ {failed.severity.value} │ {failed.title}" not in res.stderr


def test_a_waiver_for_a_rule_that_does_not_apply_says_so(tmp_path: Path):
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.engine.waivers import Waiver, unused_reason
    from ehrcheck.models import Evidence

    with serve(ROUTES) as srv:
        assert run("audit", srv.base, "-o", str(tmp_path / "r"), "-q").exit_code == 0
    result = score_evidence(Evidence.model_validate_json((tmp_path / "r" / "evidence.json").read_text()))
    by_status = {f.status.value: f.rule_id for f in result.findings}
    import datetime as dt

    def waiver(rule: str) -> Waiver:
        return Waiver(rule=rule, target="*", reason="r", expires=dt.date(2099, 1, 1), source="w.yaml:2")

    assert "does not apply" in unused_reason(waiver(by_status["not_applicable"]), result)
    assert "fixed" not in unused_reason(waiver(by_status["not_applicable"]), result)
    assert "could not be observed" in unused_reason(waiver(by_status["not_observed"]), result)
    assert "remove the waiver if the problem is fixed" in unused_reason(waiver(by_status["pass"]), result)


def test_app_is_the_one_cli():
    assert app.info.name == "ehrcheck"
