"""`ehrcheck audit`: probe one endpoint, score it, write the reports.

Its parameters are declared in spec.py (AUDIT): typer runs it through audit.py's `audit`, and
lean.py runs it directly when the command line is simple. So this module imports no typer."""

from __future__ import annotations

from pathlib import Path

from ehrcheck.cli.common import err_console, load_packs, parse_as_of, parse_fail_on, parse_profile, user_errors
from ehrcheck.cli.gates import apply_waiver_file, finish, load_waiver_file
from ehrcheck.cli.gather import check_base_url, exit_if_unusable, probe_evidence
from ehrcheck.cli.output import (
    check_distinct,
    check_replaceable,
    check_writable,
    named_inputs,
    plan_outputs,
    require_pdf_support,
    write_reports,
)
from ehrcheck.errors import UserInputError


def run(
    base_url: str,
    output: str | None,
    format: str | None,
    fail_under: float | None,
    timeout: float,
    as_of: str | None,
    profile: str | None,
    claims: Path | None,
    evidence_text_given: str | None,
    label: str | None,
    ca_bundle: Path | None,
    pdf: bool,
    force: bool,
    fail_on: str | None,
    exit_zero: bool,
    waivers: Path | None,
    pack: list[Path] | None,
    chpl_id: list[str] | None,
    chpl_file: Path | None,
    chpl_url: str | None,
    endpoints_bundle: str | None,
    endpoints_sample: int,
    credentials: Path | None,
    patient: list[str] | None,
    us_core: str | None,
    us_core_version: str | None,
    tx_server: str | None,
    sample: int | None,
    bulk_timeout: float | None,
    include_phi: bool,
    launch: str | None,
    no_browser: bool,
    launch_timeout: float | None,
    quiet: bool,
) -> None:
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
