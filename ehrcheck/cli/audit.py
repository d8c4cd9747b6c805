"""`ehrcheck audit`, `probe` and `score` as typer sees them: evidence in, reports out. audit and score are
declared in spec.py and carried out by audit_run.py and score.py (which lean.py also runs without typer)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.audit_run import run as run_audit
from ehrcheck.cli.common import (
    err_console,
    user_errors,
)
from ehrcheck.cli.gather import check_base_url, exit_if_unusable, probe_evidence
from ehrcheck.cli.options import (
    BulkTimeoutOpt,
    CaOpt,
    ChplFileOpt,
    ChplIdOpt,
    ChplUrlOpt,
    CredentialsOpt,
    EndpointsBundleOpt,
    EndpointsSampleOpt,
    ForceOpt,
    IncludePhiOpt,
    LaunchOpt,
    LaunchTimeoutOpt,
    NoBrowserOpt,
    PatientOpt,
    QuietOpt,
    SampleOpt,
    TimeoutOpt,
    TxServerOpt,
    UsCoreOpt,
    UsCoreVersionOpt,
    option,
    typer_command,
)
from ehrcheck.cli.output import (
    check_distinct,
    check_replaceable,
    check_writable,
    named_inputs,
)
from ehrcheck.cli.score import run as run_score
from ehrcheck.cli.spec import AUDIT, LABEL, SCORE
from ehrcheck.errors import UserInputError

# Declared in spec.py and run by audit_run.py, which lean.py also calls without typer.
audit = typer_command(AUDIT, run_audit)


def probe(
    base_url: Annotated[str, typer.Argument(metavar="URL", help="The FHIR service base URL.")],
    output_text: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="Where to write the evidence JSON (- for stdout).")
    ] = "evidence.json",
    timeout: TimeoutOpt = 10.0,
    claims: Annotated[
        Path | None,
        typer.Option(
            "--claims", metavar="FILE", envvar="EHRCHECK_CLAIMS", help="YAML file of the vendor's claims, stored in the evidence."
        ),
    ] = None,
    label: Annotated[str | None, option(LABEL)] = None,
    ca_bundle: CaOpt = None,
    chpl_id: ChplIdOpt = None,
    chpl_file: ChplFileOpt = None,
    chpl_url: ChplUrlOpt = None,
    endpoints_bundle: EndpointsBundleOpt = None,
    endpoints_sample: EndpointsSampleOpt = 5,
    credentials: CredentialsOpt = None,
    patient: PatientOpt = None,
    us_core: UsCoreOpt = None,
    us_core_version: UsCoreVersionOpt = None,
    tx_server: TxServerOpt = None,
    sample: SampleOpt = None,
    bulk_timeout: BulkTimeoutOpt = None,
    include_phi: IncludePhiOpt = False,
    launch: LaunchOpt = None,
    no_browser: NoBrowserOpt = False,
    launch_timeout: LaunchTimeoutOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Gather evidence only, to score later (offline, or under other rules) with `ehrcheck score`."""
    from ehrcheck.files.store import evidence_text, write_output

    console = err_console()
    with user_errors():
        check_base_url(base_url)
        # Read as text: Path("notes/") drops the "/", and an existing file `notes` was overwritten.
        if output_text.endswith(("/", "\\")):
            raise UserInputError(f"-o {output_text}: ends with / (a folder); give a file name such as evidence.json")
        to_stdout = output_text == "-"  # as audit's -o -: it became a file named "-"
        output = Path(output_text)
        if not to_stdout:
            if output.exists() and output.is_dir():
                raise UserInputError(f"-o {output}: is a folder; give a file name such as evidence.json")
            check_writable(output, "-o")
            check_replaceable(output, "-o", force)
            check_distinct(
                [("-o", output)], named_inputs(claims, None, None, credentials, chpl_file, endpoints_bundle, ca_bundle)
            )
        evidence = probe_evidence(
            base_url,
            console=console,
            quiet=quiet,
            timeout=timeout,
            ca_bundle=ca_bundle,
            claims=claims,
            label=label,
            chpl_id=chpl_id,
            chpl_file=chpl_file,
            chpl_url=chpl_url,
            endpoints_bundle=endpoints_bundle,
            endpoints_sample=endpoints_sample,
            credentials=credentials,
            patient=patient,
            us_core=us_core,
            us_core_version=us_core_version,
            tx_server=tx_server,
            sample=sample,
            bulk_timeout=bulk_timeout,
            include_phi=include_phi,
            partial_to=None if to_stdout else output,
            launch=launch,
            no_browser=no_browser,
            launch_timeout=launch_timeout,
        )
        if to_stdout:
            sys.stdout.write(evidence_text(evidence))
            sys.stdout.flush()
        else:
            write_output(output, evidence_text(evidence))
    if not quiet and not to_stdout:
        from ehrcheck.inert import terminal

        console.print(f"wrote {terminal(output)}", highlight=False)
    exit_if_unusable(evidence, console, None if to_stdout else output)


# Declared in spec.py and run by score.py, which lean.py also calls without typer.
score = typer_command(SCORE, run_score)
