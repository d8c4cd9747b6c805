"""After scoring: waivers applied, the summary shown, and the CI gates turned into an exit code."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from ehrcheck.cli.common import parse_fail_on

if TYPE_CHECKING:
    from rich.console import Console


def load_waiver_file(path: Path | None, packs) -> list:
    if path is None:
        return []  # before the imports: a run without --waivers does without the waiver code
    from ehrcheck.engine.waivers import check_rules_exist, load_waivers
    from ehrcheck.rules.schema import all_rules

    waivers = load_waivers(path)
    check_rules_exist(waivers, {r.id for r in all_rules()} | {r.id for p in packs for r in p.rules})
    return waivers


def apply_waiver_file(result, waivers: list):
    """Mark waived findings (they stay in every report); None when no waiver file was given."""
    if not waivers:
        return result, None
    from ehrcheck.engine.waivers import apply_waivers

    outcome = apply_waivers(result, waivers, dt.date.today())
    return outcome.result, outcome


def finish(
    result,
    console: Console,
    quiet: bool,
    fail_under: float | None,
    written: list[Path],
    fail_on: str | None = None,
    exit_zero: bool = False,
    waived=None,
) -> None:
    """Summary on stderr, then the CI gates: exit 1 when one fails, unless --exit-zero."""
    from ehrcheck.engine.gates import gate_failures
    from ehrcheck.inert import terminal

    if not quiet:
        from ehrcheck.console.summary import summary  # rich tables: only when something is shown

        summary(console, result)
        for path in written:
            console.print(f"wrote {terminal(path)}", highlight=False)
    reasons = gate_failures(result, fail_under, parse_fail_on(fail_on))
    if waived is not None:
        from ehrcheck.engine.waivers import unused_reason

        for w in waived.unused:
            console.print(
                f"[yellow]warning:[/] {terminal(w.source)}: waiver for {terminal(w.describe())} matched no failing finding: {unused_reason(w, result)}",
                highlight=False,
            )
        for w in waived.expired:
            reasons.append(
                f"waiver for {w.describe()} ({w.source}) expired on {w.expires.isoformat()}: renew it with a new date and reason, or fix the finding"
            )
        if waived.waived and not quiet:
            console.print(f"waived (still in the report): {terminal(', '.join(waived.waived))}", highlight=False)
    for reason in reasons:
        console.print(f"[red]{terminal(reason)}[/]", highlight=False)
    if reasons:
        if exit_zero:
            console.print("--exit-zero: exiting 0 although a gate failed", highlight=False)
            return
        raise SystemExit(1)
