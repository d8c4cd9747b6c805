"""`ehrcheck demo`: three fictional vendors audited on loopback."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.common import err_console, user_errors
from ehrcheck.cli.options import DemoFormatOpt, QuietOpt
from ehrcheck.cli.output import check_foreign_files, check_writable, parse_formats
from ehrcheck.errors import UserInputError


def demo(
    output: Annotated[Path, typer.Option("--output", "-o", metavar="FOLDER", help="Folder for the demo reports.")] = Path(
        "ehrcheck-demo"
    ),
    format: DemoFormatOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace files in the folder that ehrcheck did not write (your own index.md).")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Audit three fictional vendors served on loopback and write their reports. No network needed."""
    from ehrcheck.demo.run import demo_paths, run_demo

    console = err_console()
    with user_errors():
        formats = parse_formats(format)
        if str(output) == "-":  # stdout for other commands; demo writes a folder of reports
            raise UserInputError(
                "-o -: demo writes a folder (a report per vendor and an index); give a folder such as -o ehrcheck-demo"
            )
        check_writable(output, "-o", folder=True)  # /proc/x, under a file: one message, not a mkdir traceback
        try:
            check_foreign_files(demo_paths(output, formats), force)
            results = run_demo(output, formats=tuple(formats), console=None if quiet else console)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
    if not quiet:
        from rich.table import Table

        from ehrcheck.inert import terminal

        table = Table(show_edge=False, pad_edge=False, title="Demo vendors", title_justify="left")
        for col in ("Vendor", "Verdict", "Score", "Report"):
            table.add_column(col)
        for r in results:
            path = terminal(r.paths[0]) if r.paths else ""
            table.add_row(terminal(r.name), terminal(r.verdict_label), "–" if r.score is None else f"{r.score:.0f}", path)
        console.print(table)
        console.print(f"wrote {terminal(output / 'index.md')}", highlight=False)
