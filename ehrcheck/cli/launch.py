"""`ehrcheck launch`: a SMART user launch against one server, scored and reported.

The same as `ehrcheck audit URL --launch standalone|ehr` (the anonymous checks run too, since the
launch needs their discovery documents), with the flags a launch needs and no others."""

from __future__ import annotations

from typing import Annotated

import typer

from ehrcheck.cli.options import (
    CaOpt,
    CredentialsOpt,
    FailUnderOpt,
    FormatOpt,
    IncludePhiOpt,
    LaunchTimeoutOpt,
    NoBrowserOpt,
    OutputOpt,
    QuietOpt,
    SampleOpt,
    TimeoutOpt,
    UsCoreOpt,
)


def launch(
    base_url: Annotated[str, typer.Argument(metavar="URL", help="The FHIR service base URL the app launches against.")],
    mode: Annotated[
        str,
        typer.Option(
            "--launch",
            "--mode",
            metavar="standalone|ehr",
            envvar="EHRCHECK_LAUNCH",
            help="standalone (a patient signs in) or ehr (launched from the EHR).",
        ),
    ] = "standalone",
    credentials: CredentialsOpt = None,
    no_browser: NoBrowserOpt = False,
    launch_timeout: LaunchTimeoutOpt = None,
    output: OutputOpt = None,
    format: FormatOpt = None,
    fail_under: FailUnderOpt = None,
    timeout: TimeoutOpt = 10.0,
    ca_bundle: CaOpt = None,
    us_core: UsCoreOpt = None,
    sample: SampleOpt = None,
    include_phi: IncludePhiOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Run a SMART standalone or EHR launch as the registered app and report on it (docs/launch.md)."""
    from ehrcheck.cli.audit_run import run
    from ehrcheck.cli.spec import AUDIT

    run(
        **{
            **AUDIT.defaults(),
            "base_url": base_url,
            "output": output,
            "format": format,
            "fail_under": fail_under,
            "timeout": timeout,
            "ca_bundle": ca_bundle,
            "credentials": credentials,
            "us_core": us_core,
            "sample": sample,
            "include_phi": include_phi,
            "launch": mode,
            "no_browser": no_browser,
            "launch_timeout": launch_timeout,
            "quiet": quiet,
        }
    )
