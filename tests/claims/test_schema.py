"""The claims questionnaire: template round trip, located errors, and the `claims` commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from ehrcheck.claims.load import ClaimsError, load_claims_text
from ehrcheck.claims.schema import SECTIONS, field_info
from ehrcheck.claims.template import questionnaire
from ehrcheck.rules.schema import all_rules
from tests.paths import ROOT
from tests.support.cli import run

TODAY = dt.date(2026, 6, 1)
EXAMPLES = ROOT / "examples" / "claims"


def problems(text: str) -> list[str]:
    with pytest.raises(ClaimsError) as info:
        load_claims_text(text, "vendor.yaml", TODAY)
    return [p.render("vendor.yaml") for p in info.value.problems]


# --- the questionnaire --------------------------------------------------------------------------


def test_questionnaire_asks_every_field_and_validates_blank():
    text = questionnaire()
    data = yaml.safe_load(text)
    comments = " ".join(line.strip().lstrip("#").strip() for line in text.splitlines())
    for section, model in SECTIONS.items():
        assert set(data[section]) == set(model.model_fields), section
        for name, info in model.model_fields.items():
            assert info.description in comments, f"{section}.{name} question missing"
    claims = load_claims_text(text, "vendor.yaml", TODAY)
    assert claims.to_evidence() == {"claims_version": 1, **{s: {} for s in SECTIONS}}


def test_issue_sections_are_all_there():
    """The sections and fields the issue asks for, by the names rules and docs use."""
    wanted = [
        "product.hosting",
        "product.chpl_product_numbers",
        "certification.cms_ehr_certification_id",
        "certification.certified_criteria",
        "standards.fhir_version",
        "standards.us_core",
        "standards.smart_app_launch",
        "standards.bulk_data",
        "standards.uscdi",
        "portal.view_download_transmit",
        "portal.secure_messaging",
        "portal.scheduling",
        "portal.bill_pay",
        "portal.proxy_access",
        "portal.mobile_app",
        "portal.languages",
        "portal.wcag_level",
        "portal.third_party_app_access",
        "exchange.direct_messaging",
        "exchange.direct_hisp",
        "exchange.ccda",
        "exchange.hie",
        "exchange.tefca_qhin",
        "exchange.immunization_registry",
        "exchange.eprescribing",
        "exchange.epcs",
        "exchange.lab_interfaces",
        "exchange.imaging_interfaces",
        "exchange.adt_notifications",
        "reporting.ecqm",
        "reporting.mips",
        "reporting.population_health",
        "reporting.registries",
        "revenue_cycle.billing_integration",
        "revenue_cycle.icd10",
        "revenue_cycle.cpt",
        "revenue_cycle.x12",
        "hipaa.baa_offered",
        "hipaa.encryption_at_rest_algorithm",
        "hipaa.tls_minimum",
        "hipaa.mfa_users",
        "hipaa.mfa_admins",
        "hipaa.unique_user_ids",
        "hipaa.automatic_logoff_minutes",
        "hipaa.emergency_access",
        "hipaa.audit_log_retention_years",
        "hipaa.last_risk_analysis",
        "hipaa.breach_notification_days",
        "hipaa.breach_notification_process",
        "hipaa.backups",
        "hipaa.rpo_hours",
        "hipaa.rto_hours",
        "hipaa.last_penetration_test",
        "hipaa.soc2",
        "hipaa.hitrust",
        "hipaa.workforce_training",
        "information_blocking.api_fees",
        "information_blocking.service_base_urls",
    ]
    assert [p for p in wanted if field_info(p) is None] == []


def test_every_claims_path_a_rule_reads_is_in_the_schema():
    """A rule reading a claims path the schema does not have could never see an answer."""
    paths: set[str] = set()

    def collect(value):
        if isinstance(value, str) and value.startswith("claims."):
            paths.add(value)
        elif isinstance(value, list):
            for v in value:
                collect(v)
        elif isinstance(value, dict):
            for v in value.values():
                collect(v)

    for rule in all_rules():
        if rule.claim:
            paths.add(rule.claim)
        collect(rule.check.model_dump())
        if rule.applies_if is not None:
            collect(rule.applies_if.model_dump())
    # CRT-207 also accepts `certification.criteria`, a spelling the schema does not have.
    unknown = sorted(p for p in paths if field_info(p) is None and p != "claims.certification.criteria")
    assert unknown == []
    assert "claims.hipaa.tls_minimum" in paths and "claims.standards.smart_app_launch" in paths


def test_answers_are_normalised_for_the_evidence():
    claims = load_claims_text(
        "claims_version: 1\n"
        "product: {hosting: On-Prem, version: 19.4, chpl_product_numbers: '15.04.04.1932.WebC.84.01.0.221117'}\n"
        "certification: {certified_criteria: ['170.315(g)(10)', (b)(10)]}\n"
        "standards: {fhir_version: R4, us_core: 6.1, smart_app_launch: 2, uscdi: 3, bulk_data: no}\n"
        "hipaa: {tls_minimum: 1.2, last_risk_analysis: 2026-02-15, soc2: type ii}\n"
        "revenue_cycle: {x12: [837, 835]}\n",
        "v.yaml",
        TODAY,
    ).to_evidence()
    assert claims["product"] == {
        "hosting": "on-premises",
        "version": "19.4",
        "chpl_product_numbers": ["15.04.04.1932.WebC.84.01.0.221117"],
    }
    assert claims["certification"]["certified_criteria"] == ["170.315 (g)(10)", "170.315 (b)(10)"]
    assert claims["standards"] == {
        "fhir_version": "4.0.1",
        "us_core": "6.1.0",
        "smart_app_launch": "2.0.0",
        "bulk_data": False,
        "uscdi": "v3",
    }
    assert claims["hipaa"] == {"tls_minimum": "1.2", "last_risk_analysis": "2026-02-15", "soc2": "Type 2"}
    assert claims["revenue_cycle"]["x12"] == ["837P", "835"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_claims_validate(path: Path):
    claims = load_claims_text(path.read_text(encoding="utf-8"), path, dt.date(2026, 11, 30))
    data = claims.to_evidence()
    assert set(SECTIONS) <= set(data), "example files answer every section"


def test_there_is_an_example_for_every_demo_vendor():
    vendors = sorted(p.name for p in (EXAMPLES.parent / "vendors").iterdir() if (p / "vendor.yaml").is_file())
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == vendors


# --- located errors ------------------------------------------------------------------------------


def test_each_problem_names_file_line_field_and_fix():
    text = (
        "claims_version: 1\n"  # 1
        "product:\n"  # 2
        "  vendr: Acme\n"  # 3
        "  chpl_product_numbers: [15.04.04.1932.WebC.84.01]\n"  # 4
        "hipaa:\n"  # 5
        '  baa_offered: "yes"\n'  # 6
        "  last_risk_analysis: 2026-02-30\n"  # 7
        "  last_penetration_test: 2027-01-01\n"  # 8
        "  audit_log_retention_years: six\n"  # 9
        "  breach_notification_days: 6.5\n"  # 10
        "certification:\n"  # 11
        "  cms_ehr_certification_id: ABC\n"  # 12
        "standards:\n"  # 13
        "  smart_app_launch: yes\n"  # 14
    )
    got = problems(text)
    expect = [
        ("vendor.yaml:3:3: product.vendr:", "did you mean 'vendor'?"),
        ("vendor.yaml:4:26: product.chpl_product_numbers.0:", "it has 7 dot-separated parts, a CHPL product number has 9"),
        ("vendor.yaml:6:16: hipaa.baa_offered:", "expected yes or no, got 'yes'; write it without quotes"),
        ("vendor.yaml:7:23: hipaa.last_risk_analysis:", "2026-02-30 is not a real calendar date"),
        ("vendor.yaml:8:26: hipaa.last_penetration_test:", "2027-01-01 is in the future"),
        ("vendor.yaml:9:30: hipaa.audit_log_retention_years:", "expected a number, got 'six'; write a number of years, e.g. 6"),
        ("vendor.yaml:10:29: hipaa.breach_notification_days:", "expected a whole number, got 6.5"),
        ("vendor.yaml:12:29: certification.cms_ehr_certification_id:", "15 letters and digits"),
        ("vendor.yaml:14:21: standards.smart_app_launch:", "give the version (such as 2.0.0)"),
    ]
    assert len(got) == len(expect), got
    for line, (where, what) in zip(got, expect, strict=True):
        assert line.startswith(where) and what in line, line


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        ("", "vendor.yaml:1:1:", "the file is empty"),
        ("- a\n- b\n", "vendor.yaml:1:1:", "must be a mapping of sections"),
        ("product: {vendor: x}\n", "vendor.yaml:1:1: claims_version:", "add `claims_version: 1`"),
        ("claims_version: 2\n", "vendor.yaml:1:17: claims_version:", "reads version 1"),
        ("claims_version: 1\nportal: yes\n", "vendor.yaml:2:9: portal:", "expected a section"),
        ("claims_version: 1\nstandard: {}\n", "vendor.yaml:2:1: standard:", "did you mean 'standards'?"),
        (
            "claims_version: 1\nhipaa:\n  mfa_users: yes\n  mfa_users: no\n",
            "vendor.yaml:4:3: hipaa.mfa_users:",
            "given twice (first on line 3)",
        ),
        ("claims_version: 1\nproduct:\n  vendor: [a\n", "vendor.yaml:4:1:", "not valid YAML"),
        (
            "claims_version: 1\nproduct:\n  chpl_product_numbers: ['15.04.04.1932.WebC.84.01.0.221399']\n",
            "vendor.yaml:3:26:",
            "part 9 (certification date) '221399' is not a real YYMMDD date",
        ),
        (
            "claims_version: 1\nportal:\n  wcag_level: B\n",
            "vendor.yaml:3:15: portal.wcag_level:",
            "write one of 'A', 'AA', 'AAA' or 'none'",
        ),
        ("claims_version: 1\nportal:\n  languages: yes\n", "vendor.yaml:3:14: portal.languages:", "expected a list, got yes"),
        (
            "claims_version: 1\ninformation_blocking:\n  service_base_urls: our website\n",
            "vendor.yaml:3:22:",
            "full https:// link",
        ),
        ("claims_version: 1\nhipaa:\n  automatic_logoff_minutes: -5\n", "vendor.yaml:3:29:", "cannot be negative"),
    ],
)
def test_bad_answers_are_located(text: str, where: str, what: str):
    got = problems(text)
    assert any(p.startswith(where) and what in p for p in got), got


# --- the commands --------------------------------------------------------------------------------


def test_claims_init_then_check_round_trips(tmp_path: Path):
    target = tmp_path / "vendor.yaml"
    res = run("claims", "init", "-o", str(target))
    assert res.exit_code == 0, res.output
    assert target.read_text(encoding="utf-8") == questionnaire()
    res = run("claims", "check", str(target))
    assert res.exit_code == 0, res.output
    assert "valid claims file; 0 of" in res.stdout


def test_claims_init_never_overwrites_without_force(tmp_path: Path):
    target = tmp_path / "vendor.yaml"
    target.write_text("claims_version: 1\nhipaa: {baa_offered: yes}\n", encoding="utf-8")
    res = run("claims", "init", "-o", str(target))
    assert res.exit_code == 2 and "already exists" in res.output and "--force" in res.output
    assert "baa_offered: yes" in target.read_text(encoding="utf-8")  # untouched
    assert run("claims", "init", "-o", str(target), "--force").exit_code == 0
    assert target.read_text(encoding="utf-8") == questionnaire()


def test_claims_init_to_stdout():
    res = run("claims", "init", "-o", "-")
    assert res.exit_code == 0 and res.stdout == questionnaire()


def test_claims_check_reports_every_problem_and_exits_2(tmp_path: Path):
    bad = tmp_path / "vendor.yaml"
    bad.write_text("claims_version: 1\nhipaa:\n  baa_ofered: yes\n  last_risk_analysis: 2026-02-30\n", encoding="utf-8")
    res = run("claims", "check", str(bad))
    assert res.exit_code == 2
    assert (
        f"{bad}:3:3: hipaa.baa_ofered: unknown field 'baa_ofered' in section 'hipaa'; did you mean 'baa_offered'?" in res.output
    )
    assert f"{bad}:4:23: hipaa.last_risk_analysis: 2026-02-30 is not a real calendar date" in res.output
    assert "Traceback" not in res.output


def test_claims_check_missing_file(tmp_path: Path):
    res = run("claims", "check", str(tmp_path / "nope.yaml"))
    assert res.exit_code == 2 and "cannot read claims file" in res.output


def test_audit_and_probe_refuse_invalid_claims_before_probing(tmp_path: Path):
    bad = tmp_path / "vendor.yaml"
    bad.write_text("claims_version: 1\nstandards:\n  smart: 2.0\n", encoding="utf-8")
    for command in (
        ["audit", "http://127.0.0.1:9/fhir", "-o", str(tmp_path / "out")],
        ["probe", "http://127.0.0.1:9/fhir", "-o", str(tmp_path / "ev.json")],
    ):
        res = run(*command, "--claims", str(bad), "-q")
        assert res.exit_code == 2, res.output
        assert f"{bad}:3:3: standards.smart: unknown field 'smart'" in res.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "ev.json").exists()
