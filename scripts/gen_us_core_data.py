#!/usr/bin/env python3
"""Derive ehrcheck's US Core data, for 6.1.0 and 7.0.0, from each IG's own conformance resources:
profiles' mandatory and must-support elements and their terminology bindings, the SHALL searches
of the server CapabilityStatement with their parameters (SHALL comparators, revincludes), the
USCDI profiles ONC testing requires, and the value sets that can be checked offline.

Input: a folder holding `us-core-6.1.0/` and `us-core-7.0.0/`, each with the IG's
StructureDefinitions, the us-core-server CapabilityStatement, `searchparameters/` and `valuesets/`
(default: ../shared/fixtures beside the repository). Output, committed, so the tool never needs
the IG at run time:

  ehrcheck/rules/data/us_core_<v>_conformance.json   profiles, searches, value sets
  ehrcheck/rules/data/us_core_<v>_uscdi_profiles.json the USCDI profiles (g)(10) testing requires

Re-run after changing this script; a test checks the committed files are what it makes (from a
copy of the inputs under tests/fixtures/, so a clone without ../shared passes).

Usage: scripts/gen_us_core_data.py [SOURCE_ROOT] [--check]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = ROOT.parent / "shared" / "fixtures"
DATA = ROOT / "ehrcheck" / "rules" / "data"
VERSIONS = {
    "6.1.0": "HL7 US Core 6.1.0 (tag 6.1.0, commit 7dd8da082d9ece3a9cde209d7f5b792c082988c2)",
    "7.0.0": "HL7 US Core 7.0.0 (tag 7.0.0, commit 13ba0911e55e43f571aa977b84778a4f35986152)",
}
US_CORE_SD = "http://hl7.org/fhir/us/core/StructureDefinition/"
EXPECTATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-expectation"
COMBINATION = "http://hl7.org/fhir/StructureDefinition/capabilitystatement-search-parameter-combination"
USCDI_REQ = "http://hl7.org/fhir/us/core/StructureDefinition/uscdi-requirement"
# Supported profiles of SHALL resources that the ONC (g)(10) test kit does not require: the
# abstract bases, and types reached only through references.
NOT_USCDI = {
    "us-core-location",
    "us-core-medication",
    "us-core-practitionerrole",
    "us-core-simple-observation",
    "us-core-vital-signs",
}
# Required but not enforced: ONC's enforcement discretion (March 2025) for sexual orientation.
USCDI_NOT_REQUIRED = {
    "us-core-observation-sexual-orientation": "USCDI v3 sexual orientation: under HHS enforcement discretion since March "
    "2025; the ONC (g)(10) test kit skips it"
}
UCUM = "http://unitsofmeasure.org"

# FHIR R4 (4.0.1): the required bindings of the base resources and the codes of the core value
# sets, derived from HL7's R4 definitions by scripts/gen_fhir_r4_terminology.py (committed beside
# its pin). fhir.resources types these elements as plain `code`, so nothing else checks them.
R4_TERMINOLOGY = ROOT / "scripts" / "fhir-r4-core" / "fhir_r4_terminology.json"
# Which of those base-resource bindings ehrcheck checks: the elements US Core profiles carry
# (statuses and the like, and the name/telecom/address codes of people). The value set of each
# comes from the R4 definitions; one the definitions do not bind `required` stops the generator.
CORE_CHECKED: dict[str, list[str]] = {
    "AllergyIntolerance": [
        "AllergyIntolerance.clinicalStatus",
        "AllergyIntolerance.verificationStatus",
        "AllergyIntolerance.type",
        "AllergyIntolerance.criticality",
    ],
    "CarePlan": ["CarePlan.status", "CarePlan.intent"],
    "CareTeam": ["CareTeam.status"],
    "Condition": ["Condition.clinicalStatus", "Condition.verificationStatus"],
    "Coverage": ["Coverage.status"],
    "Device": ["Device.status"],
    "DiagnosticReport": ["DiagnosticReport.status"],
    "DocumentReference": ["DocumentReference.status", "DocumentReference.docStatus"],
    "Encounter": ["Encounter.status"],
    "Goal": ["Goal.lifecycleStatus"],
    "Immunization": ["Immunization.status"],
    "Location": ["Location.status"],
    "MedicationDispense": ["MedicationDispense.status"],
    "MedicationRequest": ["MedicationRequest.status", "MedicationRequest.intent"],
    "Observation": ["Observation.status"],
    "Patient": ["Patient.gender", "Patient.name.use", "Patient.telecom.system", "Patient.telecom.use", "Patient.address.use"],
    "Practitioner": ["Practitioner.gender"],
    "Procedure": ["Procedure.status"],
    "QuestionnaireResponse": ["QuestionnaireResponse.status"],
    "RelatedPerson": ["RelatedPerson.gender"],
    "ServiceRequest": ["ServiceRequest.status", "ServiceRequest.intent"],
    "Specimen": ["Specimen.status"],
}


def _r4() -> dict:
    return json.loads(R4_TERMINOLOGY.read_text(encoding="utf-8"))


def _core_bindings(r4: dict) -> dict[str, dict[str, str]]:
    """{resource type: {element: value set}} for CORE_CHECKED, the value sets from the R4 data."""
    out: dict[str, dict[str, str]] = {}
    for rtype, paths in CORE_CHECKED.items():
        bound = r4["bindings"].get(rtype, {})
        unbound = [p for p in paths if p not in bound]
        if unbound:
            raise SystemExit(f"gen_us_core_data: FHIR R4 binds no required value set on {', '.join(unbound)}")
        out[rtype] = {p: bound[p] for p in paths}
    return out


# Value sets checked by their code system only: VSAC sets (not enumerable offline) whose system
# the IG names on the binding's page, and FHIR R4 sets drawn from one system (LOINC, UCUM), which
# the R4 definitions do enumerate but ehrcheck has always judged by system alone (enumerating
# them would change which vital-sign codes and units fail: a decision of its own, not made here).
# Never the code. {value set: [systems]}.
VSAC_SYSTEMS: dict[str, list[str]] = {
    "http://hl7.org/fhir/ValueSet/observation-vitalsignresult": ["http://loinc.org"],
    "http://hl7.org/fhir/ValueSet/ucum-vitals-common": [UCUM],
    "http://hl7.org/fhir/ValueSet/ucum-common": [UCUM],
    "http://terminology.hl7.org/ValueSet/v3-UnitsOfMeasureCaseSensitive": [UCUM],
    "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1010.4": ["http://www.nlm.nih.gov/research/umls/rxnorm"],
    "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113762.1.4.1010.6": ["http://hl7.org/fhir/sid/cvx"],
    "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.113883.3.88.12.80.62": ["http://loinc.org"],
    "http://cts.nlm.nih.gov/fhir/ValueSet/2.16.840.1.114222.4.11.1066": ["http://nucc.org/provider-taxonomy"],
}
STRENGTHS = ("required", "extensible")


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


def _bindings(sd: dict) -> dict[str, dict]:
    """Required and extensible bindings of one differential: {element id: binding}. Children of
    slices are left out (a slice's codes are its pattern), except value[x] type slices."""
    out = {}
    for e in sd["differential"]["element"]:
        b = e.get("binding") or {}
        vs = str(b.get("valueSet") or "").split("|", 1)[0]
        if b.get("strength") not in STRENGTHS or not vs:
            continue
        parts = e["id"].split(".")[1:]
        sliced = [i for i, p in enumerate(parts) if ":" in p]
        if sliced and sliced[0] != len(parts) - 1 and not parts[sliced[0]].startswith("value[x]:"):
            continue
        out[e["id"]] = {"strength": b["strength"], "value_set": vs, "min": e.get("min") or 0}
    return out


def _base_required(resource_type: str) -> list[str]:
    """Top-level elements the FHIR R4 base resource makes 1.., which IG differentials do not
    repeat (Condition.subject, Observation.status...), read from fhir.resources' R4B models."""
    import fhir.resources.R4B as r4b

    model = r4b.get_fhir_model_class(resource_type)
    out = []
    for name, f in model.model_fields.items():
        if name in ("resource_type", "id") or name.endswith("__ext"):
            continue
        if f.is_required() or (f.json_schema_extra or {}).get("element_required"):
            out.append(f"{resource_type}.{f.alias or name}")
    return sorted(out)


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


def _shall(extensions: list[dict] | None) -> bool:
    return any(x.get("url") == EXPECTATION and x.get("valueCode") == "SHALL" for x in extensions or [])


def _value_sets(source: Path, used: set[str], r4_sets: dict[str, dict[str, list[str]]]) -> dict[str, dict]:
    """Every value set a kept binding names: its enumerated codes by system ('codes'), the
    systems it takes whole or by filter ('open_systems': the system can be checked, the code
    cannot), and value sets it includes that are not here ('open_value_sets')."""
    code_systems = {}
    ig_sets = {}
    for f in sorted((source / "valuesets").glob("*.json")):
        doc = json.loads(f.read_text())
        if doc["resourceType"] == "CodeSystem" and doc.get("content") == "complete":
            code_systems[doc["url"]] = [c["code"] for c in _concepts(doc.get("concept", []))]
        elif doc["resourceType"] == "ValueSet":
            ig_sets[doc["url"]] = doc
    out: dict[str, dict] = {}
    for url in sorted(used):
        entry: dict[str, object] = {"codes": {}, "open_systems": [], "open_value_sets": []}
        if url in r4_sets and url not in VSAC_SYSTEMS:
            entry["codes"] = {system: list(codes) for system, codes in r4_sets[url].items()}
            entry["source"] = "FHIR R4 4.0.1"
        elif url in ig_sets:
            entry["source"] = "US Core"
            codes: dict[str, list[str]] = {}
            for inc in ig_sets[url].get("compose", {}).get("include", []):
                system = str(inc.get("system") or "").split("|", 1)[0]
                for vs in inc.get("valueSet", []):
                    vs = vs.split("|", 1)[0]
                    if vs in r4_sets and vs not in VSAC_SYSTEMS:
                        for s, c in r4_sets[vs].items():
                            codes.setdefault(s, []).extend(x for x in c if x not in codes.get(s, []))
                    elif vs in VSAC_SYSTEMS:
                        entry["open_systems"].extend(s for s in VSAC_SYSTEMS[vs] if s not in entry["open_systems"])
                    elif vs not in entry["open_value_sets"]:
                        entry["open_value_sets"].append(vs)
                if not system:
                    continue
                if inc.get("concept") and not inc.get("filter"):
                    codes.setdefault(system, []).extend(
                        c["code"] for c in inc["concept"] if c["code"] not in codes.get(system, [])
                    )
                elif system in code_systems and not inc.get("filter"):
                    codes.setdefault(system, []).extend(c for c in code_systems[system] if c not in codes.get(system, []))
                elif system not in entry["open_systems"]:
                    entry["open_systems"].append(system)
            entry["codes"] = codes
            if ig_sets[url].get("compose", {}).get("exclude"):
                entry["has_exclusions"] = True
        elif url in VSAC_SYSTEMS:
            entry["source"] = "system known, codes not available offline"
            entry["open_systems"] = list(VSAC_SYSTEMS[url])
        else:
            entry["source"] = "not available offline"
            entry["open_value_sets"] = [url]
        out[url] = entry
    return out


def _concepts(concepts: list[dict]) -> list[dict]:
    flat = []
    for c in concepts:
        flat.append(c)
        flat.extend(_concepts(c.get("concept", [])))
    return flat


def _uscdi(cs: dict) -> list[dict]:
    """The USCDI profiles (g)(10) testing requires: the supportedProfile of every SHALL resource,
    less the bases and reference-only types the ONC test kit leaves out."""
    out = []
    for res in cs["rest"][0]["resource"]:
        if not _shall(res.get("extension")):
            continue
        for url in res.get("supportedProfile", []):
            url = url.split("|", 1)[0]
            pid = url.rsplit("/", 1)[1]
            if pid in NOT_USCDI:
                continue
            item = {"url": url, "resource": res["type"], "required": pid not in USCDI_NOT_REQUIRED}
            if pid in USCDI_NOT_REQUIRED:
                item["note"] = USCDI_NOT_REQUIRED[pid]
            out.append(item)
    return sorted(out, key=lambda p: (p["resource"], p["url"]))


def build(source: Path, version: str) -> tuple[dict, dict]:
    r4 = _r4()
    core_bindings = _core_bindings(r4)
    cs = json.loads((source / "CapabilityStatement-us-core-server.json").read_text())
    uscdi_list = _uscdi(cs)
    uscdi = {p["url"]: p["required"] for p in uscdi_list}
    sds = {}
    for f in sorted(source.glob("StructureDefinition-*.json")):
        sd = json.loads(f.read_text())
        sds[sd["url"]] = sd
    params = {}
    for f in sorted((source / "searchparameters").glob("*.json")):
        sp = json.loads(f.read_text())
        params[sp["url"]] = sp

    profiles = []
    used_sets: set[str] = set()
    for url, sd in sorted(sds.items(), key=lambda kv: kv[1]["id"]):
        chain = []
        parent = sds.get(sd.get("baseDefinition", ""))
        while parent is not None:
            chain.insert(0, parent)
            parent = sds.get(parent.get("baseDefinition", ""))
        merged: dict[str, dict] = {}
        bindings: dict[str, dict] = {
            path: {"strength": "required", "value_set": vs, "min": 0, "from": "FHIR R4"}
            for path, vs in core_bindings.get(sd["type"], {}).items()
        }
        for eid in _base_required(sd["type"]):
            merged[eid] = {"id": eid, "min": 1, "from": "FHIR R4"}
        for prof in [*chain, sd]:
            for el in _elements(prof):
                before = merged.get(el["id"], {})
                # A profile only narrows cardinality: a differential silent on min keeps the base's.
                merged[el["id"]] = {**before, **el, "min": max(int(before.get("min") or 0), int(el["min"]))}
                merged[el["id"]].pop("from", None)
            bindings.update(_bindings(prof))
        used_sets.update(b["value_set"] for b in bindings.values())
        profiles.append(
            {
                "id": sd["id"],
                "url": url,
                "resource": sd["type"],
                "title": sd.get("title") or sd["name"],
                "parent": chain[-1]["id"] if chain else None,
                "depth": len(chain),
                "uscdi_required": uscdi.get(url, False),
                "selectors": _selectors(sd, chain),
                "elements": list(merged.values()),
                "bindings": [{"id": k, **v} for k, v in sorted(bindings.items())],
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
            comparators = definition.get("comparator", [])
            expectations = definition.get("_comparator", [])
            defs[sp["name"]] = {
                "type": definition["type"],
                "paths": _expression_paths(definition.get("expression", ""), rtype),
                "comparators": comparators,
                "shall_comparators": [
                    c for c, x in zip(comparators, expectations, strict=False) if _shall((x or {}).get("extension"))
                ],
                "shall_multiple_or": _shall((definition.get("_multipleOr") or {}).get("extension")),
            }
            if _shall(sp.get("extension")):
                shall.append([sp["name"]])
        for ext in res.get("extension", []):
            if ext.get("url") != COMBINATION:
                continue
            inner = ext.get("extension", [])
            if _shall(inner):
                shall.append([x["valueString"] for x in inner if x.get("url") == "required"])
        # One order for both versions (7.0.0 lists the same searches in another order).
        shall.sort(key=lambda combo: (-len(combo), combo))
        searches[rtype] = {
            "shall": shall,
            "params": {k: defs[k] for k in sorted(defs) if any(k in s for s in shall)},
            "revinclude": sorted(res.get("searchRevInclude", [])),
            "supported_profiles": sorted(p.split("|", 1)[0] for p in res.get("supportedProfile", []) if p.startswith(US_CORE_SD)),
        }
    conformance = {
        "us_core_version": version,
        "generated_by": "scripts/gen_us_core_data.py",
        "derived_from": f"{VERSIONS[version]}: StructureDefinition differentials merged along their US Core parent "
        "chain, over the FHIR R4 base resource's required elements; SHALL searches, combinations and revincludes of the us-core-server CapabilityStatement; their "
        "SearchParameters (SHALL comparators); the IG's ValueSets and CodeSystems; FHIR R4 4.0.1 required "
        "bindings of the base resources",
        "profiles": profiles,
        "searches": dict(sorted(searches.items())),
        "value_sets": _value_sets(source, used_sets, r4["value_sets"]),
    }
    uscdi_doc = {
        "us_core_version": version,
        "derived_from": f"US Core {version} CapabilityStatement us-core-server ({VERSIONS[version]}): supportedProfile "
        "of every SHALL resource, less the profiles the ONC (g)(10) test kit does not require (us-core-location, "
        "us-core-medication, us-core-practitionerrole, and the abstract bases us-core-simple-observation and "
        "us-core-vital-signs); sexual orientation not required (ONC enforcement discretion, March 2025)",
        "profiles": uscdi_list,
    }
    return conformance, uscdi_doc


def outputs(source_root: Path) -> dict[Path, str]:
    out = {}
    for version in VERSIONS:
        conformance, uscdi = build(source_root / f"us-core-{version}", version)
        stem = "us_core_" + version.replace(".", "_")
        out[DATA / f"{stem}_conformance.json"] = json.dumps(conformance, indent=1) + "\n"
        out[DATA / f"{stem}_uscdi_profiles.json"] = json.dumps(uscdi, indent=2) + "\n"
    return out


def main(argv: list[str]) -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    source = Path(args[0]) if args else DEFAULT_SOURCE
    missing = [v for v in VERSIONS if not (source / f"us-core-{v}" / "CapabilityStatement-us-core-server.json").is_file()]
    if missing:
        print(f"gen_us_core_data: {source} does not hold us-core-{'/'.join(missing)} conformance files", file=sys.stderr)
        return 2
    stale = []
    for path, text in outputs(source).items():
        if check:
            if not path.is_file() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"out of date: {', '.join(stale)}: run scripts/gen_us_core_data.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
