#!/usr/bin/env python3
"""Derive ehrcheck's US Core 6.1.0 data (profiles' mandatory and must-support elements, the SHALL
searches of the server CapabilityStatement) from the IG's own conformance resources.

Input: a folder holding the US Core 6.1.0 StructureDefinitions, the us-core-server
CapabilityStatement and the SearchParameters (default: ../shared/fixtures/us-core-6.1.0 beside
the repository). Output: ehrcheck/rules/data/us_core_6_1_0_conformance.json, committed, so the tool
never needs the IG at run time. Re-run after changing this script; a test checks the committed
file is what this script makes.

Usage: scripts/gen_us_core_data.py [SOURCE_DIR] [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "fixtures" / "us-core-6.1.0"
OUT = ROOT / "ehrcheck" / "rules" / "data" / "us_core_6_1_0_conformance.json"
USCDI = ROOT / "ehrcheck" / "rules" / "data" / "us_core_6_1_0_uscdi_profiles.json"
US_CORE_SD = "http://hl7.org/fhir/us/core/StructureDefinition/"
EXPECTATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation"
COMBINATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
USCDI_REQ = "http://hl7.org/fhir/us/core/StructureDefinition/uscdi-requirement"


def _pattern(element: dict) -> object | None:
    for key, value in element.items():
        if key.startswith(("pattern", "fixed")):
            return value
    return None


def _slice_pattern(elements: list[dict], slice_id: str) -> dict | None:
    """A CodeableConcept-like pattern for a slice: its own pattern, or one built from the fixed
    system/code of its `coding` children (how us-core-vital-signs pins category vital-signs)."""
    own = next((_pattern(e) for e in elements if e["id"] == slice_id and _pattern(e) is not None), None)
    if isinstance(own, dict):
        return own
    coding: dict[str, object] = {}
    for e in elements:
        if e["id"] in (f"{slice_id}.coding.system", f"{slice_id}.coding.code"):
            value = _pattern(e)
            if value is not None:
                coding[e["id"].rsplit(".", 1)[1]] = value
    return {"coding": [coding]} if coding else None


def _elements(sd: dict) -> list[dict]:
    """Mandatory / must-support elements of one differential, in a form the probe can walk."""
    diff = sd["differential"]["element"]
    out = []
    for e in diff:
        eid = e["id"]
        head, _, rest = eid.partition(".")
        if not rest:
            continue  # the root element
        parts = rest.split(".")
        sliced = [i for i, p in enumerate(parts) if ":" in p]
        # Children of a slice are folded into the slice's pattern; only the slice itself is kept.
        if sliced and sliced[0] != len(parts) - 1:
            if not parts[sliced[0]].startswith("value[x]:"):
                continue
        mandatory = (e.get("min") or 0) >= 1
        must_support = bool(e.get("mustSupport"))
        uscdi = any(x.get("url") == USCDI_REQ for x in e.get("extension", []))
        if not (mandatory or must_support or uscdi):
            continue
        item: dict[str, object] = {"id": eid, "min": e.get("min") or 0}
        if must_support:
            item["must_support"] = True
        if uscdi:
            item["uscdi"] = True
        last = parts[-1]
        if ":" in last:
            name, slice_name = last.split(":", 1)
            if name == "extension":
                urls = [p for t in e.get("type", []) for p in t.get("profile", [])]
                if urls:
                    item["extension_url"] = urls[0]
            elif not name.endswith("[x]"):
                pattern = _slice_pattern(diff, eid)
                if pattern is not None:
                    item["pattern"] = pattern
        out.append(item)
    return out


def _selectors(sd: dict, chain: list[dict]) -> dict:
    """Fixed codes that tell one profile's resources from another's of the same type."""
    sel: dict[str, list] = {}
    for prof in [*chain, sd]:
        diff = prof["differential"]["element"]
        for e in diff:
            rest = e["id"].partition(".")[2]
            if rest == "code" and isinstance(_pattern(e), dict):
                sel["code"] = _pattern(e)["coding"]
            if rest.startswith("category:") and "." not in rest:
                pattern = _slice_pattern(diff, e["id"])
                if pattern and pattern.get("coding"):
                    sel.setdefault("category", [])
                    for c in pattern["coding"]:
                        if c not in sel["category"]:
                            sel["category"].append(c)
    return sel


def _drop_calls(text: str, call: str) -> str:
    """Remove every `call(...)` with balanced parentheses, e.g. `.where(resolve() is Patient)`."""
    while call in text:
        start = text.index(call)
        depth, i = 0, start + len(call) - 1
        for i in range(start + len(call) - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                break
        text = text[:start] + text[i + 1 :]
    return text


def _expression_paths(expression: str, rtype: str) -> list[str]:
    """FHIRPath like `Observation.effective` or `Condition.onset.as(dateTime)` -> element paths."""
    paths = []
    for part in expression.split("|"):
        part = part.strip().strip("()")
        if not part.startswith(rtype + "."):
            continue
        part = _drop_calls(part[len(rtype) + 1 :], ".where(")
        part = re.sub(r"\.as\((\w+)\)", lambda m: "[" + m.group(1) + "]", part)
        part = part.replace("(", "").replace(")", "").strip()
        if part and part not in paths:
            paths.append(part)
    return paths


def build(source: Path) -> dict:
    uscdi = {p["url"]: p.get("required", True) for p in json.loads(USCDI.read_text())["profiles"]}
    sds = {}
    for f in sorted(source.glob("StructureDefinition-*.json")):
        sd = json.loads(f.read_text())
        sds[sd["url"]] = sd
    params = {}
    for f in sorted((source / "searchparameters").glob("*.json")):
        sp = json.loads(f.read_text())
        params[sp["url"]] = sp
    cs = json.loads((source / "CapabilityStatement-us-core-server.json").read_text())

    profiles = []
    for url, sd in sorted(sds.items(), key=lambda kv: kv[1]["id"]):
        chain = []
        parent = sds.get(sd.get("baseDefinition", ""))
        while parent is not None:
            chain.insert(0, parent)
            parent = sds.get(parent.get("baseDefinition", ""))
        merged: dict[str, dict] = {}
        for prof in [*chain, sd]:
            for el in _elements(prof):
                merged[el["id"]] = {**merged.get(el["id"], {}), **el}
        profiles.append(
            {
                "id": sd["id"],
                "url": url,
                "resource": sd["type"],
                "title": sd.get("title") or sd["name"],
                "parent": chain[-1]["id"] if chain else None,
                "uscdi_required": uscdi.get(url, False),
                "selectors": _selectors(sd, chain),
                "elements": list(merged.values()),
            }
        )

    searches = {}
    for res in cs["rest"][0]["resource"]:
        rtype = res["type"]
        defs = {}
        shall = []
        for sp in res.get("searchParam", []):
            definition = params.get(sp.get("definition", ""))
            if definition is None:
                continue
            defs[sp["name"]] = {
                "type": definition["type"],
                "paths": _expression_paths(definition.get("expression", ""), rtype),
                "comparators": definition.get("comparator", []),
            }
            if any(x.get("url") == EXPECTATION and x.get("valueCode") == "SHALL" for x in sp.get("extension", [])):
                shall.append([sp["name"]])
        for ext in res.get("extension", []):
            if ext.get("url") != COMBINATION:
                continue
            inner = ext.get("extension", [])
            if any(x.get("url") == EXPECTATION and x.get("valueCode") == "SHALL" for x in inner):
                shall.append([x["valueString"] for x in inner if x.get("url") == "required"])
        searches[rtype] = {
            "shall": shall,
            "params": {k: defs[k] for k in sorted(defs) if any(k in s for s in shall)},
            "supported_profiles": sorted(p for p in res.get("supportedProfile", []) if p.startswith(US_CORE_SD)),
        }
    return {
        "us_core_version": "6.1.0",
        "generated_by": "scripts/gen_us_core_data.py",
        "derived_from": "HL7 US Core 6.1.0 (tag 6.1.0, commit 7dd8da082d9ece3a9cde209d7f5b792c082988c2): "
        "StructureDefinition differentials merged along their US Core parent chain; SHALL searches "
        "and combinations of the us-core-server CapabilityStatement; their SearchParameters",
        "profiles": profiles,
        "searches": dict(sorted(searches.items())),
    }


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    source = Path(args[0]) if args else DEFAULT_SOURCE
    if not (source / "CapabilityStatement-us-core-server.json").is_file():
        print(f"gen_us_core_data: {source} does not hold the US Core 6.1.0 conformance files", file=sys.stderr)
        return 2
    text = json.dumps(build(source), indent=1, sort_keys=False) + "\n"
    if check:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run scripts/gen_us_core_data.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
