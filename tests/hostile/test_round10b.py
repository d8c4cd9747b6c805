"""Attack round 10, second part: control characters in JUnit attributes, result rows whose file
fields point anywhere, NaN gates that never trip, and packs whose regexes add up to minutes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ehrcheck.files.store import evidence_text
from ehrcheck.inert import visible
from tests.hostile.test_messages import assert_message
from tests.support.cli import ROUTES, run
from tests.support.evidence import evidence
from tests.support.loopback import serve

HOSTILE = ["\x1b[31m\x07[/]", "[/]\x1b]8;;http://e\x07"]


@pytest.mark.parametrize("version", HOSTILE)
def test_junit_spells_out_control_characters_in_attributes(tmp_path: Path, version: str):
    """An evidence file's tool_version went raw into <testsuite version="…">: ESC and BEL, and
    the file was no longer XML (expat: invalid token)."""
    ev = tmp_path / "ev.json"
    ev.write_text(evidence_text(evidence({"availability": {"reachable": True}}, tool_version=version)), encoding="utf-8")
    res = run("score", str(ev), "-o", str(tmp_path / "out"), "-f", "junit", "-q")
    assert res.exit_code in (0, 1), res.output[-2000:]
    text = (tmp_path / "out" / "report.xml").read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text
    suite = ET.fromstring(text).find("testsuite")
    assert suite is not None and suite.get("version") == visible(version)


def _scan(tmp_path: Path, *extra: str) -> tuple[Path, Path, object]:
    listing, out = tmp_path / "urls.txt", tmp_path / "s"
    with serve(ROUTES) as srv:
        listing.write_text(f"{srv.base}?a=1\n{srv.base}?b=2\n", encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out), "--workers", "1", "--timeout", "3", "-q", *extra)
    return listing, out, res


def _edit_first_row(out: Path, **fields: str) -> None:
    path = out / "results.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0].update(fields)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "fields",
    [{"report": "javascript:alert(1)"}, {"report": "../../../../etc/passwd"}, {"evidence": "/etc/shadow"}],
)
def test_a_resumed_row_whose_files_ehrcheck_never_named_is_refused(tmp_path: Path, fields: dict[str, str]):
    """`scan --resume` took such a row (exit 0) and index.html linked to it:
    `<a href="javascript:alert(1)">`."""
    listing, out, res = _scan(tmp_path, "--reports", "--keep-evidence")
    assert res.exit_code in (0, 1), res.output[-2000:]
    _edit_first_row(out, **fields)
    with serve(ROUTES):
        again = run("scan", str(listing), "-o", str(out), "--resume", "--reports", "--timeout", "3", "-q")
    field = next(iter(fields))
    assert_message(again, "results.jsonl:1", "never writes", f"field '{field}'")
    assert list(fields.values())[0] not in (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.timeout(120)
def test_scan_junit_cleans_a_resumed_rows_timestamp(tmp_path: Path):
    """The scan's JUnit set a row's evidence_finished_at as the suite's timestamp unchanged."""
    listing, out, res = _scan(tmp_path, "-f", "junit")
    assert res.exit_code in (0, 1), res.output[-2000:]
    _edit_first_row(out, evidence_finished_at="2026\x1b[2J\x07")
    with serve(ROUTES):
        again = run("scan", str(listing), "-o", str(out), "--resume", "-f", "junit", "--timeout", "3", "-q")
    assert again.exit_code in (0, 1), again.output[-2000:]
    text = next(out.glob("*.xml")).read_text(encoding="utf-8")
    assert "\x1b" not in text
    assert any(s.get("timestamp") == "2026\\x1b[2J\\x07" for s in ET.fromstring(text).iter("testsuite"))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "flags, env",
    [
        (["--fail-under", "100", "--min-passing", "nan%"], {}),
        (["--fail-under", "100", "--max-unreachable", "nan"], {}),
        (["--fail-under", "nan"], {}),
        (["--fail-under", "inf"], {}),
        ([], {"EHRCHECK_FAIL_UNDER": "nan"}),
    ],
)
def test_scan_gates_refuse_nan_and_infinity(tmp_path: Path, flags: list[str], env: dict[str, str]):
    """`--min-passing nan%` and `--fail-under nan` were taken, and the gate never tripped (exit 0
    for an endpoint scoring 53 under --fail-under 100)."""
    listing = tmp_path / "one.txt"
    listing.write_text("http://127.0.0.1:9/fhir\n", encoding="utf-8")
    res = run("scan", str(listing), "-o", str(tmp_path / "s"), "--timeout", "3", "-q", *flags, env=env)
    assert_message(res, "is not")


PACK_RULE = """  - id: ACM-{n:03d}
    title: t
    severity: low
    weight: 1
    needs: [capability]
    check: {{path: capability.software.name, op: regex, value: '{pattern}'}}
    pass_message: p
    fail_message: f
    references:
      - cite: c
    remediation: r
    vendor_question: q
"""


def _pack(tmp_path: Path, pattern: str, rules: int) -> Path:
    pack = tmp_path / "pack.yaml"
    body = "".join(PACK_RULE.format(n=n, pattern=pattern) for n in range(1, rules + 1))
    pack.write_text(f"pack: practice\ntitle: t\ndescription: d\nrules:\n{body}", encoding="utf-8")
    return pack


@pytest.mark.parametrize("pattern", [r"(?:(?<=a)a)*b", r"(?:(?!b).)*b", r"(a)(?:x\1)*b", r"(a)?(?:(?(1)x|y))*b"])
def test_a_lookaround_or_backreference_inside_a_repetition_is_refused(tmp_path: Path, pattern: str):
    """`(?:(?<=a)a)*b` passed `rules check` and took 1.4 s per rule on 10,000 characters."""
    assert_message(run("rules", "check", str(_pack(tmp_path, pattern, 1))), "pack.yaml:10", "rule ACM-001", "inside a repetition")


def test_the_regexes_of_a_pack_are_bounded_together(tmp_path: Path):
    """Each regex was bounded alone, so 999 accepted ones were ~25 minutes of CPU per score."""
    assert run("rules", "check", str(_pack(tmp_path, r"(?i)a*b", 9))).exit_code == 0
    assert_message(run("rules", "check", str(_pack(tmp_path, r"(?i)a*b", 10))), "rule ACM-010", "together can take minutes")
    assert run("rules", "check", str(_pack(tmp_path, r"(?i)^a*b", 300))).exit_code == 0


def test_the_regex_budget_is_shared_by_every_pack_of_a_run(tmp_path: Path):
    from ehrcheck.errors import UserInputError
    from ehrcheck.rules.custom import load_custom_packs

    first = _pack(tmp_path, r"(?i)a*b", 5)
    second = tmp_path / "second.yaml"
    second.write_text(
        first.read_text(encoding="utf-8").replace("pack: practice", "pack: other").replace("ACM-", "ACN-"), encoding="utf-8"
    )
    with pytest.raises(UserInputError, match="second.yaml:.*rule ACN-005: the regex checks of the packs together"):
        load_custom_packs([first, second])
