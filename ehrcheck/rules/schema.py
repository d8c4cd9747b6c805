"""Rule packs are YAML data; this module is their schema and loader.

A pack file holds a title, a description and a list of rules. A rule's check is either one of a
small fixed set of operators over an evidence path, or the name of a Python function in
`ehrcheck.rules.checks`. Loading validates everything and names the file and rule on error.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from ehrcheck.evidence.ids import EVIDENCE_SOURCES
from ehrcheck.models import Reference, Severity

PACK_ORDER = ("interoperability", "portal", "certification", "hipaa", "hipaa-proposed")
# hipaa-proposed holds HIPAA rules that only the January 2025 Security Rule NPRM would make law;
# they keep their HIP- ids (ids are never reused), so two packs share the prefix.
ID_PREFIX = {"interoperability": "INT", "portal": "PRT", "certification": "CRT", "hipaa": "HIP", "hipaa-proposed": "HIP"}
RULE_ID = re.compile(r"^[A-Z]{3}-\d{3}$", re.ASCII)

Op = Literal[
    "exists",
    "truthy",
    "equals",
    "not_equals",
    "in",
    "not_in",
    "includes",
    "excludes",
    "regex",
    "gte",
    "lte",
]


# A pack's `regex` runs over server text, with Python's backtracking engine and no timeout: a
# pattern such as `^(a+)+$` takes exponential time on a 30-character string, so a hostile pack
# could hang every audit. Patterns are refused when a repetition holds another repetition or an
# alternation (the exponential cases), or has more than two unbounded repetitions, and the text
# matched is at most REGEX_SUBJECT_CHARS long. The polynomial cases are bounded by a cost model:
# a search tries every start (one, when the pattern starts with `^`) and, from each, every
# length of every repetition in turn, so its worst case is the product of those counts. Two
# unbounded repetitions in an unanchored search (`\w*\w*!`) are 10,000³ steps, some ten minutes
# of CPU on 10,000 characters of server text (round 7); so are three `{0,100}` in a row.
REGEX_SUBJECT_CHARS = 10_000
_UNBOUNDED = 100  # a repetition allowing more than this many is counted as unbounded
REGEX_MAX_STEPS = 300_000_000  # the model's worst case: under a second of the engine's time
# A step is one turn of the engine's single-character loop (`a*`: ~1 ns). A repetition of anything
# longer (`(?:ab)*`, a capturing `(a)*`) runs its general loop, measured at 2-17 ns a turn: each
# of its turns counts as this many steps.
GENERAL_LOOP = 20
# Every rule under REGEX_MAX_STEPS still leaves a pack of 999 of them at ~25 minutes a score
# (round 10): the steps of all regex checks of all packs in one run are bounded together, ~3 s.
REGEX_TOTAL_STEPS = 1_000_000_000


def _search_steps(parsed: Any) -> int:
    """The cost model's worst case for a search with `parsed` over REGEX_SUBJECT_CHARS characters:
    the starts tried (one when anchored with ^) times, per start, the product of the lengths each
    repetition may try. A literal or class right after a repetition that cannot match what the
    repetition matches (`\\d+` then `.`) lets that repetition end in one place only, so what
    follows costs in addition, not in product: `v\\d+\\.\\d+` is 2 × 10,000 per start, `\\w*\\w*!`
    10,000²."""
    from re import _compiler as sre_compile  # type: ignore[attr-defined]
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    n = REGEX_SUBJECT_CHARS
    repeats = (c.MAX_REPEAT, c.MIN_REPEAT)
    flags = parsed.state.flags

    def cost(items: Any) -> int:
        total = 1
        for op, arg in items:
            if op in repeats:
                loop = 1 if one_char(arg[2]) is not None else GENERAL_LOOP
                total *= (min(arg[1], n) - min(arg[0], n) + 1) * cost(arg[2]) * loop
            elif op == c.SUBPATTERN:
                total *= cost(arg[3])
            elif op in (c.ASSERT, c.ASSERT_NOT):
                total *= cost(arg[1])
            elif op == c.ATOMIC_GROUP or op == c.POSSESSIVE_REPEAT:  # never give back: tried once
                total *= 1
            elif op == c.BRANCH:
                total *= sum(cost(b) for b in arg[1])
            elif op == c.GROUPREF_EXISTS:
                total *= sum(cost(b) for b in arg[1:] if b)
            elif op == c.GROUPREF:  # comparing a captured text costs its length
                total *= n
        return total

    def one_char(items: Any) -> Any:
        single = len(items) == 1 and items[0][0] in (c.LITERAL, c.NOT_LITERAL, c.IN, c.ANY)
        return sre_compile.compile(sre_parse.SubPattern(parsed.state, data=list(items)), flags) if single else None

    def disjoint(body: Any, item: Any) -> bool:
        barrier = one_char([item])
        if body is None or barrier is None:
            return False
        if item[0] == c.LITERAL:
            return body.fullmatch(chr(item[1])) is None
        return not any(body.fullmatch(ch) and barrier.fullmatch(ch) for ch in map(chr, range(0x10000)))

    data = list(parsed.data)
    anchored = bool(data) and data[0] == (c.AT, c.AT_BEGINNING_STRING)
    if data and data[0] == (c.AT, c.AT_BEGINNING):
        anchored = not flags & re.MULTILINE
    total, segment, body = 0, 1, None
    for item in data:
        if body is not None and disjoint(body, item):
            total, segment = total + segment, 1
        segment *= cost([item])
        body = one_char(item[1][2]) if item[0] in repeats else None
    return (1 if anchored else n) * (total + segment)


def regex_steps(pattern: str) -> int:
    """The cost model's worst case for `pattern` (one that passed `regex_problem`)."""
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    return _search_steps(sre_parse.parse(pattern))


def check_regexes(check: OpCheck | FnCheck | None) -> list[str]:
    """The patterns of every `regex` operator in `check`, nested `all`/`any` included."""
    if not isinstance(check, OpCheck):
        return []
    own = [str(check.value)] if check.op == "regex" else []
    return own + [p for sub in (check.all or []) + (check.any or []) for p in check_regexes(sub)]


def regex_problem(pattern: object) -> str | None:
    """Why `pattern` is not accepted for a `regex` check, or None."""
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]

    if not isinstance(pattern, str):
        return "a regex check's value is a string (a regular expression)"
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, OverflowError, RecursionError) as exc:  # `a{4294967296}` overflows the parser
        return f"not a valid regular expression: {exc}"
    repeats = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT)
    unbounded = 0

    def walk(items: Any, inside_repeat: bool) -> str | None:
        nonlocal unbounded
        for op, arg in items:
            if op in repeats:
                low, high, sub = arg
                # `(a?){30}a{30}` is the classic exponential case: an optional (low != high) inside
                # a repetition is nesting too, though it repeats at most once (round 12).
                if inside_repeat and (high > 1 or low != high):
                    return "a repetition inside a repetition can take exponential time on server text; rewrite it without nesting"
                if high > _UNBOUNDED:
                    unbounded += 1
                found = walk(sub, inside_repeat or high > 1)
            elif op == sre_constants.BRANCH:
                if inside_repeat:
                    return "an alternation inside a repetition can take exponential time on server text; use a character class or rewrite it"
                found = next((p for p in (walk(b, inside_repeat) for b in arg[1]) if p), None)
            elif op == sre_constants.SUBPATTERN:
                found = walk(arg[3], inside_repeat)
            elif (
                op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT, sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS)
                and inside_repeat
            ):
                # Each turns the repetition into the engine's general, slow loop, which the cost
                # model does not price: `(?:(?<=a)a)*b` took 1.4 s on 10,000 characters (round 10).
                return "a lookaround or backreference inside a repetition can take seconds on server text; rewrite it without one"
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                found = walk(arg[1], inside_repeat)
            elif op == sre_constants.GROUPREF_EXISTS:
                found = next((p for p in (walk(b, inside_repeat) for b in arg[1:] if b) if p), None)
            elif op == sre_constants.ATOMIC_GROUP:
                found = walk(arg, inside_repeat)
            else:
                found = None
            if found:
                return found
        return None

    found = walk(parsed, False)
    if found:
        return found
    if unbounded > 2:
        return "more than two unbounded repetitions (*, +, {n,}) can take minutes on server text; anchor or shorten it"
    if _search_steps(parsed) > REGEX_MAX_STEPS:
        return (
            "its repetitions together can take minutes on server text (two of any length, as in "
            "`.*a.*` or `\\w*\\w*`, or several long {m,n} ones in a row); anchor it with ^, drop a "
            "leading or trailing .* (a search needs none), or bound the repetitions"
        )
    return None


class OpCheck(BaseModel):
    """`path` OP `value`: one assertion over evidence. `all`/`any` nest one level of these."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    op: Op | None = None
    value: Any = None
    all: list[OpCheck] | None = None
    any: list[OpCheck] | None = None

    @model_validator(mode="after")
    def _shape(self) -> OpCheck:
        combos = [self.all is not None, self.any is not None, self.op is not None]
        if sum(combos) != 1:
            raise ValueError("a check needs exactly one of: op (with path), all, any")
        if self.op is not None and not self.path:
            raise ValueError(f"operator '{self.op}' needs a path")
        if self.op == "regex" and (problem := regex_problem(self.value)):
            raise ValueError(problem)
        return self


class FnCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fn: str
    args: dict[str, Any] = Field(default_factory=dict)
    # `args` as the check's own model, validated when the pack is loaded (`args_problems`).
    _parsed_args: Any = PrivateAttr(default=None)

    def args_problems(self) -> list[tuple[tuple[Any, ...], str]]:
        """What is wrong with `args` for this check, as (location under args, message); empty when
        they fit, and then the parsed arguments are kept for `parsed_args`. `fn` must be a check."""
        from ehrcheck.rules.checks import validate_args

        self._parsed_args, problems = validate_args(self.fn, self.args)
        return problems

    def parsed_args(self) -> Any:
        """The arguments as the check's model (validated when the pack was loaded)."""
        if self._parsed_args is None:
            problems = self.args_problems()
            if problems:  # a Rule built in code, never through a pack loader
                loc, message = problems[0]
                raise ValueError(f"check {self.fn}: args.{'.'.join(map(str, loc))}: {message}")
        return self._parsed_args


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    severity: Severity
    weight: float = Field(gt=0, le=100)
    needs: list[str] = Field(min_length=1)
    check: OpCheck | FnCheck
    applies_if: OpCheck | None = None
    fail_status: Literal["fail", "warn"] = "fail"
    pass_message: str
    fail_message: str
    references: list[Reference] = Field(min_length=1)
    remediation: str
    vendor_question: str
    # What the rule decides in the verdict (engine/verdict.py): `shares` whether the chart is
    # shared through a standard API, `safe` a safety blocker, `certified` a (g)(10) certification gate.
    gate: Literal["shares", "safe", "certified"] | None = None
    tags: list[str] = Field(default_factory=list)
    # The ONC Inferno test-kit tests this rule corresponds to ("SMART kit: well_known_endpoint_test"),
    # so a consultant can map a finding to the certification test procedure; [] says none checks it.
    onc_tests: list[str] | None = None
    # The vendor claim this rule judges (a `claims.` path). When the vendor does not make it, the
    # rule is `unclaimed`; when it is made but the other evidence is missing, it is unverified.
    claim: str | None = None
    unclaimed: Literal["not_observed", "not_applicable"] = "not_observed"
    # The period the requirement is in force (effective on, expired on); outside it, not applicable.
    effective: dt.date | None = None
    expires: dt.date | None = None
    pack: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not RULE_ID.match(v):
            raise ValueError(f"rule id '{v}' must look like INT-001")
        return v

    @field_validator("needs")
    @classmethod
    def _needs(cls, v: list[str]) -> list[str]:
        unknown = [n for n in v if n not in EVIDENCE_SOURCES]
        if unknown:
            raise ValueError(f"unknown evidence source(s) {unknown}; known: {list(EVIDENCE_SOURCES)}")
        return v

    @model_validator(mode="after")
    def _claim_and_dates(self) -> Rule:
        if self.claim is not None:
            if not self.claim.startswith("claims.") or "claims" not in self.needs:
                raise ValueError(f"claim '{self.claim}' must be a claims.* path, and needs must include claims")
        if self.effective and self.expires and self.effective >= self.expires:
            raise ValueError(f"effective {self.effective} must be before expires {self.expires}")
        return self


class Pack(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pack: str
    title: str
    description: str
    # A pack of proposed rules (not in force): its findings are reported, never scored or gated.
    proposed: bool = False
    rules: list[Rule]


class PackError(Exception):
    """A pack file is malformed; the message names the file and the place."""


def _packs_dir() -> Path:
    return Path(str(resources.files("ehrcheck.rules"))) / "packs"


def _format_errors(path: Path, data: Any, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors()[:8]:
        loc = list(err.get("loc", ()))
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            try:
                where = f"rule {data['rules'][loc[1]].get('id', '#' + str(loc[1]))}: " + ".".join(str(p) for p in loc[2:])
            except (KeyError, IndexError, TypeError, AttributeError):
                pass
        lines.append(f"{path}: {where}: {err.get('msg')}")
    return "\n".join(lines)


def pack_loader() -> type:
    """libyaml's loader when PyYAML was built with it: the pure-Python one spent ~150 ms of every
    start-up parsing the built-in packs (130 KB). Same documents; a test checks they load alike.
    (yaml is imported here, not at the top: a run that finds the packs prebuilt never needs it.)"""
    import yaml

    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_pack_file(path: Path) -> Pack:
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=pack_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise PackError(f"{path}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise PackError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        raise PackError(_format_errors(path, data, exc)) from None
    for rule in pack.rules:
        rule.pack = pack.pack
    return pack


@lru_cache(maxsize=1)
def builtin_packs() -> tuple[Pack, ...]:
    """The built-in packs, validated, in report order. Cached in memory (they are immutable data)
    and, while their sources are unchanged, between runs (rules/prebuilt.py)."""
    from ehrcheck.rules.prebuilt import load_or_build

    return load_or_build(_load_builtin_packs, [_packs_dir() / f"{name}.yaml" for name in PACK_ORDER], Pack)


def _load_builtin_packs() -> tuple[Pack, ...]:
    from ehrcheck.rules.checks import CHECKS  # imported here so a bad name fails at load, not mid-scoring

    packs = []
    seen: dict[str, str] = {}
    for name in PACK_ORDER:
        pack = load_pack_file(_packs_dir() / f"{name}.yaml")
        for rule in pack.rules:
            if rule.id in seen:
                raise PackError(f"rule id {rule.id} appears in both {seen[rule.id]} and {name}")
            seen[rule.id] = name
            if not rule.id.startswith(ID_PREFIX[name] + "-"):
                raise PackError(f"{name}.yaml: rule {rule.id} must start with {ID_PREFIX[name]}-")
            if isinstance(rule.check, FnCheck) and rule.check.fn not in CHECKS:
                raise PackError(f"{name}.yaml: rule {rule.id}: unknown check function '{rule.check.fn}'")
        check_args(_packs_dir() / f"{name}.yaml", pack)
        packs.append(pack)
    return tuple(packs)


def check_args(path: Path, pack: Pack) -> None:
    """Validate every rule's check arguments against its check's model; PackError with file:line."""
    from ehrcheck.rules.locate import args_field, args_location, node_line, where

    problems = []
    root = None
    for i, rule in enumerate(pack.rules):
        if not isinstance(rule.check, FnCheck):
            continue
        for loc, message in rule.check.args_problems():
            if root is None:  # only on error: the node tree is for line numbers
                import yaml

                root = yaml.compose(path.read_text(encoding="utf-8"))
            line = node_line(root, args_location(i, loc))
            problems.append(f"{where(path, line)}: rule {rule.id}: {args_field(loc)}: {message}")
    if problems:
        raise PackError("\n".join(problems))


def all_rules() -> list[Rule]:
    return [rule for pack in builtin_packs() for rule in pack.rules]


def find_rule(rule_id: str) -> Rule | None:
    wanted = rule_id.strip().upper()
    return next((r for r in all_rules() if r.id == wanted), None)
