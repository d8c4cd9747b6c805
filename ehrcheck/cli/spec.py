"""Command-line options declared as plain data, readable without importing typer.

An option is declared here once (flags, metavar, environment variable, help, value type). typer
sees it through options.py (`option(OUTPUT)` inside an `Annotated` alias) and through
`typer_command` (a command whose every parameter is declared here); lean.py parses the simple
command lines of such a command with the same declarations, so `score` can run without typer's
import and per-parameter adapters (docs/benchmarks.md, issue 19). tests/cli/test_lean_parser.py
checks on a table of command lines that both parsers give the command the same values, or that
the lean one leaves the line to typer.

This module imports nothing heavy: it is read before the command line is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehrcheck.cli.output import DEFAULT_OUTPUT, SUFFIXES_TEXT


@dataclass(frozen=True)
class Opt:
    """An option: `kind` is the type of one value (bool: a flag that takes none)."""

    flags: tuple[str, ...]
    help: str
    kind: type = str
    metavar: str | None = None
    envvar: str | None = None
    multiple: bool = False  # repeatable: the command gets a list
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Arg:
    """The command's one positional argument (required)."""

    metavar: str
    help: str
    kind: type = str


@dataclass(frozen=True)
class Param:
    """A parameter of a command: the name the command's function takes, and its default."""

    name: str
    decl: Opt | Arg
    default: Any = None


@dataclass(frozen=True)
class Command:
    """A command declared whole: typer_command (options.py) makes its typer function, lean.py parses it."""

    name: str
    help: str  # the first line of --help, as a docstring would give it
    params: tuple[Param, ...]


OUTPUT = Opt(
    ("--output", "-o"),
    f"A folder (several formats), a file whose extension names the format ({SUFFIXES_TEXT}), or - for stdout. Default: ./{DEFAULT_OUTPUT}/ named after the target.",
    metavar="PATH",
    envvar="EHRCHECK_OUTPUT",
)
FORMAT = Opt(
    ("--format", "-f"),
    "html, md, json, junit, sarif, summary (the one-page executive summary), pdf, or several: html,md,json (the default).",
    metavar="FORMAT",
    envvar="EHRCHECK_FORMAT",
)
FAIL_UNDER = Opt(
    ("--fail-under",),
    "Exit 1 when the overall score is below N.",
    kind=float,
    metavar="N",
    envvar="EHRCHECK_FAIL_UNDER",
    min=0,
    max=100,
)
AS_OF = Opt(
    ("--as-of",),
    "Judge against the rules in force on this date (YYYY-MM-DD). Default: the day the evidence was gathered.",
    metavar="DATE",
    envvar="EHRCHECK_AS_OF",
)
PROFILE = Opt(
    ("--profile",),
    "Practice profile: solo, small-group, multi-specialty, hospital, fqhc, behavioral-health (default: general weights).",
    metavar="NAME",
    envvar="EHRCHECK_PROFILE",
)
PDF = Opt(
    ("--pdf",),
    "Also print the HTML report to PDF (report.pdf in the folder, or beside the -o file); needs Chromium.",
    kind=bool,
    metavar="",
    envvar="EHRCHECK_PDF",
)
FORCE = Opt(
    ("--force",),
    "Replace an output file ehrcheck did not write, or a folder holding another target's report (refused without it).",
    kind=bool,
    metavar="",
)
FAIL_ON = Opt(
    ("--fail-on",),
    "Exit 1 when a finding of this severity or worse fails: critical, high, medium, low or info (waived findings excepted).",
    metavar="SEVERITY",
    envvar="EHRCHECK_FAIL_ON",
)
EXIT_ZERO = Opt(
    ("--exit-zero",),
    "Exit 0 even when --fail-under, --fail-on or an expired waiver trips (errors still exit 2).",
    kind=bool,
    metavar="",
    envvar="EHRCHECK_EXIT_ZERO",
)
WAIVERS = Opt(
    ("--waivers",),
    "YAML file of accepted findings (rule, target, reason, expires); see docs/ci.md.",
    kind=Path,
    metavar="FILE",
    envvar="EHRCHECK_WAIVERS",
)
PACK = Opt(
    ("--pack",),
    "A custom rule pack (YAML, same schema as the built-in packs; see docs/packs.md). Repeatable.",
    kind=Path,
    metavar="FILE",
    envvar="EHRCHECK_PACK",
    multiple=True,
)
QUIET = Opt(("--quiet", "-q"), "No progress or summary on stderr.", kind=bool, metavar="")
# The root's own option (root.py): a command line that gives it is left to typer.
DEBUG = Opt(
    ("--debug",),
    "Log every request and probe outcome to stderr (secrets redacted).",
    kind=bool,
    metavar="",
    envvar="EHRCHECK_DEBUG",
)

SCORE = Command(
    "score",
    "Score saved evidence: no network, same findings as the audit that gathered it.",
    (
        Param("evidence_file", Arg("EVIDENCE", "Evidence JSON written by `ehrcheck probe` or `audit`.", kind=Path)),
        Param("output", OUTPUT),
        Param("format", FORMAT),
        Param("fail_under", FAIL_UNDER),
        Param("as_of", AS_OF),
        Param("profile", PROFILE),
        Param("pdf", PDF, False),
        Param("force", FORCE, False),
        Param("fail_on", FAIL_ON),
        Param("exit_zero", EXIT_ZERO, False),
        Param("waivers", WAIVERS),
        Param("pack", PACK),
        Param("quiet", QUIET, False),
    ),
)
