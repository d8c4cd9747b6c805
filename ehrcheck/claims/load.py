"""Read and validate a claims file. Every problem is reported as `file:line:col: field: what is
wrong; fix`, all of them at once, so a vendor can correct the questionnaire in one pass.

YAML is parsed twice: once into data (with dates left as text, so an impossible date such as
2026-02-30 becomes a located validation error instead of a crash), and once into nodes, whose marks
give the line of every key and value.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ehrcheck.claims.schema import CLAIMS_VERSION, SECTIONS, Claims, field_info
from ehrcheck.files.limits import without_lone_surrogates
from ehrcheck.files.yaml_values import BadValue, UserLoader, bad_value_problem

MAX_ERRORS = 20


class _Loader(UserLoader):
    """The users' files loader without the timestamp resolver: dates stay strings until the
    schema reads them."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class HugeNumber(str):
    """A YAML integer longer than Python's int() accepts (INT_DIGITS): kept as its text, so the
    rest of the file still parses and the number is reported where it stands."""


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | HugeNumber:
    from ehrcheck.files.limits import INT_DIGITS

    text = str(loader.construct_scalar(node))
    if len(text.replace("_", "").lstrip("+-")) > INT_DIGITS:
        return HugeNumber(text)
    return loader.construct_yaml_int(node)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _huge_numbers(data: Any, marks: Marks) -> list[ClaimsProblem]:
    """One located problem per HugeNumber in `data` (iterative; depth is bounded before parsing)."""
    from ehrcheck.files.limits import INT_DIGITS

    found = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, HugeNumber):
            line, col = _locate(loc, marks, "")
            message = f"a number with more than {INT_DIGITS} digits; no claims answer needs one"
            found.append(ClaimsProblem(line, col, ".".join(str(p) for p in loc), message))
        elif isinstance(value, dict):
            stack.extend(((*loc, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(value))
    return found


@dataclass(frozen=True)
class ClaimsProblem:
    line: int | None
    column: int | None
    field: str
    message: str

    def render(self, path: Path | str) -> str:
        where = f"{path}:{self.line}:{self.column}" if self.line else f"{path}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class ClaimsError(Exception):
    """A claims file could not be read or is invalid; `problems` are located, in file order."""

    def __init__(self, path: Path | str, problems: list[ClaimsProblem]):
        self.path = path
        self.problems = problems
        shown = problems[:MAX_ERRORS]
        lines = [p.render(path) for p in shown]
        if len(problems) > len(shown):
            lines.append(f"{path}: … and {len(problems) - len(shown)} more problems")
        if len(problems) > 1:
            lines.insert(0, f"{path}: {len(problems)} problems in the claims file:")
        super().__init__("\n".join(lines))


Marks = dict[tuple[Any, ...], tuple[yaml.Mark, yaml.Mark]]  # path -> (key mark, value mark)


def _walk(node: yaml.Node, path: tuple[Any, ...], marks: Marks, problems: list[ClaimsProblem]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key in seen:
                problems.append(
                    ClaimsProblem(
                        key_node.start_mark.line + 1,
                        key_node.start_mark.column + 1,
                        ".".join(str(p) for p in (*path, key)),
                        f"given twice (first on line {seen[key]}); keep one answer",
                    )
                )
                continue
            seen[key] = key_node.start_mark.line + 1
            marks[(*path, key)] = (key_node.start_mark, value_node.start_mark)
            _walk(value_node, (*path, key), marks, problems)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            marks[(*path, i)] = (item.start_mark, item.start_mark)
            _walk(item, (*path, i), marks, problems)


def _yaml_problem(exc: yaml.YAMLError) -> ClaimsProblem:
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, BadValue):  # `vendor: !!bool text`: the value, not the indentation, is wrong
        return ClaimsProblem(exc.mark.line + 1, exc.mark.column + 1, "", f"not valid YAML: {bad_value_problem(exc, quote=True)}")
    problem = getattr(exc, "problem", None) or str(exc)
    return ClaimsProblem(
        mark.line + 1 if mark else None,
        mark.column + 1 if mark else None,
        "",
        f"not valid YAML: {problem}; check the indentation and that lists and quotes are closed",
    )


def parse(text: str) -> tuple[Any, Marks, list[ClaimsProblem]]:
    """YAML text -> (data, marks, duplicate-key problems). Raises yaml.YAMLError on bad syntax."""
    data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    node = yaml.compose(text, Loader=_Loader)
    marks: Marks = {}
    problems: list[ClaimsProblem] = []
    if node is not None:
        _walk(node, (), marks, problems)
    return data, marks, problems


def _field_hint(section: str | None, name: str | None) -> tuple[str, Any]:
    info = field_info(f"{section}.{name}") if section and name else None
    if info is None:
        return "", None
    extra = info.json_schema_extra or {}
    return str(extra.get("form", "")), extra.get("example")


def _example_text(example: Any) -> str:
    if isinstance(example, bool):
        return "yes" if example else "no"
    if isinstance(example, list):
        return "[" + ", ".join(str(e) for e in example) + "]"
    return str(example)


def _describe(err: ErrorDetails, loc: tuple[Any, ...], data: Any) -> str:
    """What is wrong and how to fix it, in the questionnaire's words."""
    kind = err.get("type", "")
    section = loc[0] if loc and isinstance(loc[0], str) else None
    name = loc[1] if len(loc) > 1 and isinstance(loc[1], str) else None
    form, example = _field_hint(section, name)
    fix = f"; write {form}" + (f", e.g. {_example_text(example)}" if example is not None else "") if form else ""
    value = err.get("input")
    if isinstance(value, bool):
        shown = "yes" if value else "no"
    elif isinstance(value, dict | list):
        shown = "a section" if isinstance(value, dict) else "a list"
    else:
        shown = repr(value)
    if kind == "extra_forbidden":
        unknown = str(loc[-1])
        if len(loc) == 1:
            known = list(SECTIONS) + ["claims_version"]
            where = "at the top level"
        else:
            model = SECTIONS.get(str(section))
            known = list(model.model_fields) if model else []
            where = f"in section '{section}'"
        close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else f"known fields: {', '.join(known)}"
        return f"unknown field '{unknown}' {where}; {hint}"
    if kind == "missing" and loc == ("claims_version",):
        return f"missing; add `claims_version: {CLAIMS_VERSION}` as the first line"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        if len(loc) == 0:
            return "a claims file must be a mapping of sections (product:, standards:, portal:, ...)"
        return f"expected a section of answers (indented 'field: answer' lines), got {shown}"
    if kind == "bool_type":
        return f"expected yes or no, got {shown}" + ("; write it without quotes" if isinstance(value, str) else "")
    if kind in ("int_type", "int_from_float", "int_parsing"):
        return f"expected a whole number, got {shown}{fix}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {shown}{fix}"
    if kind in ("string_type",):
        return f"expected text, got {shown}{fix}"
    if kind == "list_type":
        return f"expected a list, got {shown}; write it as [first, second] or as '- item' lines"
    if kind == "literal_error":
        expected = (err.get("ctx") or {}).get("expected", "")
        return f"{shown} is not one of the accepted answers; write one of {expected}"
    if kind == "greater_than_equal":
        return f"{shown} cannot be negative{fix}"
    if kind == "value_error":
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        return message
    return f"{err.get('msg')}{fix}"


def _locate(loc: tuple[Any, ...], marks: Marks, kind: str) -> tuple[int | None, int | None]:
    """The line/column for an error path: the key for unknown fields, else the value; for a
    missing or unlocatable path, the nearest located parent (or line 1)."""
    for cut in range(len(loc), 0, -1):
        mark = marks.get(tuple(loc[:cut]))
        if mark is not None:
            chosen = mark[0] if (kind == "extra_forbidden" and cut == len(loc)) else mark[1]
            return chosen.line + 1, chosen.column + 1
    return 1, 1


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union/validator tags from an error path, keeping keys and list indexes."""
    out: list[Any] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and not out and part == "claims_version":
            out.append(part)
        elif isinstance(part, str) and isinstance(cur, dict):
            out.append(part)  # an unknown or missing key: still part of the path
            cur = None
    return tuple(out)


def validate(data: Any, marks: Marks, today: dt.date | None = None) -> tuple[Claims | None, list[ClaimsProblem]]:
    """Validate parsed claims data; returns the model or the located problems (one per field)."""
    if data is None:
        return None, [
            ClaimsProblem(
                1, 1, "", f"the file is empty; start it with `claims_version: {CLAIMS_VERSION}` (see `ehrcheck claims init`)"
            )
        ]
    try:
        return Claims.model_validate(data, context={"today": today}), []
    except ValidationError as exc:
        problems: dict[tuple[Any, ...], ClaimsProblem] = {}
        for err in exc.errors():
            loc = _clean_loc(tuple(err.get("loc", ())), data)
            if loc in problems:
                continue  # a union reports one error per member; the first says it
            line, col = _locate(loc, marks, err.get("type", ""))
            problems[loc] = ClaimsProblem(line, col, ".".join(str(p) for p in loc), _describe(err, loc, data))
        return None, sorted(problems.values(), key=lambda p: (p.line or 0, p.column or 0))


def load_claims_text(text: str, path: Path | str, today: dt.date | None = None) -> Claims:
    try:
        data, marks, problems = parse(text)
    except yaml.YAMLError as exc:
        raise ClaimsError(path, [_yaml_problem(exc)]) from None
    except ValueError:  # a date or number YAML constructs and Python refuses (2026-02-30, 5,000 digits)
        from ehrcheck.files.limits import impossible_date_message

        found = re.match(r":(\d+): (.*)", impossible_date_message(text, ""))
        line, message = (int(found[1]), found[2]) if found else (None, "a date or number YAML reads is not one")
        raise ClaimsError(path, [ClaimsProblem(line, 1 if line else None, "", message)]) from None
    # A YAML "\ud800" escape is a lone surrogate, which pydantic cannot encode: a traceback in
    # `standards.fhir_version`. U+FFFD before validation, as every other users' file is read.
    data = without_lone_surrogates(data)
    model, invalid = validate(data, marks, today)
    huge = _huge_numbers(data, marks)
    invalid = huge + [p for p in invalid if p.field not in {h.field for h in huge}]  # ours says why
    problems = sorted(problems + invalid, key=lambda p: (p.line or 0, p.column or 0))
    if problems or model is None:
        raise ClaimsError(path, problems)
    return model


def load_claims_file(path: Path, today: dt.date | None = None, text: str | None = None) -> Claims:
    """Read and validate a claims file (or `text`, already read from it). Raises ClaimsError
    (located problems) or OSError."""
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ClaimsError(
            path, [ClaimsProblem(None, None, "", "not a UTF-8 text file; save the questionnaire as UTF-8 YAML")]
        ) from None
    return load_claims_text(text, path, today)


def answered(claims: Claims) -> tuple[int, int]:
    """(answered questions, all questions): how complete a questionnaire is."""
    total = sum(len(model.model_fields) for model in SECTIONS.values())
    data = claims.to_evidence()
    done = sum(len(v) for k, v in data.items() if isinstance(v, dict))
    return done, total


def example_claims(slug: str) -> dict[str, Any] | None:
    """The shipped example claims for a demo vendor (`examples/claims/<slug>.yaml`), as the
    evidence keeps them; None when that vendor has none. Dates are not checked against today:
    the examples are fixed data, and the rules judge them against the as-of date anyway."""
    from ehrcheck.resources import data_dir

    try:
        path = data_dir("claims") / f"{slug}.yaml"
    except FileNotFoundError:
        return None
    if not path.is_file():
        return None
    try:
        return load_claims_file(path).to_evidence()
    except ClaimsError as exc:  # shipped data: a packaging bug, reported like other demo data errors
        raise ValueError(str(exc)) from None
