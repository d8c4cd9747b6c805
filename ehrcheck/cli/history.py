"""`ehrcheck history`: what changed across the scans recorded with `scan --db`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.common import err_console, user_errors
from ehrcheck.cli.options import ForceOpt
from ehrcheck.errors import UserInputError
from ehrcheck.inert import terminal

DB_HELP = "The history database: a SQLite file path, or a postgresql://user@host/db URL (password from PGPASSWORD or ~/.pgpass)."
DbOpt = Annotated[str, typer.Option("--db", envvar="EHRCHECK_DB", help=DB_HELP)]


def _date(option: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"{option}: '{value}' is not a date like 2026-01-31") from None


def _format_of(output: str, fmt: str | None) -> str:
    if fmt:
        if fmt not in ("html", "md", "json"):
            raise UserInputError(f"--format: '{fmt}' is not one of html, md, json")
        return fmt
    suffix = Path(output).suffix.lower()
    return {".html": "html", ".htm": "html", ".json": "json", ".md": "md"}.get(suffix, "md")


def history(
    db: DbOpt,
    output: Annotated[
        str, typer.Option("--output", "-o", help="A file (.html with charts, .md, .json), or - for Markdown on stdout.")
    ] = "-",
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="html, md or json (default: from -o's extension).")] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="One endpoint's base URL: every change from run to run.")
    ] = None,
    vendor: Annotated[
        str | None,
        typer.Option("--vendor", help="A vendor: the --vendor a scan recorded, or part of the organisation names."),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="First day of runs to include (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day of runs to include (YYYY-MM-DD).")] = None,
    last: Annotated[int, typer.Option("--runs", min=1, max=10000, help="At most this many runs, the latest.")] = 30,
    force: ForceOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")] = False,
) -> None:
    """Availability, FHIR/US Core/SMART counts over time and what changed, from `scan --db` runs."""
    from ehrcheck import __version__
    from ehrcheck.files.store import write_output
    from ehrcheck.history import queries
    from ehrcheck.history.db import database_errors, open_database, refuse_conninfo
    from ehrcheck.history.migrations import migrate
    from ehrcheck.render.history_report import RENDERERS
    from ehrcheck.scan.endpoint_list import normalise_url

    console = err_console()
    with user_errors():
        kind = _format_of(output, fmt)
        if output != "-":  # before the database is read: a bad path is named at once
            from ehrcheck.cli.output import check_distinct, check_replaceable, check_writable

            check_writable(Path(output), "-o")
            check_replaceable(Path(output), "-o", force)
            if db and "://" not in db:
                check_distinct([("-o", Path(output))], [("the --db database", Path(db))])
        start, end = _date("--since", since), _date("--until", until)
        if start and end and end < start:
            raise UserInputError(f"--until {end} is before --since {start}")
        wanted = None
        if endpoint:
            wanted, why = normalise_url(endpoint)
            if wanted is None:
                raise UserInputError(f"--endpoint: '{endpoint[:80]}' is {why}")
        scope = queries.Scope(endpoint=wanted, vendor=(vendor or "").strip() or None)
        refuse_conninfo(db or "")
        if db and "://" not in db and not Path(db).is_file():
            if Path(db).exists():  # a folder, a FIFO, a device: reading it could block or mislead
                raise UserInputError(f"--db {db}: not a regular file (a history database is one SQLite file)")
            raise UserInputError(f"--db {db}: no such file (record runs with `ehrcheck scan LIST --db {db}`)")
        database = open_database(db)
        try:
            migrate(database)
            run_list = queries.runs(
                database,
                start.isoformat() if start else None,
                (end + dt.timedelta(days=1)).isoformat() if end else None,
                last,
            )
            found, total = queries.changes(database, run_list, scope)
            avail = queries.availability(database, run_list, scope)
            ctx = {
                "version": __version__,
                "db": database.shown,
                "scope": (f"endpoint {wanted}" if wanted else f"vendor {scope.vendor}" if scope.vendor else "every endpoint"),
                "endpoint": wanted,
                "runs": run_list,
                "counts": queries.counts_over_time(database, run_list, scope),
                "availability": avail,
                "changes": found,
                "changes_total": total,
            }
        except database_errors() as exc:
            raise UserInputError(
                f"--db {database.shown}: {str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__}"
            ) from None
        finally:
            database.close()
        text = RENDERERS[kind](ctx)
        if output == "-":
            typer.echo(text, nl=False)
        else:
            write_output(Path(output), text)
    if not quiet:
        console.print(
            f"{len(run_list)} run(s), {avail.total_endpoints} endpoint(s), {total} change(s)"
            + ("" if output == "-" else f"; wrote {terminal(output)}"),
            highlight=False,
        )
