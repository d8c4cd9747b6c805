"""Attack round 11: a report.json label that is rich markup crashed `compare`; `claims check`
passed a CHPL number `audit --claims` refuses; `demo -o /proc/x` was a traceback and `demo -o -`
a folder named `-`; an explicit YAML tag on a value it does not fit (`!!bool text`) crashed every
YAML reader, printing a credentials file's secret in the traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.hostile.test_messages import PACK_HEAD, assert_message
from tests.support.cli import ROUTES, run
from tests.support.loopback import serve

SECRET = "Zzyzxfam7Secr"  # 13 characters: not base64 either
TAGS = ["!!bool", "!!timestamp", "!!int", "!!float", "!!binary", "!!set", "!!omap", "!!pairs", "!zzunknown"]
# (flag or command, file name, text with {value} on line `line`)
YAML_INPUTS = {
    "credentials": ("c.yaml", "client_id: app\nclient_secret: {value}\n", 2),
    "claims": ("cl.yaml", "claims_version: 1\nproduct:\n  vendor: {value}\n", 3),
    "waivers": ("w.yaml", "waivers:\n  - rule: HIP-001\n    reason: {value}\n    expires: 2030-01-01\n", 3),
    "pack": ("p.yaml", PACK_HEAD.replace("title: Dates", "title: {value}"), 2),
}


@pytest.mark.parametrize("kind", list(YAML_INPUTS))
@pytest.mark.parametrize("tag", TAGS)
def test_a_tagged_value_that_is_not_of_its_type_is_a_located_message(tmp_path: Path, kind: str, tag: str):
    """Y01/Y02: `!!bool text` ended in `KeyError: '<text lower-cased>'`, `!!timestamp x` in an
    AttributeError; a credentials file's secret was printed in the traceback."""
    name, template, line = YAML_INPUTS[kind]
    path = tmp_path / name
    path.write_text(template.replace("{value}", f"{tag} {SECRET}"), encoding="utf-8")
    out = str(tmp_path / "out")
    args = {
        "credentials": ("audit", "http://127.0.0.1:9/fhir", "--credentials", str(path), "-o", out),
        "claims": ("claims", "check", str(path)),
        "waivers": ("audit", "http://127.0.0.1:9/fhir", "--waivers", str(path), "-o", out),
        "pack": ("rules", "check", str(path)),
    }[kind]
    res = run(*args)
    assert_message(res, f"{path}:{line}", "not valid YAML")
    if kind == "credentials":
        assert SECRET.lower() not in res.output.lower()


@pytest.fixture(scope="module")
def report_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("round11")
    with serve(ROUTES) as srv:
        res = run("audit", srv.base, "-o", str(base / "A"), "-f", "json", "--timeout", "3", "-q")
    assert res.exit_code in (0, 1), res.output[-2000:]
    return base / "A" / "report.json"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("suffix", ["md", "html", "json"])
def test_a_verdict_label_that_is_markup_is_printed_literally_by_compare(report_json: Path, tmp_path: Path, suffix: str):
    """CM1: `verdict.label: '[/]'` was `rich.errors.MarkupError` (exit 1, a traceback)."""
    report = json.loads(report_json.read_text(encoding="utf-8"))
    report["verdict"]["label"] = "[/]"
    hostile = tmp_path / "t.json"
    hostile.write_text(json.dumps(report), encoding="utf-8")
    res = run("compare", str(report_json), str(hostile), "-o", str(tmp_path / f"c.{suffix}"))
    assert res.exit_code == 0, res.output[-2000:]
    assert ": [/], overall" in res.stderr


def test_claims_init_prints_an_output_name_that_is_markup_literally(tmp_path: Path, monkeypatch):
    """Found looking for CM1's kind: `claims init -o '[/]x.yaml'` wrote the file, then crashed."""
    monkeypatch.chdir(tmp_path)
    res = run("claims", "init", "-o", "[/]x.yaml")
    assert res.exit_code == 0, res.output[-2000:]
    assert "wrote [/]x.yaml" in res.stderr and (tmp_path / "[/]x.yaml").is_file()


@pytest.mark.parametrize("part", [1, 2, 3, 4, 7])
def test_claims_check_refuses_the_chpl_numbers_audit_refuses(tmp_path: Path, part: int):
    """CL1: fullwidth digits in parts 1, 2, 3, 4 or 7 passed `claims check` ("valid claims
    file") while `audit --claims` refused the same file: two validators, now one."""
    parts = "15.04.04.2222.Abcd.12.01.1.221231".split(".")
    parts[part - 1] = parts[part - 1].translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    claims = tmp_path / "c.yaml"
    claims.write_text(f"claims_version: 1\nproduct:\n  chpl_product_numbers: ['{'.'.join(parts)}']\n", encoding="utf-8")
    assert_message(run("claims", "check", str(claims)), f"{claims}:3:", f"part {part} (")
    assert_message(run("audit", "http://127.0.0.1:9/fhir", "--claims", str(claims), "-o", str(tmp_path / "o")), f"part {part} (")


@pytest.mark.parametrize("target", ["/proc/self/x", "/proc/x", "/sys/x"])
def test_demo_into_an_unwritable_folder_is_a_located_message(target: str):
    """D01: a FileNotFoundError / PermissionError traceback from mkdir (exit 1)."""
    assert_message(run("demo", "-o", target, "-q"), f"-o {target}: cannot write in")


def test_demo_to_dash_is_refused_not_a_folder_named_dash(tmp_path: Path, monkeypatch):
    """D02: `demo -o -` wrote the three vendors' reports into a folder named `-`."""
    monkeypatch.chdir(tmp_path)
    assert_message(run("demo", "-o", "-", "-q"), "-o -:", "folder")
    assert not (tmp_path / "-").exists()
