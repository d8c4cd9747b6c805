#!/usr/bin/env python3
"""Derive ehrcheck's FHIR R4 terminology table from the FHIR R4 (4.0.1) core definitions: the
required bindings of the base resources (and of the data types their elements use, such as
HumanName.use under Patient.name) and the codes of the core value sets they name.

Input: a folder holding HL7's R4 definitions `valuesets.json` (value sets and FHIR code systems),
`v3-codesystems.json`, `profiles-resources.json`, `profiles-types.json` and `profiles-others.json`
(the core profiles, e.g. vital signs). Default: .venv-gen/fhir-r4-core/node_modules/@medplum/
definitions/dist/fhir/r4, which scripts/setup installs from scripts/fhir-r4-core/package-lock.json
(the npm registry does not carry HL7's own hl7.fhir.r4.core package; this one ships the same
files, build 9346c8cc45 of 2019-11-01, as in https://hl7.org/fhir/R4/definitions.json.zip).
Output, committed beside the pin, so neither the data generator nor the tests need the definitions
(ehrcheck itself never reads it: what it needs is copied into the US Core data):

  scripts/fhir-r4-core/fhir_r4_terminology.json
    bindings     {resource type: {element path: value set}}: every required binding of the base
                 resource, and of the data types one level under its elements
    value_sets   {value set: {system: [codes]}}: every core value set (http://hl7.org/fhir/ValueSet/)
                 a binding of the core definitions names (US Core binds some the core binds only
                 as an example, such as medicationrequest-category), whose codes the definitions
                 enumerate (explicit concepts, or whole FHIR code systems that are complete; no
                 filters, no exclusions)

scripts/gen_us_core_data.py reads this file, not the definitions. A test checks the committed file
is what this script makes when the definitions are installed.

Usage: scripts/gen_fhir_r4_terminology.py [SOURCE] [--check]
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT / ".venv-gen" / "fhir-r4-core" / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
OUTPUT = ROOT / "scripts" / "fhir-r4-core" / "fhir_r4_terminology.json"
FILES = ("valuesets.json", "v3-codesystems.json", "profiles-resources.json", "profiles-types.json", "profiles-others.json")
CORE_VALUE_SET = "http://hl7.org/fhir/ValueSet/"
# Data types whose children are never coded values a profile check reads (or that recurse).
NOT_DESCENDED = {"Element", "BackboneElement", "Extension", "Reference", "Meta", "Narrative", "Resource"}


def _entries(path: Path) -> list[dict]:
    return [e["resource"] for e in json.loads(path.read_text(encoding="utf-8"))["entry"]]


def _bare(url: str) -> str:
    return url.split("|", 1)[0]


def _required(element: dict) -> str | None:
    binding = element.get("binding") or {}
    return _bare(binding["valueSet"]) if binding.get("strength") == "required" and binding.get("valueSet") else None


def _bindings(resources: list[dict], types: dict[str, dict]) -> dict[str, dict[str, str]]:
    """{resource type: {path: value set}} for the required bindings of each base resource."""
    out: dict[str, dict[str, str]] = {}
    for sd in sorted(resources, key=lambda s: s["type"]):
        found: dict[str, str] = {}
        for e in sd["snapshot"]["element"]:
            vs = _required(e)
            if vs:
                found[e["path"]] = vs
            for t in e.get("type") or []:
                dtype = types.get(t.get("code", ""))
                if dtype is None or dtype.get("kind") != "complex-type" or dtype["type"] in NOT_DESCENDED:
                    continue
                for child in dtype["snapshot"]["element"]:
                    child_vs = _required(child)
                    if child_vs and child["path"].count(".") == 1:
                        found.setdefault(e["path"] + "." + child["path"].split(".", 1)[1], child_vs)
        if found:
            out[sd["type"]] = dict(sorted(found.items()))
    return out


def _flat(concepts: list[dict]) -> list[str]:
    codes: list[str] = []
    for c in concepts:
        codes.append(c["code"])
        codes.extend(_flat(c.get("concept") or []))
    return codes


def _enumerate(
    url: str, value_sets: dict[str, dict], code_systems: dict[str, dict], seen: frozenset = frozenset()
) -> dict | None:
    """{system: codes} of a value set, or None when the definitions cannot enumerate it."""
    vs = value_sets.get(url)
    if vs is None or url in seen:
        return None
    compose = vs.get("compose") or {}
    if compose.get("exclude"):
        return None
    codes: dict[str, list[str]] = {}

    def add(system: str, more: list[str]) -> None:
        listed = codes.setdefault(system, [])
        listed.extend(c for c in more if c not in listed)

    for inc in compose.get("include") or []:
        if inc.get("filter"):
            return None
        for sub in inc.get("valueSet") or []:
            inner = _enumerate(_bare(sub), value_sets, code_systems, seen | {url})
            if inner is None:
                return None
            for system, more in inner.items():
                add(system, more)
        system = inc.get("system")
        if not system:
            continue
        if inc.get("concept"):
            add(system, [c["code"] for c in inc["concept"]])
            continue
        cs = code_systems.get(system)
        if cs is None or cs.get("content") != "complete":
            return None
        add(system, _flat(cs.get("concept") or []))
    return codes or None


def build(source: Path) -> dict:
    value_sets: dict[str, dict] = {}
    code_systems: dict[str, dict] = {}
    for name in ("valuesets.json", "v3-codesystems.json"):
        for r in _entries(source / name):
            if r["resourceType"] == "ValueSet":
                value_sets[r["url"]] = r
            elif r["resourceType"] == "CodeSystem":
                code_systems[r["url"]] = r
    definitions = {
        name: [r for r in _entries(source / name) if r["resourceType"] == "StructureDefinition"]
        for name in ("profiles-resources.json", "profiles-types.json", "profiles-others.json")
    }
    resources = [sd for sd in definitions["profiles-resources.json"] if sd.get("kind") == "resource" and not sd.get("abstract")]
    types = {sd["type"]: sd for sd in definitions["profiles-types.json"] if sd.get("derivation") == "specialization"}
    named = set()
    for sds in definitions.values():
        for sd in sds:
            for e in (sd.get("snapshot") or {}).get("element") or []:
                b = e.get("binding") or {}
                if b.get("valueSet"):
                    named.add(_bare(b["valueSet"]))
    tables = {}
    for url in sorted(u for u in named if u.startswith(CORE_VALUE_SET)):
        codes = _enumerate(url, value_sets, code_systems)
        if codes is not None:
            tables[url] = codes
    version = next((r.get("version") for r in value_sets.values() if r.get("version")), None)
    return {
        "fhir_version": version,
        "generated_by": "scripts/gen_fhir_r4_terminology.py",
        "derived_from": "FHIR R4 core definitions (HL7 build 9346c8cc45, 2019-11-01; "
        "https://hl7.org/fhir/R4/downloads.html): " + ", ".join(FILES),
        "sha256": {name: hashlib.sha256((source / name).read_bytes()).hexdigest() for name in FILES},
        "bindings": _bindings(resources, types),
        "value_sets": tables,
    }


def render(source: Path) -> str:
    return json.dumps(build(source), indent=1, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    source = Path(args[0]) if args else DEFAULT_SOURCE
    missing = [n for n in FILES if not (source / n).is_file()]
    if missing:
        print(f"gen_fhir_r4_terminology: {source} lacks {', '.join(missing)} (scripts/setup installs them)", file=sys.stderr)
        return 2
    text = render(source)
    if check:
        if not OUTPUT.is_file() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"out of date: {OUTPUT.name}: run scripts/gen_fhir_r4_terminology.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
