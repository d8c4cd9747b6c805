"""`ehrcheck score`: saved evidence in, reports out, with no network.

Its parameters are declared in spec.py (SCORE): typer runs it through audit.py's `score`, and
lean.py runs it directly when the command line is simple. So this module imports no typer."""

from __future__ import annotations

from pathlib import Path

from ehrcheck.cli.common import (
    err_console,
    load_packs,
    malformed_evidence,
    parse_as_of,
    parse_fail_on,
    parse_profile,
    user_errors,
)
from ehrcheck.cli.gates import apply_waiver_file, finish, load_waiver_file
from ehrcheck.cli.output import check_distinct, named_inputs, plan_outputs, require_pdf_support, write_reports


def run(
    evidence_file: Path,
    output: str | None,
    format: str | None,
    fail_under: float | None,
    as_of: str | None,
    profile: str | None,
    pdf: bool,
    force: bool,
    fail_on: str | None,
    exit_zero: bool,
    waivers: Path | None,
    pack: list[Path] | None,
    quiet: bool,
) -> None:
    from ehrcheck.engine.scorecard import score_evidence
    from ehrcheck.files.store import load_evidence

    console = err_console()
    with user_errors():
        plan_outputs(output, format, force=force, pdf=pdf)  # a bad -o or --format is named before the evidence is read
        evidence = load_evidence(evidence_file)  # first: the default folder is named after its target
        plan = plan_outputs(output, format, base_url=evidence.target.base_url, force=force, pdf=pdf)
        check_distinct(
            [("-o", o.path) for o in plan.outputs if o.path is not None],
            [("the evidence file this command reads", evidence_file), *named_inputs(None, waivers, pack)],
        )
        require_pdf_support(plan.wants_pdf)
        when = parse_as_of(as_of)
        parse_fail_on(fail_on)
        packs = load_packs(pack)
        waiver_list = load_waiver_file(waivers, packs)
        practice = parse_profile(profile)
        with malformed_evidence(evidence_file):
            result = score_evidence(evidence, when, profile=practice, extra_packs=packs)
            result, waived = apply_waiver_file(result, waiver_list)
            written = write_reports(result, plan)
    finish(result, console, quiet, fail_under, written, fail_on, exit_zero, waived)
