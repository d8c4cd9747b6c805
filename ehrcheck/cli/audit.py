"""`ehrcheck audit`, `probe` and `score` (its typer face: the command is score.py): evidence in, reports out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.common import (
    err_console,
    load_packs,
    parse_as_of,
    parse_fail_on,
    parse_profile,
    user_errors,
)
from ehrcheck.cli.gates import apply_waiver_file, finish, load_waiver_file
from ehrcheck.cli.gather import check_base_url, exit_if_unusable, probe_evidence
from ehrcheck.cli.options import (
    AsOfOpt,
    BulkTimeoutOpt,
    CaOpt,
    ChplFileOpt,
    ChplIdOpt,
    ChplUrlOpt,
    CredentialsOpt,
    EndpointsBundleOpt,
    EndpointsSampleOpt,
    ExitZeroOpt,
    FailOnOpt,
    FailUnderOpt,
    ForceOpt,
    FormatOpt,
    IncludePhiOpt,
    LaunchOpt,
    LaunchTimeoutOpt,
    NoBrowserOpt,
    OutputOpt,
    PackOpt,
    PatientOpt,
    PdfOpt,
    ProfileOpt,
    QuietOpt,
    SampleOpt,
    TimeoutOpt,
    TxServerOpt,
    UsCoreOpt,
    UsCoreVersionOpt,
    WaiversOpt,
    typer_command,
)
from ehrcheck.cli.output import (
    check_distinct,
    check_replaceable,
    check_writable,
    named_inputs,
    plan_outputs,
    require_pdf_support,
    write_reports,
)
from ehrcheck.cli.score import run as run_score
from ehrcheck.cli.spec import SCORE
from ehrcheck.errors import UserInputError


def audit(
    base_url: Annotated[
        str, typer.Argument(metavar="URL", help="The FHIR service base URL, e.g. https://fhir.vendor.example/r4")
    ],
    output: OutputOpt = None,
    format: FormatOpt = None,
    fail_under: FailUnderOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_of: AsOfOpt = None,
    profile: ProfileOpt = None,
    claims: Annotated[
        Path | None,
        typer.Option(
            "--claims",
            metavar="FILE",
            envvar="EHRCHECK_CLAIMS",
            help="YAML file of the vendor's claims (see `ehrcheck claims init`).",
        ),
    ] = None,
    evidence_text_given: Annotated[
        str | None,
        typer.Option(
            "--evidence", metavar="FILE", help="Also save the evidence here (default: evidence.json beside the reports)."
        ),
    ] = None,
    label: Annotated[str | None, typer.Option("--label", metavar="NAME", help="Name to show for the product in reports.")] = None,
    ca_bundle: CaOpt = None,
    pdf: PdfOpt = False,
    force: ForceOpt = False,
    fail_on: FailOnOpt = None,
    exit_zero: ExitZeroOpt = False,
    waivers: WaiversOpt = None,
    pack: PackOpt = None,
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
    quiet: QuietOpt = False,
) -> None:
    """Probe an endpoint, score it and write the readiness report (probe + score in one step)."""
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.files.store import evidence_text, write_output
    from ehrcheck.models import Evidence

    console = err_console()
    with user_errors():
        check_base_url(base_url)
        plan = plan_outputs(output, format, base_url=base_url, force=force, pdf=pdf)
        require_pdf_support(plan.wants_pdf)
        when = parse_as_of(as_of)
        parse_fail_on(fail_on)
        packs = load_packs(pack)
        waiver_list = load_waiver_file(waivers, packs)
        practice = parse_profile(profile)
        # Read as text, as probe's -o: Path("notes/") drops the "/" and overwrote a file `notes`.
        if evidence_text_given is not None and evidence_text_given.endswith(("/", "\\")):
            raise UserInputError(f"--evidence {evidence_text_given}: ends with / (a folder); give a file name")
        if evidence_text_given == "-":  # not stdout (that is -o -'s): it became a file named "-"
            raise UserInputError(
                "--evidence -: the evidence is saved to a file; give its path (use `ehrcheck probe URL -o -` for stdout)"
            )
        evidence_path = Path(evidence_text_given) if evidence_text_given is not None else None
        if evidence_path is None:
            if plan.folder is not None:
                evidence_path = plan.folder / "evidence.json"
            elif plan.first_file is not None:
                evidence_path = plan.first_file.with_name(plan.first_file.stem + ".evidence.json")
        if evidence_path is not None:
            check_writable(evidence_path, "--evidence")
            # Beside a single report (report.evidence.json) or named by --evidence: a file of the
            # user's there is refused as every other output is (a folder's is checked by the plan).
            check_replaceable(evidence_path, "--evidence", force)
        check_distinct(
            [("-o", o.path) for o in plan.outputs if o.path is not None]
            + ([("--evidence", evidence_path)] if evidence_path is not None else []),
            named_inputs(claims, waivers, pack, credentials, chpl_file, endpoints_bundle, ca_bundle),
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
            partial_to=evidence_path,
            launch=launch,
            no_browser=no_browser,
            launch_timeout=launch_timeout,
        )
        text = evidence_text(evidence)
        if evidence_path is not None:
            write_output(evidence_path, text)
        exit_if_unusable(evidence, console, evidence_path)
        # Score the round-tripped document, exactly as `ehrcheck score` would read it from disk.
        import json

        result = score_evidence(Evidence.model_validate(json.loads(text)), when, profile=practice, extra_packs=packs)
        result, waived = apply_waiver_file(result, waiver_list)
        written = write_reports(result, plan)
    finish(result, console, quiet, fail_under, ([evidence_path] if evidence_path else []) + written, fail_on, exit_zero, waived)


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
    label: Annotated[str | None, typer.Option("--label", metavar="NAME", help="Name to show for the product in reports.")] = None,
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
