"""The typed reading of the discovery documents: each field present, absent, of the wrong type, or
malformed, against the specification section that defines it.

Four documents are read: the SMART configuration, the OpenID Connect configuration, the
CapabilityStatement's `rest.security` and its Bulk Data operation declarations. The evidence keeps
each as the server sent it; this module judges shape only (is `token_endpoint` an absolute URL, is
`capabilities` an array of strings), so the rules can say "present but unusable" instead of
counting a `1` or a relative path as a published endpoint. Pure: no I/O.

What was found is described by its JSON type and defect ("a number", "a relative reference"),
never quoted: the text is the server's, and a finding message is no place for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel

from ehrcheck.evidence.anonymous import OAUTH_URIS_SUFFIX


class Shape(StrEnum):
    ok = "ok"
    absent = "absent"
    wrong_type = "wrong type"
    malformed = "malformed"


Kind = Literal["url", "issuer", "string", "strings", "object", "boolean", "endpoints", "concepts", "extensions", "canonical"]

EXPECTED: dict[str, str] = {
    "url": "an absolute http(s) URL",
    "issuer": "an absolute http(s) URL with no query or fragment",
    "string": "a non-empty string",
    "strings": "an array of strings",
    "object": "a JSON object",
    "boolean": "true or false",
    "endpoints": "an array of objects, each with a url and an array of capabilities",
    "concepts": "an array of CodeableConcepts (objects)",
    "extensions": "an array of Extensions (objects)",
    "canonical": "a canonical URL (an absolute URL, optionally with |version)",
}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: Kind
    spec: str  # the specification and section that define the field


@dataclass(frozen=True)
class Reading:
    name: str
    shape: Shape
    found: str  # what was there, in words ("a number", "an array whose item 2 is null")
    kind: Kind
    spec: str

    @property
    def defective(self) -> bool:
        return self.shape in (Shape.wrong_type, Shape.malformed)

    def defect(self) -> str:
        """The finding text: the field, what was found, and what the specification says."""
        return f"{self.name} is {self.found}, where {self.spec} defines {EXPECTED[self.kind]}"


SMART_2 = "SMART App Launch 2.0.0 §Conformance (Metadata)"
SMART_22 = "SMART App Launch 2.2.0 §Conformance (Metadata)"
OIDC = "OpenID Connect Discovery 1.0 §3 (Provider Metadata)"
RFC8414 = "RFC 8414 §2 (Authorization Server Metadata)"
FHIR_SECURITY = "FHIR R4 §CapabilityStatement.rest.security"
SMART_1_URIS = "SMART App Launch 1.0.0 §Conformance (oauth-uris extension, valueUri)"
FHIR_OPERATION = "FHIR R4 §CapabilityStatement.rest.operation (name: string, definition: canonical)"

SMART_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("issuer", "issuer", SMART_2),
    FieldSpec("jwks_uri", "url", SMART_2),
    FieldSpec("authorization_endpoint", "url", SMART_2),
    FieldSpec("grant_types_supported", "strings", SMART_2),
    FieldSpec("token_endpoint", "url", SMART_2),
    FieldSpec("token_endpoint_auth_methods_supported", "strings", SMART_2),
    FieldSpec("token_endpoint_auth_signing_alg_values_supported", "strings", SMART_2),
    FieldSpec("registration_endpoint", "url", SMART_2),
    FieldSpec("associated_endpoints", "endpoints", SMART_2),
    FieldSpec("user_access_brand_bundle", "url", SMART_22),
    FieldSpec("user_access_brand_identifier", "object", SMART_22),
    FieldSpec("scopes_supported", "strings", SMART_2),
    FieldSpec("response_types_supported", "strings", SMART_2),
    FieldSpec("management_endpoint", "url", SMART_2),
    FieldSpec("introspection_endpoint", "url", SMART_2),
    FieldSpec("revocation_endpoint", "url", SMART_2),
    FieldSpec("capabilities", "strings", SMART_2),
    FieldSpec("code_challenge_methods_supported", "strings", SMART_2),
)

OPENID_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("issuer", "issuer", OIDC),
    FieldSpec("authorization_endpoint", "url", OIDC),
    FieldSpec("token_endpoint", "url", OIDC),
    FieldSpec("userinfo_endpoint", "url", OIDC),
    FieldSpec("jwks_uri", "url", OIDC),
    FieldSpec("registration_endpoint", "url", OIDC),
    FieldSpec("scopes_supported", "strings", OIDC),
    FieldSpec("response_types_supported", "strings", OIDC),
    FieldSpec("grant_types_supported", "strings", OIDC),
    FieldSpec("subject_types_supported", "strings", OIDC),
    FieldSpec("id_token_signing_alg_values_supported", "strings", OIDC),
    FieldSpec("token_endpoint_auth_methods_supported", "strings", OIDC),
    FieldSpec("claims_supported", "strings", OIDC),
    FieldSpec("code_challenge_methods_supported", "strings", RFC8414),
)

# The oauth-uris sub-extensions and the SMART configuration fields that say the same thing.
OAUTH_URIS: dict[str, str] = {
    "authorize": "authorization_endpoint",
    "token": "token_endpoint",
    "register": "registration_endpoint",
    "manage": "management_endpoint",
    "introspect": "introspection_endpoint",
    "revoke": "revocation_endpoint",
}

BULK_DEFINITIONS = {
    "Group": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
    "Patient": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
    "system": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
}
BULK_SPEC = "Bulk Data Access 1.0.1 §Server CapabilityStatement (export operations)"


# --- describing a value ----------------------------------------------------------------------


def describe(value: Any) -> str:
    """A value's JSON type in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else "a string"
    if isinstance(value, list):
        return f"an array of {len(value)} item{'s' if len(value) != 1 else ''}" if value else "an empty array"
    if isinstance(value, dict):
        return "an object"
    return "a value of an unknown type"


_SCHEME = re.compile(r"[a-z][a-z0-9+.-]{0,15}")
# str.isspace() and re's \s are the same Unicode test; plus C0 controls and DEL. One regex scan
# instead of a Python-level loop over every character (SMART documents are read once per rule).
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def url_problem(value: str, issuer: bool = False) -> str | None:
    """Why a string is not an absolute http(s) URL, in words; None when it is one."""
    if not value.strip():
        return "an empty string"
    if _SPACE_OR_CONTROL.search(value):
        return "a string with spaces or control characters"
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return "a string that does not parse as a URL"
    if not parts.scheme:
        return "a relative reference, not an absolute URL"
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme.lower()
        return f"a URL with the scheme '{scheme}'" if _SCHEME.fullmatch(scheme) else "a URL with another scheme"
    if not host:
        return "a URL without a host"
    if issuer and (parts.query or parts.fragment or value.endswith(("?", "#"))):
        return "a URL with a query or fragment"
    return None


def _item_problem(items: list[Any], ok: Any, what: str) -> str | None:
    bad = [i for i, item in enumerate(items) if not ok(item)]
    if not bad:
        return None
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    return f"an array whose item {bad[0] + 1} is {describe(items[bad[0]])}{more}, not {what}"


def judge(value: Any, kind: Kind) -> tuple[Shape, str]:
    """(shape, what was found) of one present value against its kind."""
    found = describe(value)
    if kind in ("url", "issuer", "canonical"):
        if not isinstance(value, str):
            return Shape.wrong_type, found
        text = value.split("|", 1)[0] if kind == "canonical" else value
        problem = url_problem(text, issuer=kind == "issuer")
        return (Shape.malformed, problem) if problem else (Shape.ok, found)
    if kind == "string":
        if not isinstance(value, str):
            return Shape.wrong_type, found
        return (Shape.malformed, found) if not value.strip() else (Shape.ok, found)
    if kind == "boolean":
        return (Shape.ok, found) if isinstance(value, bool) else (Shape.wrong_type, found)
    if kind == "object":
        return (Shape.ok, found) if isinstance(value, dict) else (Shape.wrong_type, found)
    if not isinstance(value, list):
        if kind == "strings" and isinstance(value, str):
            return Shape.wrong_type, "a single string, not an array"
        return Shape.wrong_type, found
    if kind == "strings":
        problem = _item_problem(value, lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
    elif kind == "concepts":
        problem = _item_problem(value, lambda v: isinstance(v, dict), "an object")
    else:  # endpoints
        problem = _item_problem(value, _associated_endpoint_ok, "an object with a url and an array of capabilities")
    return (Shape.malformed, problem) if problem else (Shape.ok, found)


def _associated_endpoint_ok(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and judge(item.get("url"), "url")[0] == Shape.ok
        and judge(item.get("capabilities"), "strings")[0] == Shape.ok
    )


# --- reading documents -----------------------------------------------------------------------


def _present(doc: BaseModel | dict[str, Any] | None) -> dict[str, Any]:
    """The fields a document carried (a null the server sent is present; a field it left out is not)."""
    if doc is None:
        return {}
    if isinstance(doc, BaseModel):
        return {name: getattr(doc, name) for name in doc.model_fields_set}
    return doc


def read_fields(doc: BaseModel | dict[str, Any] | None, specs: tuple[FieldSpec, ...]) -> dict[str, Reading]:
    """Every field of `specs`, read from `doc`."""
    present = _present(doc)
    out = {}
    for spec in specs:
        if spec.name not in present:
            out[spec.name] = Reading(spec.name, Shape.absent, "absent", spec.kind, spec.spec)
        else:
            shape, found = judge(present[spec.name], spec.kind)
            out[spec.name] = Reading(spec.name, shape, found, spec.kind, spec.spec)
    return out


def read_smart(doc: BaseModel | dict[str, Any] | None) -> dict[str, Reading]:
    return read_fields(doc, SMART_SPECS)


def read_openid(doc: BaseModel | dict[str, Any] | None) -> dict[str, Reading]:
    return read_fields(doc, OPENID_SPECS)


def read_security(element: Any) -> dict[str, Reading]:
    """CapabilityStatement.rest.security: `cors`, `service`, and each oauth-uris sub-extension
    (named `oauth-uris.authorize` and so on). An element that is not an object is one reading."""
    if element is None:
        return {}
    if not isinstance(element, dict):
        return {"security": Reading("security", Shape.wrong_type, describe(element), "object", FHIR_SECURITY)}
    out = read_fields(
        element,
        (
            FieldSpec("cors", "boolean", FHIR_SECURITY + ".cors"),
            FieldSpec("service", "concepts", FHIR_SECURITY + ".service"),
        ),
    )
    extensions = element.get("extension")
    if "extension" in element and not isinstance(extensions, list):
        out["extension"] = Reading(
            "extension", Shape.wrong_type, describe(extensions), "extensions", FHIR_SECURITY + ".extension"
        )
        return out
    for ext in extensions or []:
        if not (isinstance(ext, dict) and isinstance(ext.get("url"), str) and ext["url"].endswith(OAUTH_URIS_SUFFIX)):
            continue
        subs = ext.get("extension")
        if not isinstance(subs, list):
            out["oauth-uris"] = Reading("oauth-uris", Shape.wrong_type, describe(subs), "extensions", SMART_1_URIS)
            continue
        for sub in subs:
            if not isinstance(sub, dict) or sub.get("url") not in OAUTH_URIS:
                continue
            name = f"oauth-uris.{sub['url']}"
            value_key = "valueUri" if "valueUri" in sub else "valueUrl" if "valueUrl" in sub else None
            if value_key is None:
                out[name] = Reading(name, Shape.malformed, "an extension without valueUri", "url", SMART_1_URIS)
            else:
                shape, found = judge(sub[value_key], "url")
                out[name] = Reading(name, shape, found, "url", SMART_1_URIS)
    return out


def _op_name(op: dict[str, Any]) -> str | None:
    name = op.get("name")
    return name.lstrip("$").lower() if isinstance(name, str) else None


def _is_bulk_definition(value: Any) -> bool:
    return isinstance(value, str) and value.split("|", 1)[0] in BULK_DEFINITIONS.values()


def export_declared(operations: dict[str, list[Any]] | None, level: str) -> bool:
    """An operation at `level` (Group, Patient, system) is Bulk export: named `export`, or whatever
    its name, defined by that level's standard Bulk Data OperationDefinition."""
    for op in (operations or {}).get(level) or []:
        if isinstance(op, dict):
            definition = op.get("definition")
            if _op_name(op) == "export" or (
                isinstance(definition, str) and definition.split("|", 1)[0] == BULK_DEFINITIONS[level]
            ):
                return True
    return False


def read_bulk(operations: dict[str, list[Any]] | None) -> dict[str, Reading]:
    """The export operations declared on Group, on Patient and at system level: each a
    {name: string, definition: canonical}, and an export's definition the one for its level."""
    out: dict[str, Reading] = {}
    for level, ops in (operations or {}).items():
        if level not in BULK_DEFINITIONS:
            continue
        for i, op in enumerate(ops or []):
            where = f"{level} operation {i + 1}"
            if not isinstance(op, dict):
                out[where] = Reading(where, Shape.wrong_type, describe(op), "object", FHIR_OPERATION)
                continue
            name, definition = op.get("name"), op.get("definition")
            exportish = _op_name(op) in ("export", None) or _is_bulk_definition(definition)
            if not exportish:
                continue  # not a Bulk operation: INT-013 judges the statement's structure
            if not isinstance(name, str):
                # name and definition are 1..1: an operation without them is malformed, not optional
                shape, found = (Shape.malformed, "absent") if "name" not in op else (Shape.wrong_type, describe(name))
                out[f"{where} name"] = Reading(f"{where} name", shape, found, "string", FHIR_OPERATION)
            if "definition" not in op:
                out[f"{where} definition"] = Reading(
                    f"{where} definition", Shape.malformed, "absent", "canonical", FHIR_OPERATION
                )
                continue
            shape, found = judge(definition, "canonical")
            if (
                shape == Shape.ok
                and isinstance(definition, str)
                and _is_bulk_definition(definition)
                and definition.split("|", 1)[0] != BULK_DEFINITIONS[level]
            ):
                shape, found = Shape.malformed, "the Bulk Data OperationDefinition of another level"
            out[f"{where} definition"] = Reading(f"{where} definition", shape, found, "canonical", BULK_SPEC)
    return out
