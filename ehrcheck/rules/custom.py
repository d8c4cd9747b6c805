"""Consultants' own rule packs (`--pack FILE`): the built-in pack schema, loaded from the user's file.

A custom pack is data only: its checks are the operator set or the named functions that already
exist in `ehrcheck.rules.checks`; no user Python is ever imported. Every problem is reported with
the file, the line where YAML knows it, the rule and the field, and becomes exit code 2.

Rule ids must not collide with built-in ones now or later, so the built-in prefixes (INT, PRT,
CRT, HIP) are reserved: a custom pack uses its own three letters (`ACM-001`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import read_user_yaml
from ehrcheck.rules.locate import args_field, args_location, node_line
from ehrcheck.rules.locate import where as _at
from ehrcheck.rules.schema import ID_PREFIX, REGEX_TOTAL_STEPS, FnCheck, Pack, builtin_packs, check_regexes, regex_steps

MAX_ERRORS = 8


def _other_branch(data: Any, loc: list[Any], err: Any) -> bool:
    """True for an error from the FnCheck reading of an operator check (`fn` missing, `op`
    not permitted): the operator check's own error says what is wrong."""
    if len(loc) < 4 or loc[0] != "rules" or loc[2] != "check" or not isinstance(loc[1], int):
        return False
    try:
        check = data["rules"][loc[1]]["check"]
    except (KeyError, IndexError, TypeError):
        return False
    if not isinstance(check, dict) or "fn" in check:
        return False
    return err.get("type") in ("missing", "extra_forbidden") and len(loc) == 4


def _validation_messages(path: Path, data: Any, root: yaml.Node | None, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors()[:MAX_ERRORS]:
        # Union members (op check | fn check) add their class names, or the validator's
        # `function-after[_shape(), OpCheck]`, to the location: drop them.
        loc = [p for p in err.get("loc", ()) if not (isinstance(p, str) and (p[:1].isupper() or "[" in p))]
        if _other_branch(data, loc, err):
            continue
        field = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            try:
                rid = data["rules"][loc[1]].get("id") or f"#{loc[1] + 1}"
            except (KeyError, IndexError, TypeError, AttributeError):
                rid = f"#{loc[1] + 1}"
            field = f"rule {rid}: " + (".".join(str(p) for p in loc[2:]) or "(the rule)")
        lines.append(f"{_at(path, node_line(root, loc))}: {field}: {err.get('msg')}")
    if len(exc.errors()) > MAX_ERRORS:
        lines.append(f"{path}: … and {len(exc.errors()) - MAX_ERRORS} more problems")
    return lines


def _rule_line(root: yaml.Node | None, index: int, field: str | None = None) -> int | None:
    return node_line(root, ["rules", index] + ([field] if field else []))


def load_custom_pack(path: Path, spent: int = 0) -> Pack:
    """Read and validate one pack file against the built-in schema (not yet cross-checked).
    `spent`: the regex steps of the packs loaded before it in the same run (REGEX_TOTAL_STEPS)."""
    text, data = read_user_yaml(path, "--pack")
    root = yaml.compose(text)  # parsed fine above: the node tree only gives errors their lines
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: a rule pack is a YAML mapping with pack, title, description and rules (see docs/packs.md)")
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        raise UserInputError("\n".join(_validation_messages(path, data, root, exc))) from None
    problems = _own_problems(path, pack, root) or _regex_budget(path, pack, root, spent)
    if problems:
        raise UserInputError("\n".join(problems))
    for rule in pack.rules:
        rule.pack = pack.pack
    return pack


def regex_cost(pack: Pack) -> list[int]:
    """Each rule's regex steps (the cost model's worst case), check and applies_if together."""
    return [sum(regex_steps(p) for c in (r.check, r.applies_if) for p in check_regexes(c)) for r in pack.rules]


def _regex_budget(path: Path, pack: Pack, root: yaml.Node | None, spent: int) -> list[str]:
    """Each regex is bounded alone, but a pack of hundreds is not (999 rules: ~25 minutes of CPU a
    score, round 10): the rule that takes the run's total past REGEX_TOTAL_STEPS is refused."""
    for i, steps in enumerate(regex_cost(pack)):
        spent += steps
        if spent > REGEX_TOTAL_STEPS:
            return [
                f"{_at(path, _rule_line(root, i, 'check'))}: rule {pack.rules[i].id}: the regex checks of the packs "
                "together can take minutes on server text; anchor them with ^, or use fewer regex checks"
            ]
    return []


def _own_problems(path: Path, pack: Pack, root: yaml.Node | None) -> list[str]:
    """What the schema alone cannot see: reserved prefixes, unknown check functions, repeats."""
    from ehrcheck.rules.checks import CHECKS

    problems = []
    reserved: dict[str, str] = {}
    for name, prefix in ID_PREFIX.items():
        reserved.setdefault(prefix, name)  # HIP- is hipaa's, though hipaa-proposed shares it
    builtin_ids = {r.id: p.pack for p in builtin_packs() for r in p.rules}
    seen: set[str] = set()
    if not pack.rules:
        problems.append(f"{_at(path, node_line(root, ['rules']))}: rules: a pack needs at least one rule")
    for i, rule in enumerate(pack.rules):
        where = _at(path, _rule_line(root, i, "id"))
        if rule.id in builtin_ids:
            problems.append(
                f"{where}: rule {rule.id}: that id belongs to the built-in {builtin_ids[rule.id]} pack; give your rule its own id"
            )
        elif rule.id[:3] in reserved:
            problems.append(
                f"{where}: rule {rule.id}: the {rule.id[:3]}- prefix is reserved for the built-in "
                f"{reserved[rule.id[:3]]} pack; use a prefix of your own, e.g. ACM-{rule.id[4:]}"
            )
        if rule.id in seen:
            problems.append(f"{where}: rule {rule.id}: appears twice in this pack")
        seen.add(rule.id)
        if isinstance(rule.check, FnCheck) and rule.check.fn not in CHECKS:
            problems.append(
                f"{_at(path, _rule_line(root, i, 'check'))}: rule {rule.id}: check: unknown function "
                f"'{rule.check.fn}'; custom packs may use the operators or these functions: {', '.join(sorted(CHECKS))}"
            )
        elif isinstance(rule.check, FnCheck):
            for loc, message in rule.check.args_problems()[:MAX_ERRORS]:
                line = node_line(root, args_location(i, loc))
                problems.append(f"{_at(path, line)}: rule {rule.id}: {args_field(loc)}: {message}")
    return problems


def load_custom_packs(paths: Iterable[Path]) -> tuple[Pack, ...]:
    """Every `--pack FILE`, validated alone and against each other and the built-in packs."""
    packs: list[Pack] = []
    builtin_names = {p.pack for p in builtin_packs()}
    owner: dict[str, Path] = {}
    names: dict[str, Path] = {}
    spent = 0
    for path in paths:
        pack = load_custom_pack(Path(path), spent)
        spent += sum(regex_cost(pack))
        if pack.pack in builtin_names:
            raise UserInputError(f"{path}: pack: '{pack.pack}' is the name of a built-in pack; name yours differently")
        if pack.pack in names:
            raise UserInputError(f"{path}: pack: '{pack.pack}' is also the name of the pack in {names[pack.pack]}")
        names[pack.pack] = Path(path)
        for rule in pack.rules:
            if rule.id in owner:
                raise UserInputError(f"{path}: rule {rule.id}: also defined in {owner[rule.id]}; rule ids must be unique")
            owner[rule.id] = Path(path)
        packs.append(pack)
    return tuple(packs)
