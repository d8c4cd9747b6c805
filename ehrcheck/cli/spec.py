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

# The report files -o accepts (output.py's SUFFIX_FORMAT) and the default folder's name, as the
# help and README name them; here, not in output.py, so that reading the declarations costs no import.
SUFFIXES_TEXT = ".html, .md, .json, .xml (JUnit), .sarif or .pdf"
DEFAULT_OUTPUT = "ehrcheck-HOST-PATH"  # output.default_folder() makes it


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

    def defaults(self) -> dict[str, Any]:
        """Every option's default, by parameter name (for a caller that gives only some)."""
        return {p.name: p.default for p in self.params if isinstance(p.decl, Opt)}


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
DEMO_FORMAT = Opt(  # the demo writes reports, never a PDF (no browser is assumed)
    ("--format", "-f"),
    "html, md, json, junit, sarif, summary (the one-page executive summary), or several: html,md,json (the default).",
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
TIMEOUT = Opt(("--timeout",), "Seconds per request.", kind=float, metavar="S", envvar="EHRCHECK_TIMEOUT")
CA_BUNDLE = Opt(
    ("--ca-bundle",),
    "PEM file of CA certificates to trust (e.g. a corporate proxy).",
    kind=Path,
    metavar="FILE",
    envvar="EHRCHECK_CA_BUNDLE",
)
INCLUDE_PHI = Opt(
    ("--include-phi",),
    "Keep patient data the probes see (ids, up to 5 resources) in the evidence. Off by default: only counts, element names and hashed ids are kept.",
    kind=bool,
    metavar="",
)
CHPL_ID = Opt(
    ("--chpl-id",),
    "The product's CHPL product number, e.g. 15.04.04.1932.WebC.84.01.0.221117 (repeatable). Looked up with the key in CHPL_API_KEY.",
    metavar="NUMBER",
    envvar="EHRCHECK_CHPL_ID",
    multiple=True,
)
CHPL_FILE = Opt(
    ("--chpl-file",),
    "A CHPL JSON document (a listing's details, or search results) to use instead of the CHPL API.",
    kind=Path,
    metavar="FILE",
    envvar="EHRCHECK_CHPL_FILE",
)
CHPL_URL = Opt(
    ("--chpl-url",), "CHPL API base URL (default https://chpl.healthit.gov/rest).", metavar="URL", envvar="EHRCHECK_CHPL_URL"
)
ENDPOINTS_BUNDLE = Opt(
    ("--endpoints-bundle",),
    "The vendor's service-base-URL Bundle, a URL or a file (default: the list the CHPL listing links).",
    metavar="URL|FILE",
    envvar="EHRCHECK_ENDPOINTS_BUNDLE",
)
ENDPOINTS_SAMPLE = Opt(
    ("--endpoints-sample",),
    "How many listed addresses to ask for /metadata (0: none).",
    kind=int,
    metavar="N",
    envvar="EHRCHECK_ENDPOINTS_SAMPLE",
)
CREDENTIALS = Opt(
    ("--credentials",),
    "YAML file with client_id and private_key_file (or client_secret, or bearer_token): runs the authenticated probes. See docs/authenticated.md.",
    kind=Path,
    metavar="FILE",
    envvar="EHRCHECK_CREDENTIALS",
)
PATIENT = Opt(
    ("--patient",),
    "A test patient id for the US Core data checks (repeatable). Default: the vendor's claimed test patients, else the first found by search.",
    metavar="ID",
    multiple=True,
)
US_CORE = Opt(
    ("--us-core",),
    "Which US Core profiles to test: declared (default: those the server lists) or all (every USCDI profile).",
    metavar="declared|all",
    envvar="EHRCHECK_US_CORE",
)
US_CORE_VERSION = Opt(
    ("--us-core-version",),
    "Judge the data by US Core 6.1.0 or 7.0.0 (default: the version the server declares, else 6.1.0).",
    envvar="EHRCHECK_US_CORE_VERSION",
)
TX_SERVER = Opt(
    ("--tx-server",),
    "A FHIR terminology server to ask ($validate-code) about codes that cannot be checked offline.",
    metavar="URL",
    envvar="EHRCHECK_TX_SERVER",
)
SAMPLE = Opt(
    ("--sample",),
    "Test at most N patients (and 20×N resources per type). Default 3.",
    kind=int,
    metavar="N",
    envvar="EHRCHECK_SAMPLE",
)
BULK_TIMEOUT = Opt(
    ("--bulk-timeout",),
    "Seconds to wait for a Bulk Data export to complete. Default 120.",
    kind=float,
    metavar="S",
    envvar="EHRCHECK_BULK_TIMEOUT",
)
LAUNCH = Opt(
    ("--launch",),
    "Run a SMART user launch as the app registered in the credentials file's app: section: standalone (a patient signs in) or ehr (launched from the EHR). See docs/launch.md.",
    metavar="standalone|ehr",
    envvar="EHRCHECK_LAUNCH",
)
NO_BROWSER = Opt(
    ("--no-browser",),
    "User launch: print the authorization URL and read the redirect URL pasted on stdin, instead of opening a browser.",
    kind=bool,
    metavar="",
)
LAUNCH_TIMEOUT = Opt(
    ("--launch-timeout",),
    "User launch: seconds to wait for each sign-in to come back. Default 300.",
    kind=float,
    metavar="S",
    envvar="EHRCHECK_LAUNCH_TIMEOUT",
)
LABEL = Opt(("--label",), "Name to show for the product in reports.", metavar="NAME")
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

AUDIT = Command(
    "audit",
    "Probe an endpoint, score it and write the readiness report (probe + score in one step).",
    (
        Param("base_url", Arg("URL", "The FHIR service base URL, e.g. https://fhir.vendor.example/r4")),
        Param("output", OUTPUT),
        Param("format", FORMAT),
        Param("fail_under", FAIL_UNDER),
        Param("timeout", TIMEOUT, 10.0),
        Param("as_of", AS_OF),
        Param("profile", PROFILE),
        Param(
            "claims",
            Opt(
                ("--claims",),
                "YAML file of the vendor's claims (see `ehrcheck claims init`).",
                kind=Path,
                metavar="FILE",
                envvar="EHRCHECK_CLAIMS",
            ),
        ),
        Param(
            "evidence_text_given",
            Opt(("--evidence",), "Also save the evidence here (default: evidence.json beside the reports).", metavar="FILE"),
        ),
        Param("label", LABEL),
        Param("ca_bundle", CA_BUNDLE),
        Param("pdf", PDF, False),
        Param("force", FORCE, False),
        Param("fail_on", FAIL_ON),
        Param("exit_zero", EXIT_ZERO, False),
        Param("waivers", WAIVERS),
        Param("pack", PACK),
        Param("chpl_id", CHPL_ID),
        Param("chpl_file", CHPL_FILE),
        Param("chpl_url", CHPL_URL),
        Param("endpoints_bundle", ENDPOINTS_BUNDLE),
        Param("endpoints_sample", ENDPOINTS_SAMPLE, 5),
        Param("credentials", CREDENTIALS),
        Param("patient", PATIENT),
        Param("us_core", US_CORE),
        Param("us_core_version", US_CORE_VERSION),
        Param("tx_server", TX_SERVER),
        Param("sample", SAMPLE),
        Param("bulk_timeout", BULK_TIMEOUT),
        Param("include_phi", INCLUDE_PHI, False),
        Param("launch", LAUNCH),
        Param("no_browser", NO_BROWSER, False),
        Param("launch_timeout", LAUNCH_TIMEOUT),
        Param("quiet", QUIET, False),
    ),
)
