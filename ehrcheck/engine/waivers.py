"""Waivers: findings a team has accepted for a while, so CI stays green without hiding them.

A waiver file is YAML:

    waivers:
      - rule: HIP-012
        target: https://fhir.example.org/r4     # the audited base URL; shell-style globs allowed
        reason: Vendor fixes HSTS in the June release (ticket OPS-123)
        expires: 2026-09-30

A waiver marks matching fail/warn findings as waived: they stay in every report, marked, and no
longer trip `--fail-on`. Scores are facts about the server and do not change. An expired waiver
waives nothing and fails the run (exit 1), so accepted risk cannot outlive its review date
silently; a waiver that matched no failing finding is reported as unused (a warning).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehrcheck.errors import UserInputError
from ehrcheck.files.limits import read_user_yaml
from ehrcheck.models import RunResult, Status, WaiverNote

FIELDS = ("rule", "target", "reason", "expires")
WAIVABLE = (Status.fail, Status.warn)


@dataclass(frozen=True)
class Waiver:
    rule: str
    target: str
    reason: str
    expires: dt.date
    source: str  # "file:line", for messages

    def covers(self, rule_id: str, base_url: str) -> bool:
        return self.rule == rule_id.upper() and self.targets(base_url)

    def targets(self, base_url: str) -> bool:
        return fnmatch.fnmatchcase(_norm(base_url), _norm(self.target))

    def describe(self) -> str:
        return f"{self.rule} on {self.target}"


@dataclass(frozen=True)
class WaiverOutcome:
    result: RunResult
    waived: tuple[str, ...]  # rule ids marked waived
    expired: tuple[Waiver, ...]
    unused: tuple[Waiver, ...]


def _norm(url: str) -> str:
    return url.strip().rstrip("/")


def _mapping_lines(text: str) -> list[int]:
    """The line of each waiver entry, for messages (best effort: YAML knows where it read them)."""
    import yaml

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "waivers" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        return None


def load_waivers(path: Path) -> list[Waiver]:
    text, data = read_user_yaml(path, "--waivers")
    if not isinstance(data, dict) or not isinstance(data.get("waivers"), list):
        raise UserInputError(f"{path}: a waiver file is a mapping with a 'waivers:' list (see docs/ci.md)")
    extra = sorted(set(data) - {"waivers"})
    if extra:
        raise UserInputError(f"{path}: unknown top-level key(s) {', '.join(extra)}; only 'waivers' is allowed")
    lines = _mapping_lines(text)
    out: list[Waiver] = []
    for i, raw in enumerate(data["waivers"]):
        where = f"{path}:{lines[i]}" if i < len(lines) else f"{path}: waivers[{i}]"
        if not isinstance(raw, dict):
            raise UserInputError(f"{where}: each waiver is a mapping with {', '.join(FIELDS)}")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise UserInputError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}; a waiver has {', '.join(FIELDS)}")
        missing = [f for f in FIELDS if raw.get(f) in (None, "")]
        if missing:
            raise UserInputError(
                f"{where}: missing {', '.join(missing)} (every waiver needs a rule, a target, a reason and an expiry date)"
            )
        expires = _date(raw["expires"])
        if expires is None:
            raise UserInputError(f"{where}: expires: '{raw['expires']}' is not a date like 2026-09-30")
        rule = str(raw["rule"]).strip().upper()
        out.append(
            Waiver(
                rule=rule,
                target=str(raw["target"]).strip(),
                reason=" ".join(str(raw["reason"]).split()),
                expires=expires,
                source=where,
            )
        )
    return out


def check_rules_exist(waivers: Sequence[Waiver], known_ids: set[str]) -> None:
    """A waiver for a rule that does not exist is a typo that would silently waive nothing."""
    for w in waivers:
        if w.rule not in known_ids:
            raise UserInputError(f"{w.source}: rule: no rule '{w.rule}' (see `ehrcheck rules list`)")


def apply_waivers(result: RunResult, waivers: Sequence[Waiver], today: dt.date) -> WaiverOutcome:
    """Mark the findings live waivers cover; report expired and unused waivers. Pure."""
    # Waivers for other targets neither fail nor warn here: one file may serve a whole fleet.
    here = result.target.base_url
    expired = tuple(w for w in waivers if w.expires < today and w.targets(here))
    live = [w for w in waivers if w.expires >= today]
    used: set[int] = set()
    waived: list[str] = []
    findings = []
    for f in result.findings:
        match = next(
            (i for i, w in enumerate(live) if f.status in WAIVABLE and w.covers(f.rule_id, result.target.base_url)), None
        )
        if match is None:
            findings.append(f)
            continue
        used.add(match)
        waived.append(f.rule_id)
        w = live[match]
        findings.append(f.model_copy(update={"waiver": WaiverNote(reason=w.reason, expires=w.expires.isoformat())}))
    unused = tuple(w for i, w in enumerate(live) if i not in used and w.targets(here))
    return WaiverOutcome(
        result=result.model_copy(update={"findings": findings}),
        waived=tuple(waived),
        expired=expired,
        unused=unused,
    )


def unused_reason(waiver: Waiver, result: RunResult) -> str:
    """Why a waiver matched nothing, in words that fit: only a rule that passes now was fixed."""
    statuses = {f.status for f in result.findings if f.rule_id == waiver.rule}
    if Status.passed in statuses:
        return "the rule passes now; remove the waiver if the problem is fixed"
    if statuses and statuses <= {Status.not_applicable}:
        return "the rule does not apply to this endpoint, so there is nothing to waive here"
    if statuses & {Status.not_observed, Status.unverified}:
        return "the rule could not be observed in this run; the waiver stays until a run observes it"
    return "no finding of this rule in this run"
