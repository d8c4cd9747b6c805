"""Every loader of user-supplied files, fed noise, random JSON/YAML and near-misses of real files:
it returns a value or raises one clean UserInputError that names the file, never anything else.

Evidence that loads must also score and render in every format (a tampered evidence file must
not crash `ehrcheck score`), and credentials errors must never quote a secret. Endpoint lists
(`scan`) warn about every junk line with its location; listings read from a CHPL file (`--chpl-file`)
come out with the types the rules and renderers expect.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.engine.waivers import load_waivers
from ehrcheck.errors import UserInputError
from ehrcheck.files.runs import load_run
from ehrcheck.files.store import load_claims, load_evidence
from ehrcheck.models import Evidence
from ehrcheck.probes.authenticated.credentials import load_credentials
from ehrcheck.probes.certification.chpl_listing import (
    criteria_index,
    listing_documents,
    listing_problem,
    matches,
    normalise_listing,
)
from ehrcheck.probes.certification.inputs import certification_inputs
from ehrcheck.probes.certification.service_base_urls import assess_bundle
from ehrcheck.render import RENDERERS
from ehrcheck.rules.custom import load_custom_pack
from ehrcheck.scan.endpoint_list import (
    Endpoint,
    check_list,
    iter_endpoints,
    normalise_url,
)
from tests.faults.audit import CAP, SMART
from tests.faults.fuzzing import FUZZ, file_contents, json_values, mutated_text, retyped
from tests.faults.samples import attempt, evidence_from, sample_evidence
from tests.paths import ROOT
from tests.support.cli import run

SECRET = "PLANTED-fuzz-secret-991"

SAMPLES: dict[str, list[Any]] = {
    "evidence": [sample_evidence()],
    "claims": [
        {
            "product": {"vendor": "Riverbend Health", "product": "Riverbend EHR", "version": "4.2", "hosting": "cloud"},
            "standards": {"fhir_version": "4.0.1", "smart_app_launch": "2.0.0"},
            "hipaa": {"baa_offered": True, "audit_log_retention_years": 6, "last_risk_analysis": "2025-11-01"},
        }
    ],
    "pack": [
        {**yaml.safe_load((ROOT / "ehrcheck/rules/packs/portal.yaml").read_text()), "pack": "acme"},
    ],
    "waivers": [
        {
            "waivers": [
                {"rule": "INT-001", "target": "https://ehr.example/fhir", "reason": "vendor fix due", "expires": "2026-12-31"}
            ]
        }
    ],
    "credentials": [{"client_id": "ehrcheck-client", "auth_method": "client_secret_basic", "client_secret": SECRET}],
}
SAMPLES["run"] = [sample_evidence(), json.loads(RENDERERS["json"].fn(score_evidence(Evidence.model_validate(sample_evidence()))))]


def _score_via_cli(path: Path) -> None:
    """`ehrcheck score FILE` in every format: reports, or one clean error and no report at all."""
    out = path.parent / "reports"
    res = run("score", str(path), "-o", str(out), "-f", ",".join(RENDERERS), "-q")
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    if res.exit_code == 2:
        assert path.name in res.output
        assert not out.exists() or not any(out.iterdir()), "a failed score left report files behind"
    else:
        assert res.exit_code in (0, 1), res.output
        assert sorted(p.suffix for p in out.iterdir()) == sorted(f".{r.extension}" for r in RENDERERS.values())


LOADERS: dict[str, Callable[[Path], Any]] = {
    "evidence": load_evidence,
    "claims": load_claims,
    "pack": load_custom_pack,
    "waivers": load_waivers,
    "credentials": lambda p: load_credentials(p, environ={}),
    "run": load_run,
}


def _load(kind: str, content: bytes, suffix: str, then: Callable[[Path], None] | None = None) -> tuple[Any, Path]:
    """Load `content` as `kind`; `then(path)` runs on the file while it still exists."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(content)
        try:
            value = LOADERS[kind](path)
        except UserInputError as exc:
            message = str(exc)
            assert path.name in message, f"{kind}: the message does not name the file: {message}"
            assert "Traceback" not in message
            assert SECRET not in message, f"{kind}: an error message quoted a secret: {message}"
            return exc, path
        if then is not None:
            then(path)
        return value, path


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_loader_gives_a_value_or_a_clean_error(kind):
    samples = SAMPLES[kind]
    suffix = ".json" if kind in ("evidence", "run") else ".yaml"

    @FUZZ
    @given(file_contents(*samples))
    def check(content: bytes) -> None:
        _load(kind, content, suffix, then=_score_via_cli if kind == "evidence" else None)

    check()


@pytest.mark.fuzz
@pytest.mark.timeout(300)
def test_tampered_evidence_that_loads_always_scores_and_renders():
    from tests.faults.fuzzing import tampered

    @FUZZ
    @given(tampered(sample_evidence()))
    def check(doc: Any) -> None:
        _load("evidence", json.dumps(doc).encode(), ".json", then=_score_via_cli)

    check()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", sorted(LOADERS))
@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            + b"".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n".encode() for p, c in zip("bcdefgh", "cdefghi", strict=True)),
            id="yaml alias bomb",
        ),
        pytest.param(b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", id="deep yaml"),
        pytest.param(b'{"schema": "ehrcheck.evidence", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", id="deep json"),
        pytest.param(b"\xff\xfe\x00\x00not text", id="not utf-8"),
    ],
)
def test_hostile_file_is_refused_cleanly(kind, content):
    value, path = _load(kind, content, ".json" if kind in ("evidence", "run") else ".yaml")
    assert isinstance(value, UserInputError), f"{kind} accepted {content[:40]!r}"


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@given(json_values)
@FUZZ
def test_any_claims_value_in_evidence_scores_or_is_refused_cleanly(value):
    # Evidence keeps the claims as given: whatever a hand edit puts there must not crash `score`.
    doc = sample_evidence() | {"claims": {"product": {"vendor": value}, "hipaa": value}}
    _load("evidence", json.dumps(doc).encode(), ".json", then=_score_via_cli)


# ---- endpoint lists (`ehrcheck scan LIST`) ---------------------------------------------------


def _fixture(relative: str) -> Any:
    return json.loads(
        (ROOT / "tests/fixtures" / relative).read_text(encoding="utf-8").replace("{{ORIGIN}}", "https://ehr.example")
    )


EPIC_LIST = _fixture("real/epic-r4-endpoints.lantern-list.json")  # Organizations contained in each Endpoint
EPIC_LIST["entry"] = EPIC_LIST["entry"][:3]
HTI1_LIST = _fixture("chpl/service-base-urls-hti1.json")  # Organizations pointing at Endpoints
HTI1_LIST["entry"] = [HTI1_LIST["entry"][i] for i in (0, 3, 4)]  # org-1 and its Endpoint first: `retyped` keeps 3
TEXT_LIST = (
    "# a comment\nhttps://ehr.example/fhir/\n\nhttp://127.0.0.1:8080/r4/metadata\nnot a url\nHTTPS://EHR.example:443/fhir\n"
)
CSV_LIST = 'name,url\nRiverbend,https://ehr.example/fhir\n"Summit, North",https://summit.example/r4/\nnobody,ftp://x\n'
LIST_WARNING = r"((:\d+|: entry \d+|: item \d+): skipped '|: skipped \d+ Endpoint\(s\) with )"


def _read_list(path: Path) -> tuple[list[Endpoint] | UserInputError, list[str]]:
    """Both entry points `scan` uses; checks what each gives back, and every warning's location."""
    warnings: list[str] = []
    try:
        summary = check_list(path, warnings.append)
        found = list(iter_endpoints(path, lambda _m: None))
    except UserInputError as exc:
        assert path.name in str(exc), f"the message does not name the file: {exc}"
        assert "Traceback" not in str(exc)
        return exc, warnings
    assert summary.endpoints == len(found) > 0 and summary.warnings == len(warnings)
    assert len({e.url for e in found}) == len(found), "an endpoint was listed twice"
    for e in found:
        assert normalise_url(e.url) == (e.url, ""), e
        assert e.name is None or isinstance(e.name, str), e
        assert re.match(re.escape(str(path)) + r"(:\d+|: entry \d+|: item \d+)$", e.where), e
    for w in warnings:
        assert re.match(re.escape(str(path)) + LIST_WARNING, w), f"warning without a location: {w}"
    return found, warnings


def _with_file(content: bytes, suffix: str, check: Callable[[Path], Any]) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"endpoints{suffix}"
        path.write_bytes(content)
        return check(path)


def _text_near(sample: str) -> st.SearchStrategy[bytes]:
    return st.one_of(st.binary(max_size=200), mutated_text(sample).map(lambda t: t.encode("utf-8", "surrogatepass")))


def _json_of(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return strategy.map(lambda v: json.dumps(v).encode())


# (file suffix, contents); hypothesis flattens nested one_of, so each kind gets its own test.
LIST_CONTENTS = {
    "bundle fields retyped": (".json", lambda: _json_of(retyped(EPIC_LIST) | retyped(HTI1_LIST))),
    "bundle noise": (".json", lambda: file_contents(EPIC_LIST, HTI1_LIST)),
    "csv": (".csv", lambda: _text_near(CSV_LIST)),
    "text": (".txt", lambda: _text_near(TEXT_LIST)),
}


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", sorted(LIST_CONTENTS))
def test_endpoint_list_gives_endpoints_or_a_clean_error(kind):
    suffix, contents = LIST_CONTENTS[kind]

    @FUZZ
    @given(contents())
    def check(content: bytes) -> None:
        _with_file(content, suffix, _read_list)

    check()


def test_endpoint_list_samples_read_as_expected():
    # The samples the fuzzing starts from are themselves read (so near-misses of them mean something).
    found, warnings = _with_file(TEXT_LIST.encode(), ".txt", _read_list)
    assert [e.url for e in found] == ["https://ehr.example/fhir", "http://127.0.0.1:8080/r4"]
    assert len(warnings) == 1 and warnings[0].endswith(":5: skipped 'not a url': not an http(s) URL")
    found, warnings = _with_file(CSV_LIST.encode(), ".csv", _read_list)
    assert [(e.url, e.name) for e in found] == [
        ("https://ehr.example/fhir", "Riverbend"),
        ("https://summit.example/r4", "Summit, North"),
    ]
    assert len(warnings) == 1 and ":4: skipped 'ftp://x'" in warnings[0]
    found, _ = _with_file(json.dumps(EPIC_LIST).encode(), ".json", _read_list)
    assert len(found) == 3 and all(e.name for e in found)
    found, _ = _with_file(json.dumps(HTI1_LIST).encode(), ".json", _read_list)
    assert found and found[0].name == "Example Family Medicine (fictional)"


@pytest.mark.parametrize("raw", ['http://"/metadata', 'http://-/"/', "https://ehr.example/fhir\tClinic", "https://<b>/fhir"])
def test_characters_never_in_a_url_make_it_junk(raw):
    # Found by longer hunts (EHRCHECK_FUZZ_EXAMPLES=2000): such "URLs" normalised to something else each time.
    assert normalise_url(raw) == (None, "not an http(s) URL")


def test_unparseable_csv_and_deep_bundle_are_refused_naming_the_file():
    err, _ = _with_file(b'name,url\nA,"https://ehr.example/fhir\n' + b"x" * 200_000, ".csv", _read_list)
    assert isinstance(err, UserInputError) and ":2: not readable as CSV from this line: field larger than field limit" in str(err)
    err, _ = _with_file(b"[" * 100_000 + b"]" * 100_000, ".json", _read_list)
    assert isinstance(err, UserInputError) and "nests more than 64 levels deep" in str(err)


# A line's own characters, never a line break, a comma (CSV) or a quote; never a URL.
_junk = st.text(st.characters(blacklist_characters='\r\n,"', blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda t: t.strip() and not t.strip().startswith("#") and "://" not in t
)
_url = st.builds(
    "{}://{}:{}/{}".format,
    st.sampled_from(["http", "https"]),
    st.sampled_from(["ehr.example", "127.0.0.1"]),
    st.integers(min_value=1, max_value=65535),
    st.sampled_from(["fhir", "r4/", "api/FHIR/R4/metadata", ""]),
)


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@pytest.mark.parametrize("form", ["text", "csv"])
@FUZZ
@given(rows=st.lists(st.tuples(st.booleans(), _junk, _url), min_size=1, max_size=12), newline=st.sampled_from(["\n", "\r\n"]))
def test_every_junk_line_gets_a_warning_naming_its_line(form, rows, newline):
    lines = ["https://first.example/fhir"] if form == "text" else ["name,url", "First,https://first.example/fhir"]
    lines += [
        (junk if is_junk else url) if form == "text" else f"Clinic {i},{junk if is_junk else url}"
        for i, (is_junk, junk, url) in enumerate(rows)
    ]
    junk_lines = {n for n, (is_junk, _j, _u) in enumerate(rows, len(lines) - len(rows) + 1) if is_junk}
    found, warnings = _with_file(newline.join(lines).encode(), ".txt" if form == "text" else ".csv", _read_list)
    warned = {int(m.group(1)) for w in warnings if (m := re.search(r":(\d+): skipped '", w))}
    assert warned == junk_lines and len(warnings) == len(junk_lines), warnings
    assert all(int(e.where.rsplit(":", 1)[1]) not in junk_lines for e in found)


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@FUZZ
@given(st.lists(_junk | st.sampled_from(["[/b] not markup", "\x1b[2J escape", "ftp://x", "{", "a,b"]), min_size=1, max_size=6))
def test_scan_of_a_list_without_urls_exits_2_before_any_output(lines):
    with tempfile.TemporaryDirectory() as tmp:
        listing, out = Path(tmp) / "vendors.txt", Path(tmp) / "scan"
        listing.write_text("\n".join(lines), encoding="utf-8")
        res = run("scan", str(listing), "-o", str(out))
        assert isinstance(res.exception, SystemExit) and res.exit_code == 2, (res.output, res.exception)
        assert "Traceback" not in res.output and "vendors.txt" in res.output
        assert "\x1b[2J" not in res.output  # a list's escape sequence is spelled out, never sent to the terminal
        assert not out.exists(), "a refused scan created its output folder"
        if "," not in lines[0]:  # read as text (a .txt is never sniffed as JSON): every line is warned about
            warned = {int(n) for n in re.findall(r"vendors\.txt:(\d+): skipped '", res.output)}
            assert warned == set(range(1, len(lines) + 1)), res.output


# ---- CHPL documents (`--chpl-file`) ----------------------------------------------------------

CHPL_DETAILS = _fixture("chpl/details-99001-active-full.json")
CHPL_PAGE = _fixture("real/chpl-search-page.json")
CHPL_PAGE["results"] = CHPL_PAGE["results"][:2]
CHPL_CRITERIA = _fixture("real/chpl-certification-criteria.json")
CHPL_CRITERIA["criteria"] = CHPL_CRITERIA["criteria"][:6]
TEXT_FACTS = (
    "chpl_product_number",
    "developer",
    "product",
    "version",
    "certification_body",
    "status",
    "status_since",
    "edition",
    "certification_date",
    "decertification_date",
    "api_documentation_url",
    "service_base_url_list",
    "rwt_plans_url",
    "rwt_results_url",
    "mandatory_disclosures_url",
    "svap_notice_url",
    "export_documentation_url",
)


def _listing_is_well_typed(listing: dict[str, Any]) -> None:
    """What the rules and renderers read from a listing has the type they expect."""
    for key in TEXT_FACTS:
        assert listing.get(key) is None or isinstance(listing[key], str), (key, listing[key])
    for key in ("criteria_met", "criteria_removed", "previous_chpl_product_numbers"):
        assert all(isinstance(x, str) for x in listing[key]), (key, listing[key])
    assert all(isinstance(d.get("url"), str) and isinstance(d.get("criterion"), str) for d in listing["api_documentation"])
    for key in ("chpl_id", "open_surveillance_nonconformities", "open_direct_review_nonconformities", "open_nonconformities"):
        assert listing[key] is None or type(listing[key]) is int, (key, listing[key])
    assert listing["cures_update"] in (None, True, False)


def _chpl_file(path: Path) -> Any:
    """What `--chpl-file` does with a file: its documents normalised as the probe does, then
    scored and rendered in every format; or one clean error naming the file."""
    try:
        inputs = certification_inputs(chpl_file=path, chpl_ids=[CHPL_DETAILS["chplProductNumber"]])
    except UserInputError as exc:
        assert path.name in str(exc) and "Traceback" not in str(exc), str(exc)
        return exc
    documents = inputs.settings["chpl_documents"]
    listings = [normalise_listing(doc) for doc in documents]
    for doc, listing in zip(documents, listings, strict=True):
        _listing_is_well_typed(listing)
        assert matches(doc, listing["chpl_product_number"])
    chpl = attempt({"requested": [], "source": "file", "file": path.name, "listings": listings, "links": {}})
    result = score_evidence(evidence_from(CAP, SMART, chpl=chpl))
    for renderer in RENDERERS.values():
        assert renderer.fn(result)
    return listings


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["fields retyped", "noise"])
def test_chpl_file_gives_listings_or_a_clean_error(kind):
    contents = (
        _json_of(retyped(CHPL_DETAILS) | retyped(CHPL_PAGE))
        if kind == "fields retyped"
        else file_contents(CHPL_DETAILS, CHPL_PAGE)
    )

    @FUZZ
    @given(contents)
    def check(content: bytes) -> None:
        _with_file(content, ".json", _chpl_file)

    check()


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@FUZZ
@given(st.one_of(json_values, retyped(CHPL_DETAILS), retyped(CHPL_PAGE), retyped(CHPL_CRITERIA)))
def test_chpl_readers_never_crash_and_agree(doc):
    # The same readers see CHPL's API answers: whatever JSON comes back, they return a value.
    criteria = criteria_index(doc)
    assert all(type(k) is int and isinstance(v, dict) for k, v in criteria.items())
    rows = listing_documents(doc)
    assert rows is None or all(isinstance(r, dict) and isinstance(r["chplProductNumber"], str) for r in rows)
    problem = listing_problem(doc)
    assert rows is not None or problem, "a document that is no listing was not said to be one"
    assert problem is None or isinstance(problem, str)
    for row in rows or ([doc] if isinstance(doc, dict) else []):
        _listing_is_well_typed(normalise_listing(row, criteria))
        matches(row, "15.99.99.9999.Test.01.00.1.250102")


@pytest.mark.fuzz
@pytest.mark.timeout(300)
@FUZZ
@given(st.one_of(retyped(HTI1_LIST), retyped(EPIC_LIST), json_values))
def test_service_base_url_bundle_is_assessed_scored_and_rendered(doc):
    # `--endpoints-bundle FILE` (or the vendor's published list): whatever JSON it holds, the
    # endpoints probe's facts come out, and they score and render in every format.
    facts = assess_bundle(doc, "https://ehr.example/fhir")
    addresses = facts.pop("addresses", [])
    assert all(isinstance(a, str) for a in addresses)
    data = {
        "source": "file",
        "file": "endpoints.json",
        "fetched": True,
        **facts,
        "sample": {"size": 0, "available": len(addresses), "checked": 0, "ok": 0, "results": []},
    }
    result = score_evidence(evidence_from(CAP, SMART, endpoints=attempt(data)))
    for renderer in RENDERERS.values():
        assert renderer.fn(result)


def test_a_criterion_id_of_true_is_not_criterion_1():
    # JSON true is not the number 1 (Python's bool is an int): found by a longer hunt.
    assert criteria_index({"criteria": [{"id": True, "number": "170.315 (g)(10)"}]}) == {}


def test_chpl_samples_read_as_expected():
    [listing] = _with_file(json.dumps(CHPL_DETAILS).encode(), ".json", _chpl_file)
    assert listing["status"] == "Active" and "170.315 (g)(10)" in listing["criteria_met"]
    assert len(_with_file(json.dumps(CHPL_PAGE).encode(), ".json", _chpl_file)) == 2
    assert len(criteria_index(CHPL_CRITERIA)) == 6
