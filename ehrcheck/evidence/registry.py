"""The registry: each probe id and the model of the `data` it records.

Probe data is stored in the evidence file as plain JSON (what the probe wrote, key for key); it is
read through these models once per document (`typed_data`), so a malformed field is found when the
evidence is loaded, not as a `KeyError` inside a check.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import Any

from pydantic import ValidationError

from ehrcheck.evidence.base import Facts
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.models import Evidence

# Each probe's data model, by module (in ehrcheck.evidence) and class: a module is imported the first
# time evidence of its area is read, so scoring an anonymous audit's evidence never builds the ~50
# models of the authenticated and launch probes.
_WHERE: dict[ProbeId, tuple[str, str]] = {
    ProbeId.capability: ("anonymous", "CapabilityData"),
    ProbeId.smart: ("anonymous", "SmartData"),
    ProbeId.openid: ("anonymous", "OpenIdData"),
    ProbeId.access: ("anonymous", "AccessData"),
    ProbeId.transport: ("anonymous", "TransportData"),
    ProbeId.availability: ("anonymous", "AvailabilityData"),
    ProbeId.chpl: ("certification", "ChplData"),
    ProbeId.endpoints: ("certification", "EndpointsData"),
    ProbeId.token: ("authenticated", "TokenData"),
    ProbeId.scopes: ("authenticated", "ScopesData"),
    ProbeId.uscore: ("authenticated", "UsCoreData"),
    ProbeId.bulk: ("authenticated", "BulkData"),
    ProbeId.launch: ("launch", "LaunchData"),
}


class _Models(Mapping[ProbeId, type[Facts]]):
    """ProbeId -> its data model, imported on first use."""

    def __getitem__(self, probe_id: ProbeId) -> type[Facts]:
        module, name = _WHERE[probe_id]
        model: type[Facts] = getattr(import_module(f"ehrcheck.evidence.{module}"), name)
        return model

    def __iter__(self) -> Iterator[ProbeId]:
        return iter(_WHERE)

    def __len__(self) -> int:
        return len(_WHERE)


DATA_MODELS: Mapping[ProbeId, type[Facts]] = _Models()


class EvidenceDataError(ValueError):
    """A probe's data does not match its model: `where` is the dotted path from the document's root."""

    def __init__(self, where: str, message: str, more: int = 0) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message, self.more = where, message, more


def parse_data(probe_id: str, data: dict[str, Any]) -> Facts:
    """One probe's data as its model; EvidenceDataError names the first bad field."""
    try:
        model = DATA_MODELS[ProbeId(probe_id)]
    except ValueError:
        known = ", ".join(ProbeId)
        raise EvidenceDataError(f"probes.{probe_id}", f"unknown probe (known: {known})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        places = {_in_data(data, e.get("loc", ())): e.get("msg", "invalid") for e in exc.errors()}
        loc, message = next(iter(places.items()))
        where = ".".join(["probes", probe_id, "data", *(str(p) for p in loc)])
        raise EvidenceDataError(where, message, len(places) - 1) from None


def _in_data(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of an error location that is in the document: pydantic appends the member type
    of a union (`expires_in.int`), which is no field of the file. (Every field is optional, so a
    key the document lacks is never the problem.)"""
    kept = []
    for part in loc:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            break
        kept.append(part)
    return tuple(kept)


def typed_data(evidence: Evidence) -> dict[ProbeId, Facts]:
    """Every probe's data as its model, parsed once per document and kept with it (a scan scores
    thousands of documents, and a CapabilityStatement's facts can be large)."""
    cached = evidence._typed_data
    if cached is None:
        parsed = {pid: parse_data(pid, attempt.data) for pid, attempt in evidence.probes.items()}
        cached = {ProbeId(pid): data for pid, data in parsed.items()}
        evidence._typed_data = cached
    return cached


@functools.cache
def schema_words() -> frozenset[str]:
    """Every field name of the evidence document's models (Evidence, its attempts and exchanges,
    each probe's data, recursively) and every probe id: the keys that are ehrcheck's structure,
    never a server's text. The secret scrubber keeps them as they are, so a server that issues
    a token spelled like one (`transport`) cannot make the evidence unreadable."""
    import typing

    from pydantic import BaseModel

    words: set[str] = {str(p) for p in ProbeId}
    seen: set[type] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                words.add(field.alias or name)
                walk(field.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(Evidence)
    for model in DATA_MODELS.values():
        walk(model)
    return frozenset(words)
