"""A CapabilityStatement that is certainly valid for fhir.resources' R4B model, told without the model.

Importing the R4B CapabilityStatement model and validating a statement costs ~0.1 s of CPU (the
models are built on import), most of an anonymous audit's own work besides start-up. Most servers
send statements made only of the elements below, written plainly, and those the model accepts: for
such a statement `certainly_valid` answers True after one walk over it (a few ms for sekmet's
300 KB). It answers False ("not sure") for anything else — an element or a datatype outside
`SHAPES`, a primitive's `_extension` sibling, a value of a JSON type or form the model might read
differently, a contained resource, narrative, an empty object or array, a null — and the caller then
validates with the full model, whose error messages the evidence records. So the answer is never
"invalid": the walk only spares the model where the model would find nothing.

`SHAPES` is derived from the installed models by `derive_shapes()` (the element names, datatypes,
cardinality, the elements FHIR requires and each choice group) and kept here as data, so that the
walk needs no import; `tests/probes/anonymous/test_capability_shape.py` checks that it still equals
what the models say, and that the walk never certifies a statement the model rejects (the real and
demo statements, sekmet's, and thousands of mutations of them). The primitive checks accept only
a subset of what the model accepts (ASCII codes and URIs, dates and full timestamps with a zone, JSON
booleans): outside it, the model decides.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

# The primitive types the walk checks itself; an element of any other type is left to the model.
PRIMITIVES = frozenset({"string", "code", "uri", "canonical", "url", "markdown", "boolean", "dateTime", "id"})
# The general-purpose datatypes it follows (besides the statement's own backbone elements).
DATATYPES = frozenset({"Coding", "CodeableConcept", "ContactDetail", "ContactPoint", "Extension"})

# (model, element) -> (datatype, repeats, required, choice group): regenerate with derive_shapes().
SHAPES: dict[str, dict[str, tuple[str, bool, bool, str | None]]] = {
    "CapabilityStatement": {
        "contact": ("ContactDetail", True, False, None),
        "copyright": ("markdown", False, False, None),
        "date": ("dateTime", False, True, None),
        "description": ("markdown", False, False, None),
        "document": ("CapabilityStatementDocument", True, False, None),
        "experimental": ("boolean", False, False, None),
        "extension": ("Extension", True, False, None),
        "fhirVersion": ("code", False, True, None),
        "format": ("code", True, True, None),
        "id": ("id", False, False, None),
        "implementation": ("CapabilityStatementImplementation", False, False, None),
        "implementationGuide": ("canonical", True, False, None),
        "implicitRules": ("uri", False, False, None),
        "imports": ("canonical", True, False, None),
        "instantiates": ("canonical", True, False, None),
        "jurisdiction": ("CodeableConcept", True, False, None),
        "kind": ("code", False, True, None),
        "language": ("code", False, False, None),
        "messaging": ("CapabilityStatementMessaging", True, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "name": ("string", False, False, None),
        "patchFormat": ("code", True, False, None),
        "publisher": ("string", False, False, None),
        "purpose": ("markdown", False, False, None),
        "rest": ("CapabilityStatementRest", True, False, None),
        "software": ("CapabilityStatementSoftware", False, False, None),
        "status": ("code", False, True, None),
        "title": ("string", False, False, None),
        "url": ("uri", False, False, None),
        "version": ("string", False, False, None),
    },
    "CapabilityStatementDocument": {
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "mode": ("code", False, True, None),
        "modifierExtension": ("Extension", True, False, None),
        "profile": ("canonical", False, True, None),
    },
    "CapabilityStatementImplementation": {
        "description": ("string", False, True, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "url": ("url", False, False, None),
    },
    "CapabilityStatementMessaging": {
        "documentation": ("markdown", False, False, None),
        "endpoint": ("CapabilityStatementMessagingEndpoint", True, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "supportedMessage": ("CapabilityStatementMessagingSupportedMessage", True, False, None),
    },
    "CapabilityStatementMessagingEndpoint": {
        "address": ("url", False, True, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "protocol": ("Coding", False, True, None),
    },
    "CapabilityStatementMessagingSupportedMessage": {
        "definition": ("canonical", False, True, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "mode": ("code", False, True, None),
        "modifierExtension": ("Extension", True, False, None),
    },
    "CapabilityStatementRest": {
        "compartment": ("canonical", True, False, None),
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "interaction": ("CapabilityStatementRestInteraction", True, False, None),
        "mode": ("code", False, True, None),
        "modifierExtension": ("Extension", True, False, None),
        "operation": ("CapabilityStatementRestResourceOperation", True, False, None),
        "resource": ("CapabilityStatementRestResource", True, False, None),
        "searchParam": ("CapabilityStatementRestResourceSearchParam", True, False, None),
        "security": ("CapabilityStatementRestSecurity", False, False, None),
    },
    "CapabilityStatementRestInteraction": {
        "code": ("code", False, True, None),
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
    },
    "CapabilityStatementRestResource": {
        "conditionalCreate": ("boolean", False, False, None),
        "conditionalDelete": ("code", False, False, None),
        "conditionalRead": ("code", False, False, None),
        "conditionalUpdate": ("boolean", False, False, None),
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "interaction": ("CapabilityStatementRestResourceInteraction", True, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "operation": ("CapabilityStatementRestResourceOperation", True, False, None),
        "profile": ("canonical", False, False, None),
        "readHistory": ("boolean", False, False, None),
        "referencePolicy": ("code", True, False, None),
        "searchInclude": ("string", True, False, None),
        "searchParam": ("CapabilityStatementRestResourceSearchParam", True, False, None),
        "searchRevInclude": ("string", True, False, None),
        "supportedProfile": ("canonical", True, False, None),
        "type": ("code", False, True, None),
        "updateCreate": ("boolean", False, False, None),
        "versioning": ("code", False, False, None),
    },
    "CapabilityStatementRestResourceInteraction": {
        "code": ("code", False, True, None),
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
    },
    "CapabilityStatementRestResourceOperation": {
        "definition": ("canonical", False, True, None),
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "name": ("string", False, True, None),
    },
    "CapabilityStatementRestResourceSearchParam": {
        "definition": ("canonical", False, False, None),
        "documentation": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "name": ("string", False, True, None),
        "type": ("code", False, True, None),
    },
    "CapabilityStatementRestSecurity": {
        "cors": ("boolean", False, False, None),
        "description": ("markdown", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "service": ("CodeableConcept", True, False, None),
    },
    "CapabilityStatementSoftware": {
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "modifierExtension": ("Extension", True, False, None),
        "name": ("string", False, True, None),
        "releaseDate": ("dateTime", False, False, None),
        "version": ("string", False, False, None),
    },
    "CodeableConcept": {
        "coding": ("Coding", True, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "text": ("string", False, False, None),
    },
    "Coding": {
        "code": ("code", False, False, None),
        "display": ("string", False, False, None),
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "system": ("uri", False, False, None),
        "userSelected": ("boolean", False, False, None),
        "version": ("string", False, False, None),
    },
    "ContactDetail": {
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "name": ("string", False, False, None),
        "telecom": ("ContactPoint", True, False, None),
    },
    "ContactPoint": {
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "system": ("code", False, False, None),
        "use": ("code", False, False, None),
        "value": ("string", False, False, None),
    },
    "Extension": {
        "extension": ("Extension", True, False, None),
        "id": ("string", False, False, None),
        "url": ("uri", False, True, None),
        "valueBoolean": ("boolean", False, False, "value"),
        "valueCanonical": ("canonical", False, False, "value"),
        "valueCode": ("code", False, False, "value"),
        "valueCodeableConcept": ("CodeableConcept", False, False, "value"),
        "valueCoding": ("Coding", False, False, "value"),
        "valueContactDetail": ("ContactDetail", False, False, "value"),
        "valueContactPoint": ("ContactPoint", False, False, "value"),
        "valueDateTime": ("dateTime", False, False, "value"),
        "valueId": ("id", False, False, "value"),
        "valueMarkdown": ("markdown", False, False, "value"),
        "valueString": ("string", False, False, "value"),
        "valueUri": ("uri", False, False, "value"),
        "valueUrl": ("url", False, False, "value"),
    },
}

_NON_SPACE = re.compile(r"\S")
_SURROGATE = re.compile("[\ud800-\udfff]")
_CODE = re.compile(r"[!-~]+(?: [!-~]+)*")  # the model's ^[^\s]+(\s[^\s]+)*$, ASCII only
_URI = re.compile(r"[!-~]+")  # printable ASCII without spaces: the model takes any text here
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# FHIR's dateTime as the model reads it without surprises: a year, a month, a day, or a full
# timestamp with seconds and a zone (no year 0000, no leap second); anything else goes to the model.
_DATETIME = re.compile(
    r"[1-9][0-9]{3}(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12][0-9]|3[01])"
    r"(?:T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"(?:Z|[+-](?:(?:0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)


def _text(value: Any) -> bool:
    """A string with a non-space character and no lone surrogate. (`isspace` and the pattern's `\\S`
    read the same Unicode table; an ASCII string holds no surrogate: ~10,000 calls per statement.)"""
    if type(value) is not str or not value or value.isspace():
        return False
    return value.isascii() or _SURROGATE.search(value) is None


def _datetime(value: Any) -> bool:
    if type(value) is not str or not _DATETIME.fullmatch(value):
        return False
    if len(value) < 10:  # a year or a month: the model keeps the text
        return True
    try:  # a real calendar day (the pattern allows 2023-02-30)
        dt.date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


_PRIMITIVE_CHECKS = {
    "string": _text,
    "markdown": _text,
    "code": lambda v: type(v) is str and _CODE.fullmatch(v) is not None,
    "uri": lambda v: type(v) is str and _URI.fullmatch(v) is not None,
    "canonical": lambda v: type(v) is str and _URI.fullmatch(v) is not None,
    "url": lambda v: type(v) is str and _URI.fullmatch(v) is not None,
    "id": lambda v: type(v) is str and _ID.fullmatch(v) is not None,
    "boolean": lambda v: type(v) is bool,
    "dateTime": _datetime,
}


def _value(value: Any, datatype: str) -> bool:
    check = _PRIMITIVE_CHECKS.get(datatype)
    if check is not None:
        return check(value)
    return _element(value, datatype)


def _element(obj: Any, model: str) -> bool:
    if type(obj) is not dict or not obj:
        return False
    shape = SHAPES[model]
    choices: set[str] = set()
    for key, value in obj.items():
        field = shape.get(key)
        if field is None:
            if model == "CapabilityStatement" and key == "resourceType" and value == "CapabilityStatement":
                continue
            return False
        datatype, repeats, _required, choice = field
        if choice is not None:
            if choice in choices:
                return False
            choices.add(choice)
        if repeats:
            if type(value) is not list or not value:
                return False
            for item in value:
                if not _value(item, datatype):
                    return False
        elif not _value(value, datatype):
            return False
    for key, (_datatype, _repeats, required, _choice) in shape.items():
        if required and key not in obj:
            return False
    # An extension carries a value or extensions, never both nor neither (FHIR ext-1).
    return model != "Extension" or (bool(choices) != ("extension" in obj))


def certainly_valid(doc: Any) -> bool:
    """True when fhir.resources' R4B CapabilityStatement model certainly accepts `doc`; False when
    only the model can tell."""
    try:
        return _element(doc, "CapabilityStatement")
    except RecursionError:  # pragma: no cover - parse_json already bounds the depth
        return False


def derive_shapes() -> dict[str, dict[str, tuple[str, bool, bool, str | None]]]:
    """`SHAPES` as the installed fhir.resources R4B models define it (imports them: for the test)."""
    import types
    import typing

    from fhir.resources.R4B import get_fhir_model_class

    def unwrap(annotation: Any) -> tuple[Any, bool]:
        repeats = False
        while True:
            origin = typing.get_origin(annotation)
            if origin in (typing.Union, types.UnionType):
                args = [a for a in typing.get_args(annotation) if a is not type(None)]
                if len(args) != 1:
                    return None, repeats
                annotation = args[0]
            elif origin is list and not repeats:
                repeats, annotation = True, typing.get_args(annotation)[0]
            else:
                return annotation, repeats

    def kind(tp: Any) -> tuple[str, bool] | None:
        if tp is bool:
            return "boolean", False
        if typing.get_origin(tp) is typing.Annotated:
            for meta in typing.get_args(tp)[1:]:
                if name := getattr(meta, "__visit_name__", None):
                    return str(name), False
            return None
        name = str(getattr(tp, "__name__", None) or getattr(tp, "__forward_arg__", None) or tp).split(".")[-1]
        return (name[: -len("Type")], True) if name.endswith("Type") else None

    shapes: dict[str, dict[str, tuple[str, bool, bool, str | None]]] = {}
    todo = ["CapabilityStatement"]
    while todo:
        model = todo.pop()
        if model in shapes:
            continue
        fields: dict[str, tuple[str, bool, bool, str | None]] = {}
        for name, info in get_fhir_model_class(model).model_fields.items():
            if name == "fhir_comments" or name.endswith("__ext"):
                continue
            inner, repeats = unwrap(info.annotation)
            found = kind(inner) if inner is not None else None
            if found is None:
                continue
            datatype, is_model = found
            if is_model:
                own = model.startswith("CapabilityStatement") and datatype.startswith("CapabilityStatement")
                if not own and datatype not in DATATYPES:
                    continue
                todo.append(datatype)
            elif datatype not in PRIMITIVES:
                continue
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            required = bool(extra.get("element_required")) or info.is_required()
            choice = extra.get("one_of_many")
            fields[str(info.alias or name)] = (datatype, repeats, required, str(choice) if choice else None)
        shapes[model] = dict(sorted(fields.items()))
    return dict(sorted(shapes.items()))
