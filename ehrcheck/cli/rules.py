"""`ehrcheck rules list|explain|check`: the rules, built-in and custom."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ehrcheck.cli.common import err_console, load_packs, user_errors
from ehrcheck.inert import terminal


def rules_list(
    pack: Annotated[
        str | None,
        typer.Option("--pack", metavar="PACK", help="Only this pack (interoperability, portal, certification, hipaa)."),
    ] = None,
) -> None:
    """List every rule: id, severity, weight and title."""
    from rich.table import Table

    from ehrcheck.rules.schema import builtin_packs

    packs = builtin_packs()
    if pack and pack not in {p.pack for p in packs}:
        err_console().print(
            f"[bold red]error:[/] --pack: unknown pack '{terminal(pack)}'; choose from {', '.join(p.pack for p in packs)}"
        )
        raise typer.Exit(2)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("Rule", "Pack", "Severity", "Weight", "Title"):
        table.add_column(col)
    count = 0
    for p in packs:
        if pack and p.pack != pack:
            continue
        for r in p.rules:
            table.add_row(terminal(r.id), terminal(p.pack), r.severity.value, f"{r.weight:g}", terminal(r.title))
            count += 1
    out = Console(highlight=False)
    out.print(table)
    out.print(f"{count} rules")


def rules_explain(rule_id: Annotated[str, typer.Argument(metavar="RULE", help="A rule id such as INT-002.")]) -> None:
    """Explain one rule: what it checks, why, how to fix it, what to ask the vendor."""
    from ehrcheck.rules.schema import all_rules, find_rule

    rule = find_rule(rule_id)
    if rule is None:
        prefix = rule_id.strip().upper()[:3]
        near = [r.id for r in all_rules() if r.id.startswith(prefix)][:8]
        hint = f"; rules in that pack: {', '.join(near)}" if near else "; see `ehrcheck rules list`"
        err_console().print(f"[bold red]error:[/] no rule '{terminal(rule_id)}'{hint}")
        raise typer.Exit(2)
    out = Console(highlight=False)
    out.print(f"[bold]{rule.id}[/] — {rule.title}")
    out.print(
        f"pack {rule.pack} · severity {rule.severity.value} · weight {rule.weight:g}"
        + (f" · decides the verdict ({rule.gate})" if rule.gate else "")
    )
    out.print(f"evidence: {', '.join(rule.needs)}")
    if rule.effective or rule.expires:
        out.print(
            "in force: "
            + " ".join(
                p
                for p in (f"from {rule.effective}" if rule.effective else "", f"until {rule.expires}" if rule.expires else "")
                if p
            )
        )
    if rule.claim:
        out.print(f"judges the vendor claim: {rule.claim}")
    check = rule.check.model_dump(exclude_none=True, exclude_defaults=True)
    out.print(f"check: {check}")
    out.print(f"\n[green]pass:[/] {rule.pass_message}\n[red]{rule.fail_status}:[/] {rule.fail_message}")
    out.print(f"\n[bold]Fix:[/] {rule.remediation}")
    out.print(f"[bold]Ask the vendor:[/] {rule.vendor_question}")
    out.print("[bold]Basis:[/] " + "; ".join(ref.cite + (f" <{ref.url}>" if ref.url else "") for ref in rule.references))


def rules_check(
    files: Annotated[
        list[Path], typer.Argument(metavar="FILE", help="Custom rule pack YAML files (the --pack schema, see docs/packs.md).")
    ],
) -> None:
    """Validate custom rule packs and list their rules; exit 2 with located errors when one is malformed."""
    from rich.table import Table

    with user_errors():
        packs = load_packs(files)
    out = Console(highlight=False)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("Rule", "Pack", "Severity", "Weight", "Title"):
        table.add_column(col)
    for p in packs:
        for r in p.rules:
            table.add_row(terminal(r.id), terminal(p.pack), r.severity.value, f"{r.weight:g}", terminal(r.title))
    out.print(table)
    out.print(f"{sum(len(p.rules) for p in packs)} rules in {len(packs)} custom pack(s): OK")
