"""The options several commands share, declared once: same flag, environment variable and help
everywhere they appear. They are declared as plain data in spec.py (so that lean.py can parse a
simple `score` or `audit` line without typer); here each becomes a typer option (`option`), and a
command declared whole there becomes typer's function (`typer_command`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ehrcheck.cli.spec import (
    AS_OF,
    BULK_TIMEOUT,
    CA_BUNDLE,
    CHPL_FILE,
    CHPL_ID,
    CHPL_URL,
    CREDENTIALS,
    DEMO_FORMAT,
    ENDPOINTS_BUNDLE,
    ENDPOINTS_SAMPLE,
    EXIT_ZERO,
    FAIL_ON,
    FAIL_UNDER,
    FORCE,
    FORMAT,
    INCLUDE_PHI,
    LAUNCH,
    LAUNCH_TIMEOUT,
    NO_BROWSER,
    OUTPUT,
    PACK,
    PATIENT,
    PDF,
    PROFILE,
    QUIET,
    SAMPLE,
    TIMEOUT,
    TX_SERVER,
    US_CORE,
    US_CORE_VERSION,
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


TimeoutOpt = Annotated[float, option(TIMEOUT)]


CaOpt = Annotated[Path | None, option(CA_BUNDLE)]


QuietOpt = Annotated[bool, option(QUIET)]


IncludePhiOpt = Annotated[bool, option(INCLUDE_PHI)]


PdfOpt = Annotated[bool, option(PDF)]


ForceOpt = Annotated[bool, option(FORCE)]


OutputOpt = Annotated[str | None, option(OUTPUT)]


FormatOpt = Annotated[str | None, option(FORMAT)]
DemoFormatOpt = Annotated[str | None, option(DEMO_FORMAT)]


FailOnOpt = Annotated[str | None, option(FAIL_ON)]


ExitZeroOpt = Annotated[bool, option(EXIT_ZERO)]


WaiversOpt = Annotated[Path | None, option(WAIVERS)]


ChplIdOpt = Annotated[list[str] | None, option(CHPL_ID)]


ChplFileOpt = Annotated[Path | None, option(CHPL_FILE)]


ChplUrlOpt = Annotated[str | None, option(CHPL_URL)]


EndpointsBundleOpt = Annotated[str | None, option(ENDPOINTS_BUNDLE)]


EndpointsSampleOpt = Annotated[int, option(ENDPOINTS_SAMPLE)]


PackOpt = Annotated[list[Path] | None, option(PACK)]


FailUnderOpt = Annotated[float | None, option(FAIL_UNDER)]


AsOfOpt = Annotated[str | None, option(AS_OF)]


ProfileOpt = Annotated[str | None, option(PROFILE)]


CredentialsOpt = Annotated[Path | None, option(CREDENTIALS)]


PatientOpt = Annotated[list[str] | None, option(PATIENT)]


UsCoreOpt = Annotated[str | None, option(US_CORE)]


UsCoreVersionOpt = Annotated[str | None, option(US_CORE_VERSION)]


TxServerOpt = Annotated[str | None, option(TX_SERVER)]


SampleOpt = Annotated[int | None, option(SAMPLE)]


BulkTimeoutOpt = Annotated[float | None, option(BULK_TIMEOUT)]


LaunchOpt = Annotated[str | None, option(LAUNCH)]


NoBrowserOpt = Annotated[bool, option(NO_BROWSER)]


LaunchTimeoutOpt = Annotated[float | None, option(LAUNCH_TIMEOUT)]
