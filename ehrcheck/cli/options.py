"""The options several commands share, declared once: same flag, environment variable and help
everywhere they appear. Those spec.py declares as plain data (the ones `score` takes, which lean.py
parses without typer) become typer options here, through `option` and `typer_command`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ehrcheck.cli.spec import (
    AS_OF,
    EXIT_ZERO,
    FAIL_ON,
    FAIL_UNDER,
    FORCE,
    FORMAT,
    OUTPUT,
    PACK,
    PDF,
    PROFILE,
    QUIET,
    WAIVERS,
    Arg,
    Command,
    Opt,
)


def option(decl: Opt) -> Any:
    """The typer option for a spec.py declaration."""
    return typer.Option(*decl.flags, metavar=decl.metavar, envvar=decl.envvar, help=decl.help, min=decl.min, max=decl.max)


def _annotation(decl: Opt | Arg, default: Any) -> Any:
    if isinstance(decl, Arg):
        return Annotated[decl.kind, typer.Argument(metavar=decl.metavar, help=decl.help)]
    kind: Any = list[decl.kind] if decl.multiple else decl.kind  # type: ignore[name-defined]
    if default is None:
        kind = kind | None
    return Annotated[kind, option(decl)]


def typer_command(command: Command, run: Callable[..., None]) -> Callable[..., None]:
    """A function typer registers as `command`: its signature (names, types, options, defaults)
    is made from the declaration, and calling it calls `run` with the values typer parsed."""

    def typed(**values: Any) -> None:
        run(**values)

    params = [
        inspect.Parameter(
            p.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if isinstance(p.decl, Arg) else p.default,  # an argument is required
            annotation=_annotation(p.decl, p.default),
        )
        for p in command.params
    ]
    typed.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    typed.__annotations__ = {p.name: p.annotation for p in params}
    typed.__name__ = typed.__qualname__ = command.name
    typed.__doc__ = command.help
    typed.__module__ = run.__module__
    return typed


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


QuietOpt = Annotated[bool, option(QUIET)]


IncludePhiOpt = Annotated[
    bool,
    typer.Option(
        "--include-phi",
        metavar="",
        help="Keep patient data the probes see (ids, up to 5 resources) in the evidence. Off by default: only counts, element names and hashed ids are kept.",
    ),
]


PdfOpt = Annotated[bool, option(PDF)]


ForceOpt = Annotated[bool, option(FORCE)]


OutputOpt = Annotated[str | None, option(OUTPUT)]


FormatOpt = Annotated[str | None, option(FORMAT)]


FailOnOpt = Annotated[str | None, option(FAIL_ON)]


ExitZeroOpt = Annotated[bool, option(EXIT_ZERO)]


WaiversOpt = Annotated[Path | None, option(WAIVERS)]


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


PackOpt = Annotated[list[Path] | None, option(PACK)]


FailUnderOpt = Annotated[float | None, option(FAIL_UNDER)]


AsOfOpt = Annotated[str | None, option(AS_OF)]


ProfileOpt = Annotated[str | None, option(PROFILE)]


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
