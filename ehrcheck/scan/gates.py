"""CI gates for a whole scan, judged from the result rows. Pure; the CLI picks the exit code.

Per endpoint, as `audit` judges one: `--fail-on SEVERITY` (a failed, unwaived finding of that
severity or worse) and `--fail-under N` (overall score below N; no score counts as 0). An audited
endpoint that trips neither passes. Over the list:
- `--min-passing P%`: the share of audited endpoints that pass must be at least P (default 100%:
  any endpoint that trips a per-endpoint gate fails the scan);
- `--max-unreachable N|P%`: at most N endpoints (or P% of those scanned) not audited — unreachable
  or an audit error;
- an expired waiver (`--waivers`) fails the scan, as in `audit`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ehrcheck.errors import UserInputError
from ehrcheck.models import SEVERITY_ORDER, Severity


@dataclass(frozen=True)
class Threshold:
    """N endpoints, or P percent of them."""

    value: float
    percent: bool

    def allows(self, count: int, total: int) -> bool:
        if self.percent:
            return total == 0 or 100 * count / total <= self.value
        return count <= self.value

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{self.value:g}"


def parse_threshold(option: str, text: str | None, percent_only: bool = False) -> Threshold | None:
    if text is None or not str(text).strip():
        return None
    raw = str(text).strip()
    percent = raw.endswith("%")
    number = raw[:-1].strip() if percent else raw
    try:
        value = float(number)
    except ValueError:
        raise UserInputError(f"{option}: '{raw}' is not a number of endpoints or a percentage such as 5%") from None
    if not math.isfinite(value) or not number.isascii():  # nan never trips a gate; '５' is no number a user means
        raise UserInputError(f"{option}: '{raw}' is not a number of endpoints or a percentage such as 5%")
    if value < 0:
        raise UserInputError(f"{option}: '{raw}' must not be negative")
    if (percent or percent_only) and value > 100:
        raise UserInputError(f"{option}: '{raw}' is a percentage, at most 100")
    return Threshold(value, percent or percent_only)


@dataclass(frozen=True)
class ScanGates:
    fail_on: Severity | None = None
    fail_under: float | None = None
    min_passing: Threshold | None = None  # always a percentage
    max_unreachable: Threshold | None = None

    @property
    def per_endpoint(self) -> bool:
        return self.fail_on is not None or self.fail_under is not None

    def endpoint_failures(self, row: dict[str, Any]) -> list[str]:
        """Why one audited row trips a per-endpoint gate; empty when it passes."""
        reasons = []
        if self.fail_under is not None:
            score = row.get("score")
            if score is None:
                score = 0.0
            if score < self.fail_under:
                reasons.append(f"score {score:.0f} < {self.fail_under:g}")
        if self.fail_on is not None:
            limit = SEVERITY_ORDER[self.fail_on]
            hits = [
                f["rule"]
                for f in row.get("findings") or []
                if f.get("status") == "fail" and not f.get("waived") and _rank(f.get("severity")) <= limit
            ]
            if hits:
                reasons.append(f"{', '.join(hits[:4])}{' …' if len(hits) > 4 else ''} failed")
        return reasons


def _rank(severity: Any) -> int:
    try:
        return SEVERITY_ORDER[Severity(severity)]
    except ValueError:
        return len(SEVERITY_ORDER)


@dataclass
class GateTally:
    """Counts over the rows, kept small: a few examples, not every failing endpoint."""

    gates: ScanGates
    scanned: int = 0
    audited: int = 0
    not_audited: int = 0
    failing: int = 0
    examples: list[str] = field(default_factory=list)
    expired: dict[str, None] = field(default_factory=dict)  # ordered set of waiver messages

    def add(self, row: dict[str, Any]) -> None:
        self.scanned += 1
        for message in row.get("expired_waivers") or []:
            self.expired[message] = None
        if row.get("outcome") != "audited":
            self.not_audited += 1
            return
        self.audited += 1
        why = self.gates.endpoint_failures(row)
        if why:
            self.failing += 1
            if len(self.examples) < 5:
                self.examples.append(f"{row.get('url')} ({'; '.join(why)})")

    def reasons(self) -> list[str]:
        """One plain sentence per gate the scan falls short of."""
        g = self.gates
        out: list[str] = []
        if g.per_endpoint and self.failing:
            wanted = g.min_passing or Threshold(100, True)
            passing = self.audited - self.failing
            share = 100 * passing / self.audited if self.audited else 0.0
            if share < wanted.value:
                what = " and ".join(
                    p
                    for p in (
                        f"--fail-on {g.fail_on.value}" if g.fail_on else "",
                        f"--fail-under {g.fail_under:g}" if g.fail_under is not None else "",
                    )
                    if p
                )
                out.append(
                    f"{self.failing} of {self.audited} audited endpoints fail {what} "
                    f"({share:.0f}% pass, --min-passing is {wanted}); e.g. {'; '.join(self.examples[:3])}"
                )
        if g.max_unreachable is not None and not g.max_unreachable.allows(self.not_audited, self.scanned):
            out.append(
                f"{self.not_audited} of {self.scanned} endpoints could not be audited (unreachable or audit error), "
                f"more than --max-unreachable {g.max_unreachable}"
            )
        for message in self.expired:
            out.append(f"{message}: renew it with a new date and reason, or fix the finding")
        return out


def tally(rows: Iterable[dict[str, Any]], gates: ScanGates) -> GateTally:
    t = GateTally(gates)
    for row in rows:
        t.add(row)
    return t
