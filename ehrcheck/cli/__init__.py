"""The `ehrcheck` command line. Thin: parse flags, call the pipeline, write files, pick the exit code.

One module per command group (audit.py: audit, probe, score; launch.py; compare.py: compare, diff; claims.py;
rules.py; scan.py; history.py; demo.py), registered below in one place; what they share lives in common.py
(errors, parsing), options.py (shared flags), output.py (the output plan), gather.py (running the
probes) and gates.py (waivers, summary, exit code).

Exit codes: 0 ok; 1 the target scored below --fail-under; 2 usage, input or configuration error,
or the target could not be reached at all. Reports go to files (or stdout with `-o -`); progress
and the summary go to stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ehrcheck import __version__
from ehrcheck.cli import audit, claims, compare, demo, history, launch, rules, scan
from ehrcheck.cli.help import ReadableCommand, ReadableGroup

app = typer.Typer(
    name="ehrcheck",
    help="Is this health-IT product a siloed EMR or an interoperable, certifiable EHR? "
    "Probe its FHIR endpoint, score it against rule packs, write a readiness report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ReadableGroup,
)
rules_app = typer.Typer(help="List and explain the rules ehrcheck applies.", no_args_is_help=True, cls=ReadableGroup)
app.add_typer(rules_app, name="rules")
claims_app = typer.Typer(help="Write and check the vendor claims questionnaire.", no_args_is_help=True, cls=ReadableGroup)
app.add_typer(claims_app, name="claims")

# Every command, registered here and nowhere else (ReadableCommand: help with URL, FILE, flags).
app.command(cls=ReadableCommand)(audit.audit)
app.command(cls=ReadableCommand)(audit.probe)
app.command(cls=ReadableCommand)(audit.score)
app.command(cls=ReadableCommand)(launch.launch)
app.command(cls=ReadableCommand)(demo.demo)
app.command(cls=ReadableCommand)(compare.compare)
app.command("diff", cls=ReadableCommand)(compare.diff_cmd)
app.command(cls=ReadableCommand)(scan.scan)
app.command(cls=ReadableCommand)(history.history)
claims_app.command("init", cls=ReadableCommand)(claims.claims_init)
claims_app.command("check", cls=ReadableCommand)(claims.claims_check)
rules_app.command("list", cls=ReadableCommand)(rules.rules_list)
rules_app.command("explain", cls=ReadableCommand)(rules.rules_explain)
rules_app.command("check", cls=ReadableCommand)(rules.rules_check)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ehrcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            metavar="",
            envvar="EHRCHECK_DEBUG",
            help="Log every request and probe outcome to stderr (secrets redacted).",
        ),
    ] = False,
) -> None:
    if debug:
        import logging

        from ehrcheck.console.debug import enable_debug

        handler = enable_debug()
        ctx.call_on_close(lambda: logging.getLogger("ehrcheck").removeHandler(handler))


def main() -> None:
    import sys

    # A terminal that cannot show a character (a latin-1 locale, an emoji status icon) gets a
    # replacement character rather than a UnicodeEncodeError after the whole audit ran.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    app()
