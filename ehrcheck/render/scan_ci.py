"""SARIF and JUnit for a whole scan, streamed from its result rows (list order), so a directory of
20,000 endpoints is written without holding it in memory.

- SARIF: one run; every rule a descriptor (as `audit` writes them); one result per endpoint and
  actionable finding (fail, warn), located at the endpoint as `audit` locates it, so alerts keep
  their identity between a single audit and a scan. Endpoints that could not be audited are
  `toolExecutionNotifications` (errors) of the invocation: they are not findings about a rule.
- JUnit: one <testsuite> per endpoint, one <testcase> per rule (fail -> <failure>, warn -> passes
  with <system-out>, waived / not observed / unverified / not applicable -> <skipped>); an
  endpoint that could not be audited is a suite with one <error> case, "reachable".
Deterministic: rows in list order, rules sorted; the only timestamps come from the evidence.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from ehrcheck.inert import json_text
from ehrcheck.models import Severity
from ehrcheck.render.junit import _clean, inert_tree
from ehrcheck.render.labels import STATUS_LABEL
from ehrcheck.render.sarif import INFORMATION_URI, LEVEL, SCHEMA_URI, _fingerprint, endpoint_path, rule_descriptor
from ehrcheck.rules.schema import Rule

SKIPPED = ("not_observed", "unverified", "not_applicable")
_PLACEHOLDER = "__ehrcheck_results__"


def _descriptor(rule: Rule) -> dict[str, Any]:
    return rule_descriptor(rule.id, rule)


def _location(url: str) -> list[dict[str, Any]]:
    return [
        {
            "physicalLocation": {"artifactLocation": {"uri": endpoint_path(url)}},
            "logicalLocations": [{"fullyQualifiedName": url, "kind": "resource"}],
        }
    ]


def _level(severity: str, status: str) -> str:
    try:
        level = LEVEL[Severity(severity)]
    except ValueError:
        level = "warning"
    return "warning" if status == "warn" and level == "error" else level


def write_scan_sarif(
    rows: Iterable[dict[str, Any]], out: TextIO, rules: Sequence[Rule], meta: dict[str, Any], counts: dict[str, int]
) -> None:
    ordered = sorted({r.id: r for r in rules}.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(ordered)}
    run = {
        "tool": {
            "driver": {
                "name": "ehrcheck",
                "version": meta.get("version", ""),
                "informationUri": INFORMATION_URI,
                "rules": [_descriptor(r) for r in ordered],
            }
        },
        "automationDetails": {"id": f"ehrcheck/scan/{meta.get('list', 'list')}/"},
        "results": _PLACEHOLDER,
    }
    head, _, _ = json.dumps({"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}, ensure_ascii=False).partition(
        json.dumps(_PLACEHOLDER)
    )
    head = json_text(head)
    out.write(head + "[\n")
    notes: list[dict[str, Any]] = []
    latest = ""
    first = True
    for row in rows:
        url = str(row.get("url", ""))
        latest = max(latest, row.get("evidence_finished_at") or "")
        if row.get("outcome") != "audited":
            what = "could not be reached" if row.get("outcome") == "unreachable" else "audit error"
            notes.append(
                {"level": "error", "message": {"text": f"{url}: {what}: {row.get('reason') or ''}"}, "locations": _location(url)}
            )
            continue
        for f in row.get("findings") or []:
            rid = f.get("rule")
            props: dict[str, Any] = {
                "status": f.get("status"),
                "severity": f.get("severity"),
                "pack": f.get("pack"),
                "endpoint": url,
            }
            if row.get("name"):
                props["organization"] = row["name"]
            result: dict[str, Any] = {
                "ruleId": rid,
                "kind": "fail",
                "level": _level(str(f.get("severity")), str(f.get("status"))),
                "message": {"text": f.get("message") or rid},
                "locations": _location(url),
                "partialFingerprints": {"ehrcheckFinding/v1": _fingerprint(str(rid), url)},
                "properties": props,
            }
            if rid in index:
                result["ruleIndex"] = index[rid]
            if f.get("waived"):
                result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f["waived"]}]
            out.write(("" if first else ",\n") + json_text(json.dumps(result, ensure_ascii=False)))
            first = False
    invocation: dict[str, Any] = {"executionSuccessful": True, "toolExecutionNotifications": notes}
    if latest:
        invocation["endTimeUtc"] = latest if latest.endswith("Z") else latest.replace("+00:00", "Z")
    tail = {
        "invocations": [invocation],
        "properties": {"list": meta.get("list"), "profile": meta.get("profile"), "outcomes": dict(sorted(counts.items()))},
    }
    out.write("\n]," + json_text(json.dumps(tail, ensure_ascii=False))[1:-1] + "}]}\n")


def _suite(row: dict[str, Any], titles: dict[str, tuple[str, str]]) -> ET.Element:
    url = str(row.get("url", ""))
    name = _clean(f"{row.get('name')} <{url}>" if row.get("name") else url)
    suite = ET.Element("testsuite", {"name": name, "package": "ehrcheck", "url": _clean(url)})
    if row.get("evidence_finished_at"):
        suite.set("timestamp", str(row["evidence_finished_at"]))
    if row.get("outcome") != "audited":
        case = ET.SubElement(suite, "testcase", {"classname": "ehrcheck.scan", "name": "reachable"})
        ET.SubElement(case, "error", {"message": _clean(str(row.get("reason") or row.get("outcome")))})
        suite.attrib.update(tests="1", failures="0", errors="1", skipped="0")
        return suite
    props = ET.SubElement(suite, "properties")  # first, as the schema wants
    verdict = row.get("verdict") or {}
    score = "" if row.get("score") is None else f"{row['score']:g}"
    for key, value in (("verdict", verdict.get("label", "")), ("overall_score", score)):
        ET.SubElement(props, "property", {"name": key, "value": _clean(str(value))})
    detail = {f["rule"]: f for f in row.get("findings") or [] if isinstance(f, dict) and "rule" in f}
    tests = failures = skipped = 0
    for status, ids in sorted((row.get("statuses") or {}).items()):
        for rid in ids:
            pack, title = titles.get(rid, ("", ""))
            case = ET.SubElement(
                suite, "testcase", {"classname": f"ehrcheck.{pack or 'rules'}", "name": _clean(f"{rid} {title}")}
            )
            tests += 1
            f = detail.get(rid, {})
            message = _clean(str(f.get("message") or title or rid))
            if f.get("waived"):
                ET.SubElement(case, "skipped", {"message": _clean(f"waived: {f['waived']}")})
                skipped += 1
            elif status == "fail":
                ET.SubElement(case, "failure", {"type": str(f.get("severity") or ""), "message": message}).text = message
                failures += 1
            elif status == "warn":
                ET.SubElement(case, "system-out").text = f"Warning: {message}"
            elif status in SKIPPED:
                ET.SubElement(case, "skipped", {"message": _clean(STATUS_LABEL.get(status, status))})
                skipped += 1
    suite.attrib.update(tests=str(tests), failures=str(failures), errors="0", skipped=str(skipped))
    return suite


def write_scan_junit(rows: Iterable[dict[str, Any]], out: TextIO, rules: Sequence[Rule], meta: dict[str, Any]) -> None:
    titles = {r.id: (r.pack, r.title) for r in rules}
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    name = _attr(f"ehrcheck scan: {meta.get('list', '')}")
    out.write(f"<testsuites name={name}>\n")
    for row in rows:
        suite = _suite(row, titles)
        ET.indent(inert_tree(suite), space="  ", level=1)
        out.write("  " + ET.tostring(suite, encoding="unicode") + "\n")
    out.write("</testsuites>\n")


def _attr(value: str) -> str:
    from xml.sax.saxutils import quoteattr

    return quoteattr(_clean(value))
