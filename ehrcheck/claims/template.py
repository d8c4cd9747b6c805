"""The questionnaire `ehrcheck claims init` writes: every schema field, blank, with its question,
the form of the answer and an example as comments. Built from the schema, so it always validates."""

from __future__ import annotations

import textwrap
from typing import Any

from ehrcheck.claims.schema import CLAIMS_VERSION, SECTIONS

HEADER = f"""\
# ehrcheck vendor claims questionnaire (claims schema version {CLAIMS_VERSION})
#
# Dear vendor: please answer each question after its colon and send this file back. Leave an
# answer blank if you do not know; a blank is read as "not stated", never as yes or no.
# Answers are YAML: yes / no, numbers, dates as YYYY-MM-DD, lists as [a, b], text as is.
#
# ehrcheck checks every answer it can against your live FHIR endpoint (FHIR and US Core version,
# SMART App Launch, Bulk Data, TLS, login enforcement) and reports each one as verified,
# contradicted or unverified. Check the file before sending it back:  ehrcheck claims check FILE
"""


def _example(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=96 - len(indent))]


def questionnaire() -> str:
    lines = [HEADER, f"claims_version: {CLAIMS_VERSION}", ""]
    for name, model in SECTIONS.items():
        lines += _comment((model.__doc__ or name).strip().splitlines()[0], "")
        lines.append(f"{name}:")
        for field, info in model.model_fields.items():
            extra = info.json_schema_extra or {}
            form = str(extra.get("form", ""))  # type: ignore[union-attr]
            example = extra.get("example")  # type: ignore[union-attr]
            hint = f"({form}" + (f", e.g. {_example(example)}" if example is not None else "") + ")"
            lines += _comment(f"{info.description} {hint}", "  ")
            lines.append(f"  {field}:")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
