"""The `ehrcheck` command line. Thin: parse flags, call the pipeline, write files, pick the exit code.

One module per command group (audit.py: audit, probe, score; launch.py; compare.py: compare, diff; claims.py;
rules.py; scan.py; history.py; demo.py), registered below in one place; what they share lives in common.py
(errors, parsing), options.py (shared flags), output.py (the output plan), gather.py (running the
probes) and gates.py (waivers, summary, exit code). root.py holds the root's own flags; help_cache.py
answers a help request from the per-user cache without importing typer, when it can, and lean.py
runs a simple `score` or `audit` line without typer, from the declarations in spec.py.

Exit codes: 0 ok; 1 the target scored below --fail-under; 2 usage, input or configuration error,
or the target could not be reached at all. Reports go to files (or stdout with `-o -`); progress
and the summary go to stderr.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

HELP = (
    "Is this health-IT product a siloed EMR or an interoperable, certifiable EHR? "
    "Probe its FHIR endpoint, score it against rule packs, write a readiness report."
)
# Every command, registered here and nowhere else: name -> (module in ehrcheck.cli, function).
COMMANDS = {
    "audit": ("audit", "audit"),
    "probe": ("audit", "probe"),
    "score": ("audit", "score"),
    "launch": ("launch", "launch"),
    "demo": ("demo", "demo"),
    "compare": ("compare", "compare"),
    "diff": ("compare", "diff_cmd"),
    "scan": ("scan", "scan"),
    "history": ("history", "history"),
}
GROUPS = {
    "rules": (
        "List and explain the rules ehrcheck applies.",
        {"list": ("rules", "rules_list"), "explain": ("rules", "rules_explain"), "check": ("rules", "rules_check")},
    ),
    "claims": (
        "Write and check the vendor claims questionnaire.",
        {"init": ("claims", "claims_init"), "check": ("claims", "claims_check")},
    ),
}


def _function(where: tuple[str, str]) -> Any:
    module, name = where
    return getattr(import_module(f"ehrcheck.cli.{module}"), name)


def build_app(only: str | None = None) -> typer.Typer:
    """The command line with every command, or with the one named `only` alone: a run imports
    the modules of the command it runs and no other (ReadableCommand: help with URL, FILE, flags)."""
    import typer

    from ehrcheck.cli.help import ReadableCommand, ReadableGroup
    from ehrcheck.cli.root import root

    app = typer.Typer(
        name="ehrcheck",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=ReadableGroup,
    )
    app.callback()(root)
    for name, (group_help, commands) in GROUPS.items():
        if only in (None, name):
            group = typer.Typer(help=group_help, no_args_is_help=True, cls=ReadableGroup)
            app.add_typer(group, name=name)
            for sub, where in commands.items():
                group.command(sub, cls=ReadableCommand)(_function(where))
    for name, where in COMMANDS.items():
        if only in (None, name):
            app.command(name, cls=ReadableCommand)(_function(where))
    return app


def _command_in(argv: list[str]) -> str | None:
    """The command a command line runs, when it names one; None for the root's own help or version
    (and for an unknown name, which the full app answers with the names it knows)."""
    for arg in argv:
        if arg in ("--help", "--version"):
            return None
        if not arg.startswith("-"):  # the root's other option (--debug) takes no value
            return arg if arg in COMMANDS or arg in GROUPS else None
    return None


app: typer.Typer  # built on first use (below), so importing this module builds nothing


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole command line, for tests and for anything embedding it
        global app
        app = build_app()
        return app
    raise AttributeError(name)


def main() -> None:
    import sys
    from contextlib import nullcontext

    from ehrcheck.runtime import no_pydantic_plugins, tune_gc

    tune_gc()  # before the command's imports, which are most of the collector's work
    no_pydantic_plugins()  # before typer's parameter adapters, the first pydantic schemas built
    from ehrcheck.cli.help_cache import cached, is_help_request, print_cached, recording

    # A terminal that cannot show a character (a latin-1 locale, an emoji status icon) gets a
    # replacement character rather than a UnicodeEncodeError after the whole audit ran.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    argv = sys.argv[1:]
    help_request = is_help_request(argv, COMMANDS, GROUPS)
    if help_request and (text := cached(argv)) is not None:
        print_cached(text)  # the screen typer rendered last time, byte for byte (help_cache.py)
        return
    from ehrcheck.cli.lean import run as run_lean

    if not help_request and run_lean(argv):
        return  # a simple `score` or `audit` line, run without typer (lean.py); any other goes to typer
    with recording(argv) if help_request else nullcontext():
        build_app(_command_in(argv))()
