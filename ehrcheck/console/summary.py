"""What a person sees in the terminal: live probe progress and the summary table (on stderr)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from ehrcheck.inert import terminal
from ehrcheck.models import ProbeAttempt, RunResult
from ehrcheck.render.labels import STATUS_ICON, STATUS_LABEL, observed_text, ordered_findings, pack_score_text

STATUS_STYLE = {
    "pass": "green",
    "fail": "bold red",
    "warn": "yellow",
    "not_observed": "cyan",
    "unverified": "cyan",
    "not_applicable": "dim",
}
VERDICT_STYLE = {
    "unsafe": "bold red",
    "siloed_emr": "bold red",
    "limited_ehr": "bold yellow",
    "outdated_ehr": "bold yellow",
    "interoperable_ehr": "bold yellow",
    "certified_ehr_ready": "bold green",
    "unknown": "bold cyan",
}
ATTEMPT_STYLE = {"completed": "green", "error": "red", "skipped": "dim"}


def probe_line(console: Console, probe_id: str, attempt: ProbeAttempt) -> None:
    style = ATTEMPT_STYLE[attempt.status.value]
    note = f" — {terminal(attempt.reason)}" if attempt.reason else ""  # reasons quote what servers sent
    ms = f"{attempt.duration_ms:.0f} ms" if attempt.duration_ms is not None else ""
    console.print(f"  [{style}]{attempt.status.value:<9}[/] {terminal(probe_id):<12} {ms:>8}{note}", highlight=False)


def summary(console: Console, result: RunResult, max_findings: int = 12) -> None:
    console.print()
    console.print(
        f"[{VERDICT_STYLE[result.verdict.level]}]Verdict: {terminal(result.verdict.label)}[/] — {terminal(result.verdict.sentence)}",
        highlight=False,
    )
    for answer in (result.verdict.shares, result.verdict.safe, result.verdict.certification, result.verdict.evidence):
        if answer is not None:
            console.print(f"  {terminal(answer.question)} [bold]{terminal(answer.label)}[/]", highlight=False)
    for fact in result.verdict.reasons or []:
        console.print(f"  • {terminal(fact.text)} ({terminal(fact.rule_id)})", highlight=False)
    if result.verdict.meaning:
        console.print(f"  [bold]What it means for your practice:[/] {terminal(result.verdict.meaning)}", highlight=False)

    scores = Table(title=None, show_edge=False, pad_edge=False)
    scores.add_column("Pack")
    scores.add_column("Score", justify="right")
    scores.add_column("pass", justify="right", style="green")
    scores.add_column("fail", justify="right", style="red")
    scores.add_column("warn", justify="right", style="yellow")
    scores.add_column("not observed", justify="right", style="cyan")
    for p in [*result.packs, result.overall]:
        scores.add_row(
            terminal(p.title),
            pack_score_text(p),
            str(p.counts["pass"]),
            str(p.counts["fail"]),
            str(p.counts["warn"]),
            str(p.counts["not_observed"] + p.counts["unverified"]),
        )
    console.print(scores)

    worst = [f for f in ordered_findings(result.findings) if f.status.value in ("fail", "warn")]
    if worst:
        table = Table(show_edge=False, pad_edge=False, title="Top findings", title_justify="left")
        table.add_column("Status")
        table.add_column("Rule")
        table.add_column("Severity")
        table.add_column("Finding")
        for f in worst[:max_findings]:
            s = f.status.value
            table.add_row(
                f"[{STATUS_STYLE[s]}]{STATUS_ICON[s]} {STATUS_LABEL[s]}[/]",
                terminal(f.rule_id),
                f.severity.value,
                # What was found (the failure message), not the rule's title: "served over HTTPS"
                # is the rule; "answered over plain http" is the finding.
                terminal(observed_text(f.message or f.title, 200)),
            )
        console.print(table)
        if len(worst) > max_findings:
            console.print(f"  … and {len(worst) - max_findings} more in the report.", highlight=False)
