"""Custom packs (--pack FILE): the built-in schema, located errors and exit 2 when malformed,
no collisions with built-in ids, and custom rules scored and reported like built-in ones."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ehrcheck.engine.scoring import PROFILES, overall_score, pack_weight
from ehrcheck.errors import UserInputError
from ehrcheck.models import PackScore
from ehrcheck.rules.custom import load_custom_packs
from tests.paths import ROOT
from tests.support.cli import run
from tests.support.loopback import Reply, serve

EXAMPLE = ROOT / "examples" / "ci" / "practice-pack.yaml"
CAP = {
    "resourceType": "CapabilityStatement",
    "fhirVersion": "4.0.1",
    "status": "active",
    "kind": "instance",
    "format": ["json"],
    "rest": [
        {
            "mode": "server",
            "resource": [
                {"type": "Patient", "interaction": [{"code": "read"}]},
                {"type": "Immunization", "interaction": [{"code": "read"}, {"code": "search-type"}]},
            ],
        }
    ],
}
ROUTES = {
    "/fhir/metadata": Reply(200, CAP),
    "/fhir/Patient": Reply(401, {"resourceType": "OperationOutcome", "issue": []}, {"WWW-Authenticate": "Bearer"}),
}
RULE = """\
  - id: {id}
    title: A custom rule
    severity: medium
    weight: 3
    needs: [capability]
    check: {check}
    pass_message: ok
    fail_message: not ok
    references:
      - cite: "HL7 FHIR R4"
    remediation: fix it
    vendor_question: will you fix it?
"""


def _pack(tmp_path: Path, name: str = "mine", rules: str | None = None, filename: str = "pack.yaml") -> Path:
    body = rules if rules is not None else RULE.format(id="ACM-101", check="{path: capability.found, op: equals, value: true}")
    path = tmp_path / filename
    path.write_text(f"pack: {name}\ntitle: Mine\ndescription: my rules\nrules:\n{body}", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("packs") / "evidence.json"
    with serve(ROUTES) as srv:
        assert run("probe", srv.base, "-o", str(path), "-q").exit_code == 0
    return path


def test_example_pack_scores_like_a_builtin_pack(evidence: Path, tmp_path: Path):
    out = tmp_path / "out"
    res = run("score", str(evidence), "--pack", str(EXAMPLE), "-o", str(out), "-f", "json,md,html,sarif,junit", "-q")
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    found = {f["rule_id"]: f for f in report["findings"] if f["pack"] == "practice"}
    assert found["ACM-001"]["status"] == "fail"  # no Appointment at all
    assert found["ACM-002"]["status"] == "pass"  # Immunization is declared with read
    assert found["ACM-003"]["status"] == "warn"  # no SMART configuration, so no offline_access (a warn rule)
    pack = next(p for p in report["packs"] if p["pack"] == "practice")
    assert pack["title"] == "Our clients' extra requirements" and pack["score"] is not None
    assert report["packs"][-1]["pack"] == "practice"  # after the built-in packs
    for name in ("report.md", "report.html", "report.sarif", "report.xml"):
        text = (out / name).read_text()
        assert "ACM-001" in text, name
    assert "Our clients&#39; extra requirements" in (out / "report.html").read_text()
    # without the pack, the same evidence has no custom rules and a different overall score
    plain = run("score", str(evidence), "-o", "-", "-f", "json", "-q")
    plain_report = json.loads(plain.stdout)
    assert not any(f["pack"] == "practice" for f in plain_report["findings"])


def test_custom_pack_weight_defaults_to_the_profile_average():
    weights = PROFILES["default"]
    assert pack_weight("default", "practice") == pytest.approx(sum(weights.values()) / len(weights))
    assert pack_weight("default", "hipaa") == weights["hipaa"]
    packs = [PackScore(pack=p, title=p, score=100.0, low=100.0, high=100.0, counts={}) for p in weights]
    with_custom = overall_score(
        packs + [PackScore(pack="practice", title="x", score=0.0, low=0.0, high=0.0, counts={})], "default"
    )
    # one extra pack at the average weight among N built-ins pulls a perfect score to N/(N+1)
    assert with_custom.score == pytest.approx(round(100 * len(weights) / (len(weights) + 1), 1))


def test_repeatable_and_listed_by_rules_check(tmp_path: Path):
    other = _pack(tmp_path, "second", RULE.format(id="XYZ-001", check="{fn: fhir_r4}"), "second.yaml")
    res = run("rules", "check", str(EXAMPLE), str(other))
    assert res.exit_code == 0, res.output
    assert "ACM-003" in res.stdout and "XYZ-001" in res.stdout and "4 rules in 2 custom pack(s)" in res.stdout


@pytest.mark.parametrize(
    "rules, name, message",
    [
        (
            RULE.format(id="INT-001", check="{fn: fhir_r4}"),
            "mine",
            "INT-001: that id belongs to the built-in interoperability pack",
        ),
        (RULE.format(id="HIP-900", check="{fn: fhir_r4}"), "mine", "the HIP- prefix is reserved"),
        (RULE.format(id="ACM-001", check="{fn: os_system}"), "mine", "unknown function 'os_system'"),
        (RULE.format(id="ACM-001", check="{path: capability.found, op: approx, value: 1}"), "mine", "rule ACM-001: check"),
        (RULE.format(id="acm-1", check="{fn: fhir_r4}"), "mine", "must look like INT-001"),
        (
            RULE.format(id="ACM-001", check="{fn: fhir_r4}").replace("severity: medium", "severity: catastrophic"),
            "mine",
            "rule ACM-001: severity",
        ),
        (RULE.format(id="ACM-001", check="{fn: fhir_r4}"), "hipaa", "is the name of a built-in pack"),
        (RULE.format(id="ACM-001", check="{fn: fhir_r4}") * 2, "mine", "ACM-001: appears twice"),
        ("  []\n", "mine", "a pack needs at least one rule"),
        ("", "mine", "rules: Input should be a valid list"),
    ],
)
def test_malformed_packs_are_located(tmp_path: Path, rules: str, name: str, message: str):
    path = _pack(tmp_path, name, rules)
    with pytest.raises(UserInputError) as err:
        load_custom_packs([path])
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_errors_carry_the_line(tmp_path: Path):
    bad = RULE.format(id="ACM-001", check="{fn: fhir_r4}").replace("severity: medium", "severity: catastrophic")
    path = _pack(tmp_path, "mine", bad)
    with pytest.raises(UserInputError) as err:
        load_custom_packs([path])
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "catastrophic" in text)
    assert f"{path}:{line}: rule ACM-001: severity" in str(err.value)


def test_the_same_id_in_two_packs_is_refused(tmp_path: Path):
    a = _pack(tmp_path, "one", filename="a.yaml")
    b = _pack(tmp_path, "two", filename="b.yaml")
    with pytest.raises(UserInputError) as err:
        load_custom_packs([a, b])
    assert "ACM-101: also defined in" in str(err.value)


@pytest.mark.parametrize("command", ["score", "rules"])
def test_cli_malformed_pack_is_exit_2_without_traceback(evidence: Path, tmp_path: Path, command: str):
    path = tmp_path / "broken.yaml"
    path.write_text("pack: mine\ntitle: [unclosed\ndescription: x\nrules: []\n", encoding="utf-8")
    args = ["score", str(evidence), "--pack", str(path)] if command == "score" else ["rules", "check", str(path)]
    res = run(*args)
    assert res.exit_code == 2
    flat = res.output.replace("\n", "")
    assert re.search(re.escape(str(path)) + r":\d+:\d+: ?not valid YAML", flat), res.output
    assert "Traceback" not in res.output
    res = run("score", str(evidence), "--pack", str(tmp_path / "missing.yaml"))
    assert res.exit_code == 2 and "cannot read" in res.output


ARG_RULE = RULE.replace("needs: [capability]", "needs: [token]").replace(
    "    check: {check}\n", "    check:\n      fn: token_lifetime\n      args:\n{args}"
)


@pytest.mark.parametrize(
    ("args", "bad", "message"),
    [
        ("        max_secnds: 60\n", "max_secnds", "check.args.max_secnds: unknown argument"),
        ("        max_seconds: sixty\n", "sixty", "check.args.max_seconds: Input should be a valid number"),
    ],
    ids=["misspelled", "mistyped"],
)
@pytest.mark.parametrize("command", ["score", "rules"])
def test_a_bad_check_argument_is_a_located_error(evidence: Path, tmp_path: Path, args: str, bad: str, message: str, command: str):
    """`args: {max_secnds: 60}` used to pass and silently score with the default 300 s."""
    path = _pack(tmp_path, "mine", ARG_RULE.format(id="ACM-001", args=args))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if bad in text)
    argv = ["score", str(evidence), "--pack", str(path), "-q"] if command == "score" else ["rules", "check", str(path)]
    res = run(*argv)
    assert res.exit_code == 2
    assert f"{path}:{line}: rule ACM-001: {message}" in res.output.replace("\n", "")
    assert "Traceback" not in res.output


def test_good_check_arguments_pass_rules_check(tmp_path: Path):
    path = _pack(tmp_path, "mine", ARG_RULE.format(id="ACM-001", args="        max_seconds: 60\n"))
    res = run("rules", "check", str(path))
    assert res.exit_code == 0, res.output


def test_a_reference_that_is_not_a_web_address_is_refused(evidence: Path, tmp_path: Path):
    """Attack round F5: a custom pack's reference URL becomes a link in HTML and SARIF, so
    javascript: (or data:, file:) never loads."""
    pack = tmp_path / "js.yaml"
    pack.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace(
            "url: https://hl7.org/fhir/R4/appointment.html", 'url: "javascript:alert(document.domain)"'
        ),
        encoding="utf-8",
    )
    assert "javascript:" in pack.read_text(encoding="utf-8")
    for args in (("rules", "check", str(pack)), ("score", str(evidence), "--pack", str(pack), "-o", str(tmp_path / "o"))):
        res = run(*args)
        assert res.exit_code == 2, res.output
        assert "references.0.url" in res.output and "http:// or https://" in res.output
    assert not (tmp_path / "o").exists()


def test_pack_text_is_inert_in_sarif_markdown(evidence: Path, tmp_path: Path):
    """Attack round F6: remediation, question and citation text reach SARIF's help.markdown inert."""
    payload = "TRK ![t](http://127.0.0.1:9/track.png) <img src=x onerror=alert(1)> [c](javascript:alert(2))"
    text = EXAMPLE.read_text(encoding="utf-8")
    pack = tmp_path / "md.yaml"
    pack.write_text(re.sub(r"remediation: .*", f"remediation: {json.dumps(payload)}", text, count=1), encoding="utf-8")
    res = run("score", str(evidence), "--pack", str(pack), "-o", str(tmp_path / "r.sarif"), "-q")
    assert res.exit_code in (0, 1), res.output
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    helps = [r["help"]["markdown"] for r in sarif["runs"][0]["tool"]["driver"]["rules"] if r["id"].startswith("ACM-")]
    assert helps and any("TRK" in h for h in helps)
    for h in helps:  # escaped (\\[, \\<) is literal text; unescaped would be an image, a tag or a link
        assert not re.search(r"(?<!\\)!\[|(?<!\\)<img|(?<!\\)\]\(javascript:", h), h
    assert any("\\<img" in h for h in helps)
