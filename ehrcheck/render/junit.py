"""JUnit XML: one test case per rule, so any CI server shows an audit as a test run.

Mapping (documented in docs/ci.md): fail -> <failure>; warn -> passes, with the warning in
<system-out> (an advisory rule should not turn a build red); waived fail/warn, not observed,
claimed-but-unverified and not applicable -> <skipped> with the reason. One <testsuite> per run,
its only timestamp the moment the evidence was gathered, so the same result gives the same bytes.
Validated in tests against the Surefire/Jenkins junit-10.xsd.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ehrcheck.inert import html_text
from ehrcheck.models import Finding, RunResult, Status
from ehrcheck.render.labels import STATUS_LABEL, observed_text

# XML 1.0 cannot carry most control characters, even escaped; vendor strings may contain them.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    # C1 controls and bidi characters are legal XML but act on a terminal the file is printed to.
    return _ILLEGAL_XML.sub("\ufffd", html_text(text))


def inert_tree(root: ET.Element) -> ET.Element:
    """Every attribute and text of `root` cleaned, whatever built it: a foreign string (a tool
    version, a timestamp, a pack name from an evidence file) missed by the builder once wrote raw
    ESC and BEL into an attribute, and the file was no longer XML. Cleaning is idempotent."""
    for el in root.iter():
        for key, value in el.attrib.items():
            el.set(key, _clean(value))
        if el.text:
            el.text = _clean(el.text)
        if el.tail:
            el.tail = _clean(el.tail)
    return root


def _details(f: Finding) -> str:
    lines = [f.message]
    if f.observed is not None:
        lines.append(f"Observed: {observed_text(f.observed)}")
    if f.remediation:
        lines.append(f"Fix: {f.remediation}")
    if f.vendor_question:
        lines.append(f"Ask the vendor: {f.vendor_question}")
    if f.references:
        lines.append("Basis: " + "; ".join(r.cite for r in f.references))
    return _clean("\n".join(lines))


def _skip_reason(f: Finding) -> str | None:
    if f.waiver is not None:
        return f"waived until {f.waiver.expires}: {f.waiver.reason}"
    if f.status in (Status.not_observed, Status.unverified, Status.not_applicable):
        return f"{STATUS_LABEL[f.status.value]}: {f.message}" if f.message else STATUS_LABEL[f.status.value]
    return None


def render_junit(result: RunResult) -> str:
    order = {p.pack: i for i, p in enumerate(result.packs)}
    findings = sorted(result.findings, key=lambda f: (order.get(f.pack, len(order)), f.pack, f.rule_id))
    failures = sum(1 for f in findings if f.status == Status.fail and f.waiver is None)
    skipped = sum(1 for f in findings if _skip_reason(f) is not None)
    name = result.target.label or result.target.base_url
    root = ET.Element(
        "testsuites", {"name": _clean(f"ehrcheck: {name}"), "tests": str(len(findings)), "failures": str(failures), "errors": "0"}
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": _clean(name),
            "tests": str(len(findings)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(skipped),
            "timestamp": result.evidence_finished_at,
            "package": "ehrcheck",
            "url": _clean(result.target.base_url),
            "version": result.tool_version,
        },
    )
    props = ET.SubElement(suite, "properties")
    score = result.overall.score
    for key, value in (
        ("target", result.target.base_url),
        ("verdict", result.verdict.label),
        ("verdict_sentence", result.verdict.sentence),
        ("overall_score", "" if score is None else f"{score:g}"),
        ("overall_range", f"{result.overall.low:g}-{result.overall.high:g}"),
        ("profile", result.profile),
        ("rules_as_of", result.as_of),
    ):
        ET.SubElement(props, "property", {"name": key, "value": _clean(value)})
    for f in findings:
        case = ET.SubElement(suite, "testcase", {"classname": f"ehrcheck.{f.pack}", "name": _clean(f"{f.rule_id} {f.title}")})
        reason = _skip_reason(f)
        if reason is not None:
            ET.SubElement(case, "skipped", {"message": _clean(reason)})
            if f.waiver is not None:
                ET.SubElement(case, "system-out").text = _details(f)
        elif f.status == Status.fail:
            failure = ET.SubElement(case, "failure", {"type": f.severity.value, "message": _clean(f.message)})
            failure.text = _details(f)
        elif f.status == Status.warn:
            ET.SubElement(case, "system-out").text = "Warning: " + _details(f)
    ET.indent(inert_tree(root), space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
