"""CI gates: does a run result pass `--fail-under` and `--fail-on`? Pure; the CLI picks the exit code.

`--fail-under N` compares the overall point score (a run with no score counts as 0).
`--fail-on SEVERITY` trips on any failed finding of that severity or worse that is not waived;
warnings, findings that could not be observed and proposed rules (not law) never trip it.
"""

from __future__ import annotations

from ehrcheck.models import SEVERITY_ORDER, RunResult, Severity, Status

SEVERITIES = tuple(s.value for s in Severity)


def parse_severity(value: str) -> Severity:
    try:
        return Severity(value.strip().lower())
    except ValueError:
        raise ValueError(f"--fail-on: unknown severity '{value}'; choose from {', '.join(SEVERITIES)}") from None


def gate_failures(result: RunResult, fail_under: float | None, fail_on: Severity | None) -> list[str]:
    """One plain sentence per gate the result falls short of; empty when it passes."""
    reasons = []
    if fail_under is not None:
        score = result.overall.score if result.overall.score is not None else 0.0
        if score < fail_under:
            reasons.append(f"overall score {score:.0f} is below --fail-under {fail_under:.0f}")
    if fail_on is not None:
        limit = SEVERITY_ORDER[fail_on]
        hits = sorted(
            (
                f
                for f in result.findings
                if f.status == Status.fail and f.waiver is None and not f.proposed and SEVERITY_ORDER[f.severity] <= limit
            ),
            key=lambda f: (SEVERITY_ORDER[f.severity], f.rule_id),
        )
        if hits:
            shown = ", ".join(f"{f.rule_id} ({f.severity.value})" for f in hits[:8])
            more = f" and {len(hits) - 8} more" if len(hits) > 8 else ""
            reasons.append(f"{len(hits)} failed finding(s) at --fail-on {fail_on.value} or worse: {shown}{more}")
    return reasons
