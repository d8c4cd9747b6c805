"""The options several commands share, declared once: same flag, environment variable and help
everywhere they appear."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.output import DEFAULT_OUTPUT, SUFFIXES_TEXT

TimeoutOpt = Annotated[float, typer.Option("--timeout", metavar="S", envvar="EHRCHECK_TIMEOUT", help="Seconds per request.")]


CaOpt = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        envvar="EHRCHECK_CA_BUNDLE",
        help="PEM file of CA certificates to trust (e.g. a corporate proxy).",
    ),
]


QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", metavar="", help="No progress or summary on stderr.")]


IncludePhiOpt = Annotated[
    bool,
    typer.Option(
        "--include-phi",
        metavar="",
        help="Keep patient data the probes see (ids, up to 5 resources) in the evidence. Off by default: only counts, element names and hashed ids are kept.",
    ),
]


PdfOpt = Annotated[
    bool,
    typer.Option(
        "--pdf",
        metavar="",
        envvar="EHRCHECK_PDF",
        help="Also print the HTML report to PDF (report.pdf in the folder, or beside the -o file); needs Chromium.",
    ),
]


ForceOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        metavar="",
        help="Replace an output file ehrcheck did not write, or a folder holding another target's report (refused without it).",
    ),
]


OutputOpt = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="PATH",
        envvar="EHRCHECK_OUTPUT",
        help=f"A folder (several formats), a file whose extension names the format ({SUFFIXES_TEXT}), or - for stdout. Default: ./{DEFAULT_OUTPUT}/ named after the target.",
    ),
]


FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        "-f",
        metavar="FORMAT",
        envvar="EHRCHECK_FORMAT",
        help="html, md, json, junit, sarif, summary (the one-page executive summary), pdf, or several: html,md,json (the default).",
    ),
]


FailOnOpt = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="SEVERITY",
        envvar="EHRCHECK_FAIL_ON",
        help="Exit 1 when a finding of this severity or worse fails: critical, high, medium, low or info (waived findings excepted).",
    ),
]


ExitZeroOpt = Annotated[
    bool,
    typer.Option(
        "--exit-zero",
        metavar="",
        envvar="EHRCHECK_EXIT_ZERO",
        help="Exit 0 even when --fail-under, --fail-on or an expired waiver trips (errors still exit 2).",
    ),
]


WaiversOpt = Annotated[
    Path | None,
    typer.Option(
        "--waivers",
        metavar="FILE",
        envvar="EHRCHECK_WAIVERS",
        help="YAML file of accepted findings (rule, target, reason, expires); see docs/ci.md.",
    ),
]


ChplIdOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--chpl-id",
        metavar="NUMBER",
        envvar="EHRCHECK_CHPL_ID",
        help="The product's CHPL product number, e.g. 15.04.04.1932.WebC.84.01.0.221117 (repeatable). Looked up with the key in CHPL_API_KEY.",
    ),
]


ChplFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--chpl-file",
        metavar="FILE",
        envvar="EHRCHECK_CHPL_FILE",
        help="A CHPL JSON document (a listing's details, or search results) to use instead of the CHPL API.",
    ),
]


ChplUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--chpl-url",
        metavar="URL",
        envvar="EHRCHECK_CHPL_URL",
        help="CHPL API base URL (default https://chpl.healthit.gov/rest).",
    ),
]


EndpointsBundleOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoints-bundle",
        metavar="URL|FILE",
        envvar="EHRCHECK_ENDPOINTS_BUNDLE",
        help="The vendor's service-base-URL Bundle, a URL or a file (default: the list the CHPL listing links).",
    ),
]


EndpointsSampleOpt = Annotated[
    int,
    typer.Option(
        "--endpoints-sample",
        metavar="N",
        envvar="EHRCHECK_ENDPOINTS_SAMPLE",
        help="How many listed addresses to ask for /metadata (0: none).",
    ),
]


PackOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--pack",
        metavar="FILE",
        envvar="EHRCHECK_PACK",
        help="A custom rule pack (YAML, same schema as the built-in packs; see docs/packs.md). Repeatable.",
    ),
]


FailUnderOpt = Annotated[
    float | None,
    typer.Option(
        "--fail-under",
        metavar="N",
        envvar="EHRCHECK_FAIL_UNDER",
        min=0,
        max=100,
        help="Exit 1 when the overall score is below N.",
    ),
]


AsOfOpt = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        envvar="EHRCHECK_AS_OF",
        help="Judge against the rules in force on this date (YYYY-MM-DD). Default: the day the evidence was gathered.",
    ),
]


ProfileOpt = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        envvar="EHRCHECK_PROFILE",
        help="Practice profile: solo, small-group, multi-specialty, hospital, fqhc, behavioral-health (default: general weights).",
    ),
]


CredentialsOpt = Annotated[
    Path | None,
    typer.Option(
        "--credentials",
        metavar="FILE",
        envvar="EHRCHECK_CREDENTIALS",
        help="YAML file with client_id and private_key_file (or client_secret, or bearer_token): runs the authenticated probes. See docs/authenticated.md.",
    ),
]


PatientOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--patient",
        metavar="ID",
        help="A test patient id for the US Core data checks (repeatable). Default: the vendor's claimed test patients, else the first found by search.",
    ),
]


UsCoreOpt = Annotated[
    str | None,
    typer.Option(
        "--us-core",
        metavar="declared|all",
        envvar="EHRCHECK_US_CORE",
        help="Which US Core profiles to test: declared (default: those the server lists) or all (every USCDI profile).",
    ),
]


UsCoreVersionOpt = Annotated[
    str | None,
    typer.Option(
        "--us-core-version",
        envvar="EHRCHECK_US_CORE_VERSION",
        help="Judge the data by US Core 6.1.0 or 7.0.0 (default: the version the server declares, else 6.1.0).",
    ),
]


TxServerOpt = Annotated[
    str | None,
    typer.Option(
        "--tx-server",
        envvar="EHRCHECK_TX_SERVER",
        metavar="URL",
        help="A FHIR terminology server to ask ($validate-code) about codes that cannot be checked offline.",
    ),
]


SampleOpt = Annotated[
    int | None,
    typer.Option(
        "--sample",
        metavar="N",
        envvar="EHRCHECK_SAMPLE",
        help="Test at most N patients (and 20×N resources per type). Default 3.",
    ),
]


BulkTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--bulk-timeout",
        metavar="S",
        envvar="EHRCHECK_BULK_TIMEOUT",
        help="Seconds to wait for a Bulk Data export to complete. Default 120.",
    ),
]


LaunchOpt = Annotated[
    str | None,
    typer.Option(
        "--launch",
        metavar="standalone|ehr",
        envvar="EHRCHECK_LAUNCH",
        help="Run a SMART user launch as the app registered in the credentials file's app: section: standalone (a patient signs in) or ehr (launched from the EHR). See docs/launch.md.",
    ),
]


NoBrowserOpt = Annotated[
    bool,
    typer.Option(
        "--no-browser",
        metavar="",
        help="User launch: print the authorization URL and read the redirect URL pasted on stdin, instead of opening a browser.",
    ),
]


LaunchTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--launch-timeout",
        metavar="S",
        envvar="EHRCHECK_LAUNCH_TIMEOUT",
        help="User launch: seconds to wait for each sign-in to come back. Default 300.",
    ),
]
