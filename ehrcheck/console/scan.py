"""What `ehrcheck scan` shows on stderr: a live progress bar, then a summary table."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from ehrcheck.inert import terminal
from ehrcheck.scan.run import ScanStats

OUTCOME_LABEL = {"audited": "Audited", "unreachable": "Could not be reached", "error": "Audit error"}


@contextlib.contextmanager
def scan_progress(console: Console, total: int, quiet: bool) -> Iterator[Callable[[dict[str, Any]], None]]:
    """Yields the per-row callback: advances the bar and names the last endpoint finished."""
    if quiet or not console.is_terminal:
        # no live bar off a terminal (CI logs): a line every 10% instead
        step = max(1, total // 10)
        count = 0

        def note(row: dict[str, Any]) -> None:
            nonlocal count
            count += 1
            if not quiet and (count % step == 0 or count == total):
                console.print(f"  {count}/{total} endpoints audited", highlight=False)

        yield note
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("scanning"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}", style="dim"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=total)

        def advance(row: dict[str, Any]) -> None:
            label = row.get("name") or row.get("url", "")
            progress.update(task, advance=1, description=terminal(label[:50]))

        yield advance


def scan_summary(console: Console, stats: ScanStats, titles: dict[str, str], top: int = 10) -> None:
    table = Table(show_edge=False, pad_edge=False, title="Scan summary", title_justify="left")
    table.add_column("")
    table.add_column("Endpoints", justify="right")
    for outcome, n in sorted(stats.outcomes.items()):
        table.add_row(OUTCOME_LABEL.get(outcome, outcome), str(n))
    for label, n in sorted(stats.verdicts.items(), key=lambda kv: -kv[1]):
        table.add_row(f"  {terminal(label)}", str(n))
    mean = "–" if stats.mean_score is None else f"{stats.mean_score:.0f}"
    table.add_row("Mean overall score", mean)
    console.print(table)
    if stats.failing_rules:
        worst = Table(show_edge=False, pad_edge=False, title="Most common failures", title_justify="left")
        worst.add_column("Rule")
        worst.add_column("Endpoints", justify="right")
        worst.add_column("Title")
        for rid, n in sorted(stats.failing_rules.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
            worst.add_row(terminal(rid), str(n), terminal(titles.get(rid, "")))
        console.print(worst)
