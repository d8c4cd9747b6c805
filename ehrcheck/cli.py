"""The `ehrcheck` command line. Thin: parse flags, call the pipeline, write files, pick the exit code.

Exit codes: 0 ok; 1 the target scored below --fail-under; 2 usage, input or configuration error,
or the target could not be reached at all. Reports go to files (or stdout with `-o -`); progress
and the summary go to stderr.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import UserInputError  # not .files: that imports the pydantic models, slowing --help

app = typer.Typer(
    name="ehrcheck",
    help="Is this health-IT product a siloed EMR or an interoperable, certifiable EHR? "
    "Probe its FHIR endpoint, score it against rule packs, write a readiness report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="List and explain the rules ehrcheck applies.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
claims_app = typer.Typer(help="Write and check the vendor claims questionnaire.", no_args_is_help=True)
app.add_typer(claims_app, name="claims")

FORMATS = ("html", "md", "json", "junit", "sarif")
DEFAULT_FORMATS = ("html", "md", "json")
# File extensions that name a format when -o is a single file.
SUFFIX_FORMAT = {"markdown": "md", "htm": "html", "xml": "junit", "sarif": "sarif", "html": "html", "md": "md", "json": "json"}
DEFAULT_OUTPUT = "ehrcheck-report"


def _err() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input into one clear line and exit 2, never a traceback."""
    try:
        yield
    except UserInputError as exc:
        from rich.markup import escape

        # Escaped (messages quote YAML such as [a, b]) and unwrapped, so file:line: stays whole.
        _err().print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # while scoring or writing: reports are written atomically, so none is half-written
        _err().print("[red]interrupted[/]")
        raise typer.Exit(130) from None


@contextlib.contextmanager
def malformed_evidence(path: Path) -> Iterator[None]:
    """Evidence edited by hand can hold shapes no probe writes: scoring it ends in one clear
    message naming the file (reports are rendered before any is written, so none is partial)."""
    try:
        yield
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        raise UserInputError(
            f"{path}: this evidence cannot be scored ({exc.__class__.__name__}); was it edited by hand? "
            "Re-run `ehrcheck probe` to gather it again"
        ) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ehrcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="EHRCHECK_DEBUG", help="Log every request and probe outcome to stderr (secrets redacted).")
    ] = False,
) -> None:
    if debug:
        import logging

        from .logs import enable_debug

        handler = enable_debug()
        ctx.call_on_close(lambda: logging.getLogger("ehrcheck").removeHandler(handler))


# ---- shared option parsing -------------------------------------------------------------------


def parse_formats(value: str | None) -> list[str]:
    if not value:
        return list(DEFAULT_FORMATS)
    out: list[str] = []
    for part in value.replace(" ", "").split(","):
        part = {"markdown": "md", "htm": "html"}.get(part.lower(), part.lower())
        if part not in FORMATS:
            raise UserInputError(f"--format: unknown format '{part}'; choose from {', '.join(FORMATS)}")
        if part not in out:
            out.append(part)
    return out


def parse_as_of(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"--as-of: '{value}' is not a date like 2026-01-31") from None


def plan_outputs(output: str | None, fmt_option: str | None) -> tuple[list[tuple[str, Path | None]], Path | None]:
    """Decide where each format goes. Returns ([(format, path or None for stdout)], directory)."""
    formats = parse_formats(fmt_option)
    if output == "-":
        if len(formats) != 1:
            raise UserInputError("-o -: writing to stdout needs exactly one --format (html, md or json)")
        return [(formats[0], None)], None
    target = Path(output or DEFAULT_OUTPUT)
    suffix = SUFFIX_FORMAT.get(target.suffix.lower().lstrip("."))
    if suffix is not None and not target.is_dir():
        if fmt_option is None:
            formats = [suffix]
        if len(formats) != 1:
            raise UserInputError(f"-o {target}: a single file takes one format; give a folder for several")
        return [(formats[0], target)], None
    if target.exists() and not target.is_dir():
        raise UserInputError(f"-o {target}: exists and is not a folder")
    from .render import RENDERERS

    return [(f, target / f"report.{RENDERERS[f].extension}") for f in formats], target


def write_reports(result, plan: list[tuple[str, Path | None]]) -> list[Path]:
    from .files import write_atomic
    from .render import RENDERERS

    written = []
    texts = [(RENDERERS[fmt].fn(result), path) for fmt, path in plan]  # all rendered before any is written
    for text, path in texts:
        if path is None:
            sys.stdout.write(text)
        else:
            write_atomic(path, text)
            written.append(path)
    return written


def require_pdf_support(pdf: bool) -> None:
    """Fail before probing or writing anything when --pdf cannot be honoured."""
    if pdf:
        from .pdf import PdfUnavailable, find_chromium

        try:
            find_chromium()
        except PdfUnavailable as exc:
            raise UserInputError(f"--pdf: {exc}") from None


def write_pdf(result, plan: list[tuple[str, Path | None]], folder: Path | None) -> Path:
    """Print the HTML report to PDF beside the other outputs (Chromium must be installed)."""
    from .files import write_atomic
    from .pdf import PdfUnavailable, html_to_pdf
    from .render import RENDERERS

    html = next((p for f, p in plan if f == "html" and p is not None), None)
    if folder is not None:
        target = folder / "report.pdf"
    elif plan[0][1] is not None:
        target = plan[0][1].with_suffix(".pdf")
    else:
        target = Path("report.pdf")
    try:
        if html is None:  # PDF asked for without HTML: render a private copy to print
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                html = Path(tmp) / "report.html"
                write_atomic(html, RENDERERS["html"].fn(result))
                html_to_pdf(html, target)
        else:
            html_to_pdf(html, target)
    except PdfUnavailable as exc:
        raise UserInputError(f"--pdf: {exc}") from None
    except RuntimeError as exc:
        raise UserInputError(f"--pdf: {exc}") from None
    return target


def http_options(timeout: float, ca_bundle: Path | None):
    from .http import HttpOptions

    if timeout <= 0:
        raise UserInputError("--timeout must be more than 0 seconds")
    verify: bool | str = True
    if ca_bundle is not None:
        if not ca_bundle.is_file():
            raise UserInputError(f"--ca-bundle {ca_bundle}: no such file")
        verify = str(ca_bundle)
    return HttpOptions(timeout=timeout, verify=verify)


def gather(base_url: str, options, console: Console, quiet: bool, label: str | None = None, extra_probes=None, settings=None, secrets=None,
           *, include_phi: bool = False, partial_to: Path | None = None, claims=None):
    """Run the probes (plus `extra_probes`, given their `settings`) with live progress on stderr.

    On Ctrl-C the attempts that finished are kept: written (atomically, with `claims`) to
    `partial_to` when given, and the command exits 130 without writing any report."""
    import asyncio

    from .probes.runner import assemble, collect, normalise_base_url, now_iso, probe_ids
    from .redact import Secrets, redact_url
    from .terminal import probe_line

    if not base_url.startswith(("http://", "https://")):
        raise UserInputError(f"BASE_URL '{base_url}' must start with http:// or https://")
    secrets = secrets if secrets is not None else Secrets()
    secrets.add_url(base_url)
    secrets.add_settings(settings)
    if include_phi:
        settings = {**(settings or {}), "include_phi": True}
        console.print("[bold yellow]warning:[/] --include-phi: patient data the probes see will be kept in the evidence; "
                      "treat the evidence file as PHI under HIPAA and do not share it.", highlight=False)
    if not quiet:
        console.print(f"Probing [bold]{redact_url(normalise_base_url(base_url))}[/] …", highlight=False)
    finished: dict = {}
    started = now_iso()

    def on_done(probe_id, attempt):
        finished[probe_id] = attempt
        if not quiet:  # a reason may quote what a server echoed back: scrub before printing
            probe_line(console, probe_id, attempt.model_copy(update={"reason": secrets.scrub(attempt.reason or "") or None}))

    try:
        if quiet:
            return asyncio.run(collect(base_url, options, on_done=on_done, label=label, extra_probes=extra_probes, settings=settings, secrets=secrets))
        # The authenticated probes run for minutes: they bring a progress bar in place of the spinner.
        display = (settings or {}).get("progress") or console.status("probing (metadata, SMART, OpenID, access control, TLS) …")
        with display:
            return asyncio.run(collect(base_url, options, on_done=on_done, label=label, extra_probes=extra_probes, settings=settings, secrets=secrets))
    except KeyboardInterrupt:
        note = ""
        if partial_to is not None:
            from .files import evidence_text, write_atomic

            partial = assemble(base_url, options, probe_ids(extra_probes), finished, started, label, secrets)
            partial.claims = claims
            write_atomic(partial_to, evidence_text(partial))
            note = f"; kept the evidence of {len(finished)} finished probe(s) in {partial_to}, no report written"
        console.print(f"[red]interrupted[/]{note}", highlight=False)
        raise typer.Exit(130) from None


def certification_setup(chpl_id, chpl_file, chpl_url, endpoints_bundle, endpoints_sample, claims_data, claims_path):
    """The CHPL and service-base-URL probes the flags ask for; the API key comes from the
    environment only (CHPL_API_KEY), never from a flag."""
    import os

    from .certification_inputs import certification_inputs

    return certification_inputs(
        chpl_ids=chpl_id, chpl_file=chpl_file, chpl_url=chpl_url, endpoints_bundle=endpoints_bundle,
        endpoints_sample=endpoints_sample, claims=claims_data, claims_path=claims_path, environ=dict(os.environ),
    )


def chpl_key_problem(evidence) -> str | None:
    from .probes.chpl import api_key_problem

    return api_key_problem(evidence)


def unreachable_reason(evidence) -> str | None:
    avail = evidence.probes.get("availability")
    if avail and not avail.data.get("reachable"):
        return avail.reason or "the server did not answer"
    return None


def parse_fail_on(value: str | None):
    from .gates import parse_severity

    if not value:
        return None
    try:
        return parse_severity(value)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None


def load_packs(paths: list[Path] | None):
    """Custom rule packs from --pack, checked before any probing starts."""
    from .custom_packs import load_custom_packs

    return load_custom_packs(paths or [])


def load_waiver_file(path: Path | None, packs) -> list:
    from .rules.schema import all_rules
    from .waivers import check_rules_exist, load_waivers

    if path is None:
        return []
    waivers = load_waivers(path)
    check_rules_exist(waivers, {r.id for r in all_rules()} | {r.id for p in packs for r in p.rules})
    return waivers


def apply_waiver_file(result, waivers: list):
    """Mark waived findings (they stay in every report); None when no waiver file was given."""
    if not waivers:
        return result, None
    from .waivers import apply_waivers

    outcome = apply_waivers(result, waivers, dt.date.today())
    return outcome.result, outcome


def finish(
    result,
    console: Console,
    quiet: bool,
    fail_under: float | None,
    written: list[Path],
    fail_on: str | None = None,
    exit_zero: bool = False,
    waived=None,
) -> None:
    """Summary on stderr, then the CI gates: exit 1 when one fails, unless --exit-zero."""
    from .gates import gate_failures
    from .terminal import summary

    if not quiet:
        summary(console, result)
        for path in written:
            console.print(f"wrote {path}")
    reasons = gate_failures(result, fail_under, parse_fail_on(fail_on))
    if waived is not None:
        for w in waived.unused:
            console.print(f"[yellow]warning:[/] {w.source}: waiver for {w.describe()} matched no failing finding; remove it if the problem is fixed", highlight=False)
        for w in waived.expired:
            reasons.append(f"waiver for {w.describe()} ({w.source}) expired on {w.expires.isoformat()}: renew it with a new date and reason, or fix the finding")
        if waived.waived and not quiet:
            console.print(f"waived (still in the report): {', '.join(waived.waived)}", highlight=False)
    for reason in reasons:
        console.print(f"[red]{reason}[/]", highlight=False)
    if reasons:
        if exit_zero:
            console.print("--exit-zero: exiting 0 although a gate failed", highlight=False)
            return
        raise typer.Exit(1)


TimeoutOpt = Annotated[float, typer.Option("--timeout", envvar="EHRCHECK_TIMEOUT", help="Seconds per request.")]
CaOpt = Annotated[
    Optional[Path],
    typer.Option("--ca-bundle", envvar="EHRCHECK_CA_BUNDLE", help="PEM file of CA certificates to trust (e.g. a corporate proxy)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
IncludePhiOpt = Annotated[
    bool,
    typer.Option("--include-phi", help="Keep patient data the probes see (ids, up to 5 resources) in the evidence. Off by default: only counts, element names and hashed ids are kept."),
]
PdfOpt = Annotated[bool, typer.Option("--pdf", envvar="EHRCHECK_PDF", help="Also print the HTML report to report.pdf (needs Chromium).")]
OutputOpt = Annotated[
    Optional[str],
    typer.Option("--output", "-o", envvar="EHRCHECK_OUTPUT", help=f"Folder for several formats, a file (.html/.md/.json), or - for stdout. Default: ./{DEFAULT_OUTPUT}/"),
]
FormatOpt = Annotated[
    Optional[str],
    typer.Option("--format", "-f", envvar="EHRCHECK_FORMAT", help="html, md, json, junit, sarif, or several: html,md,json (the default)."),
]
FailOnOpt = Annotated[
    Optional[str],
    typer.Option("--fail-on", envvar="EHRCHECK_FAIL_ON", help="Exit 1 when a finding of this severity or worse fails: critical, high, medium, low or info (waived findings excepted)."),
]
ExitZeroOpt = Annotated[
    bool,
    typer.Option("--exit-zero", envvar="EHRCHECK_EXIT_ZERO", help="Exit 0 even when --fail-under, --fail-on or an expired waiver fails (errors still exit 2)."),
]
WaiversOpt = Annotated[
    Optional[Path],
    typer.Option("--waivers", envvar="EHRCHECK_WAIVERS", help="YAML file of accepted findings (rule, target, reason, expires); see docs/ci.md."),
]
ChplIdOpt = Annotated[
    Optional[list[str]],
    typer.Option("--chpl-id", envvar="EHRCHECK_CHPL_ID", help="The product's CHPL product number, e.g. 15.04.04.1932.WebC.84.01.0.221117 (repeatable). Looked up with the key in CHPL_API_KEY."),
]
ChplFileOpt = Annotated[
    Optional[Path],
    typer.Option("--chpl-file", envvar="EHRCHECK_CHPL_FILE", help="A CHPL JSON document (a listing's details, or search results) to use instead of the CHPL API."),
]
ChplUrlOpt = Annotated[
    Optional[str],
    typer.Option("--chpl-url", envvar="EHRCHECK_CHPL_URL", help="CHPL API base URL (default https://chpl.healthit.gov/rest)."),
]
EndpointsBundleOpt = Annotated[
    Optional[str],
    typer.Option("--endpoints-bundle", envvar="EHRCHECK_ENDPOINTS_BUNDLE", help="The vendor's service-base-URL Bundle, a URL or a file (default: the list the CHPL listing links)."),
]
EndpointsSampleOpt = Annotated[
    int,
    typer.Option("--endpoints-sample", envvar="EHRCHECK_ENDPOINTS_SAMPLE", help="How many listed addresses to ask for /metadata (0: none)."),
]
PackOpt = Annotated[
    Optional[list[Path]],
    typer.Option("--pack", envvar="EHRCHECK_PACK", help="A custom rule pack (YAML, same schema as the built-in packs; see docs/packs.md). Repeatable."),
]
FailUnderOpt = Annotated[
    Optional[float],
    typer.Option("--fail-under", envvar="EHRCHECK_FAIL_UNDER", min=0, max=100, help="Exit 1 when the overall score is below N."),
]
AsOfOpt = Annotated[
    Optional[str],
    typer.Option("--as-of", envvar="EHRCHECK_AS_OF", help="Judge against the rules in force on this date (YYYY-MM-DD). Default: the day the evidence was gathered."),
]
ProfileOpt = Annotated[
    Optional[str],
    typer.Option("--profile", envvar="EHRCHECK_PROFILE", help="Practice profile: solo, small-group, multi-specialty, hospital, fqhc, behavioral-health (default: general weights)."),
]


def parse_profile(value: str | None) -> str:
    from .profiles import get_profile

    try:
        return get_profile(value or "default").name
    except ValueError as exc:
        raise UserInputError(f"--profile: {exc}") from None


def auth_setup(credentials, patients, us_core, sample, bulk_timeout, claims_data, claims_path, console: Console, quiet: bool):
    """The authenticated probes, when credentials are given (file or EHRCHECK_* variables)."""
    from .auth_inputs import authenticated_inputs

    auth = authenticated_inputs(credentials, patients, us_core, sample, bulk_timeout, claims_data, claims_path)
    if auth.probes and not quiet:
        from .progress_bar import ProbeProgress

        auth.settings["progress"] = ProbeProgress(console)
    return auth


CredentialsOpt = Annotated[
    Optional[Path],
    typer.Option("--credentials", envvar="EHRCHECK_CREDENTIALS", help="YAML file with client_id and private_key_file (or client_secret, or bearer_token): runs the authenticated probes. See docs/authenticated.md."),
]
PatientOpt = Annotated[
    Optional[list[str]],
    typer.Option("--patient", metavar="ID", help="A test patient id for the US Core data checks (repeatable). Default: the vendor's claimed test patients, else the first found by search."),
]
UsCoreOpt = Annotated[
    Optional[str],
    typer.Option("--us-core", envvar="EHRCHECK_US_CORE", help="Which US Core profiles to test: declared (default: those the server lists) or all (every USCDI profile)."),
]
SampleOpt = Annotated[
    Optional[int],
    typer.Option("--sample", envvar="EHRCHECK_SAMPLE", help="Test at most N patients (and 20×N resources per type). Default 3."),
]
BulkTimeoutOpt = Annotated[
    Optional[float],
    typer.Option("--bulk-timeout", envvar="EHRCHECK_BULK_TIMEOUT", help="Seconds to wait for a Bulk Data export to complete. Default 120."),
]


def probe_evidence(
    base_url: str,
    *,
    console: Console,
    quiet: bool,
    timeout: float,
    ca_bundle: Path | None,
    claims: Path | None,
    label: str | None,
    chpl_id, chpl_file, chpl_url, endpoints_bundle, endpoints_sample,
    credentials, patient, us_core, sample, bulk_timeout,
    include_phi: bool,
    partial_to: Path | None,
):
    """What `audit` and `probe` share: validate every probe input, then gather the evidence.
    Inputs are all checked before the first request, so a typo never costs a half-run."""
    from .files import load_claims

    claims_data = load_claims(claims) if claims else None
    options = http_options(timeout, ca_bundle)
    cert = certification_setup(chpl_id, chpl_file, chpl_url, endpoints_bundle, endpoints_sample, claims_data, claims)
    auth = auth_setup(credentials, patient, us_core, sample, bulk_timeout, claims_data, claims, console, quiet)
    evidence = gather(
        base_url, options, console, quiet, label,
        {**cert.probes, **auth.probes}, {**cert.settings, **auth.settings}, auth.secrets,
        include_phi=include_phi, partial_to=partial_to, claims=claims_data,
    )
    evidence.claims = claims_data
    return evidence


def exit_if_unusable(evidence, console: Console, saved_to: Path | None) -> None:
    """Exit 2 when the target never answered, or CHPL refused the API key: nothing to score."""
    from rich.markup import escape

    reason = unreachable_reason(evidence)
    problem = f"{evidence.target.base_url} could not be reached: {reason}" if reason else chpl_key_problem(evidence)
    if problem:
        saved = f" (evidence saved to {saved_to})" if saved_to else ""
        console.print(f"[bold red]error:[/] {escape(problem)}{saved}", highlight=False)
        raise typer.Exit(2)


# ---- commands --------------------------------------------------------------------------------


@app.command()
def audit(
    base_url: Annotated[str, typer.Argument(help="The FHIR service base URL, e.g. https://fhir.vendor.example/r4")],
    output: OutputOpt = None,
    format: FormatOpt = None,
    fail_under: FailUnderOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_of: AsOfOpt = None,
    profile: ProfileOpt = None,
    claims: Annotated[Optional[Path], typer.Option("--claims", envvar="EHRCHECK_CLAIMS", help="YAML file of the vendor's claims (see `ehrcheck claims init`).")] = None,
    evidence_path: Annotated[Optional[Path], typer.Option("--evidence", help="Also save the evidence here (default: evidence.json beside the reports).")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Name to show for the product in reports.")] = None,
    ca_bundle: CaOpt = None,
    pdf: PdfOpt = False,
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
    sample: SampleOpt = None,
    bulk_timeout: BulkTimeoutOpt = None,
    include_phi: IncludePhiOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Probe an endpoint, score it and write the readiness report (probe + score in one step)."""
    from .files import evidence_text, write_atomic
    from .models import Evidence
    from .scorecard import score_evidence

    console = _err()
    with user_errors():
        plan, folder = plan_outputs(output, format)
        require_pdf_support(pdf)
        when = parse_as_of(as_of)
        parse_fail_on(fail_on)
        packs = load_packs(pack)
        waiver_list = load_waiver_file(waivers, packs)
        practice = parse_profile(profile)
        if evidence_path is None:
            if folder is not None:
                evidence_path = folder / "evidence.json"
            elif plan[0][1] is not None:
                evidence_path = plan[0][1].with_name(plan[0][1].stem + ".evidence.json")
        evidence = probe_evidence(
            base_url, console=console, quiet=quiet, timeout=timeout, ca_bundle=ca_bundle, claims=claims, label=label,
            chpl_id=chpl_id, chpl_file=chpl_file, chpl_url=chpl_url, endpoints_bundle=endpoints_bundle,
            endpoints_sample=endpoints_sample, credentials=credentials, patient=patient, us_core=us_core,
            sample=sample, bulk_timeout=bulk_timeout, include_phi=include_phi, partial_to=evidence_path,
        )
        text = evidence_text(evidence)
        if evidence_path is not None:
            write_atomic(evidence_path, text)
        exit_if_unusable(evidence, console, evidence_path)
        # Score the round-tripped document, exactly as `ehrcheck score` would read it from disk.
        import json

        result = score_evidence(Evidence.model_validate(json.loads(text)), when, profile=practice, extra_packs=packs)
        result, waived = apply_waiver_file(result, waiver_list)
        written = write_reports(result, plan)
        if pdf:
            written.append(write_pdf(result, plan, folder))
    finish(result, console, quiet, fail_under, ([evidence_path] if evidence_path else []) + written, fail_on, exit_zero, waived)


@app.command()
def probe(
    base_url: Annotated[str, typer.Argument(help="The FHIR service base URL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the evidence JSON.")] = Path("evidence.json"),
    timeout: TimeoutOpt = 10.0,
    claims: Annotated[Optional[Path], typer.Option("--claims", envvar="EHRCHECK_CLAIMS", help="YAML file of the vendor's claims, stored in the evidence.")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Name to show for the product in reports.")] = None,
    ca_bundle: CaOpt = None,
    chpl_id: ChplIdOpt = None,
    chpl_file: ChplFileOpt = None,
    chpl_url: ChplUrlOpt = None,
    endpoints_bundle: EndpointsBundleOpt = None,
    endpoints_sample: EndpointsSampleOpt = 5,
    credentials: CredentialsOpt = None,
    patient: PatientOpt = None,
    us_core: UsCoreOpt = None,
    sample: SampleOpt = None,
    bulk_timeout: BulkTimeoutOpt = None,
    include_phi: IncludePhiOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Gather evidence only, to score later (offline, or under other rules) with `ehrcheck score`."""
    from .files import evidence_text, write_atomic

    console = _err()
    with user_errors():
        if output.exists() and output.is_dir():
            raise UserInputError(f"-o {output}: is a folder; give a file name such as evidence.json")
        evidence = probe_evidence(
            base_url, console=console, quiet=quiet, timeout=timeout, ca_bundle=ca_bundle, claims=claims, label=label,
            chpl_id=chpl_id, chpl_file=chpl_file, chpl_url=chpl_url, endpoints_bundle=endpoints_bundle,
            endpoints_sample=endpoints_sample, credentials=credentials, patient=patient, us_core=us_core,
            sample=sample, bulk_timeout=bulk_timeout, include_phi=include_phi, partial_to=output,
        )
        write_atomic(output, evidence_text(evidence))
    if not quiet:
        console.print(f"wrote {output}")
    exit_if_unusable(evidence, console, output)


@app.command()
def score(
    evidence_file: Annotated[Path, typer.Argument(help="Evidence JSON written by `ehrcheck probe` or `audit`.")],
    output: OutputOpt = None,
    format: FormatOpt = None,
    fail_under: FailUnderOpt = None,
    as_of: AsOfOpt = None,
    profile: ProfileOpt = None,
    pdf: PdfOpt = False,
    fail_on: FailOnOpt = None,
    exit_zero: ExitZeroOpt = False,
    waivers: WaiversOpt = None,
    pack: PackOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score saved evidence: no network, same findings as the audit that gathered it."""
    from .files import load_evidence
    from .scorecard import score_evidence

    console = _err()
    with user_errors():
        plan, folder = plan_outputs(output, format)
        require_pdf_support(pdf)
        when = parse_as_of(as_of)
        parse_fail_on(fail_on)
        packs = load_packs(pack)
        waiver_list = load_waiver_file(waivers, packs)
        practice = parse_profile(profile)
        evidence = load_evidence(evidence_file)
        with malformed_evidence(evidence_file):
            result = score_evidence(evidence, when, profile=practice, extra_packs=packs)
            result, waived = apply_waiver_file(result, waiver_list)
            written = write_reports(result, plan)
        if pdf:
            written.append(write_pdf(result, plan, folder))
    finish(result, console, quiet, fail_under, written, fail_on, exit_zero, waived)


@claims_app.command("init")
def claims_init(
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write the questionnaire, or - for stdout.")] = "vendor.yaml",
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
) -> None:
    """Write the vendor claims questionnaire: every question, commented, for the vendor to answer."""
    from .claims.template import questionnaire
    from .files import write_atomic

    with user_errors():
        text = questionnaire()
        if output == "-":
            sys.stdout.write(text)
            return
        path = Path(output)
        if path.is_dir():
            raise UserInputError(f"-o {path}: is a folder; give a file name such as vendor.yaml")
        if path.exists() and not force:
            raise UserInputError(f"{path}: already exists; ehrcheck will not overwrite it (use --force, or -o another file)")
        write_atomic(path, text)
    _err().print(f"wrote {path}: send it to the vendor, then check the answers with `ehrcheck claims check {path}`")


@claims_app.command("check")
def claims_check(
    file: Annotated[Path, typer.Argument(help="A claims YAML file (from `ehrcheck claims init`, answered by the vendor).")],
) -> None:
    """Validate a claims file: unknown fields, wrong types, impossible dates, malformed CHPL numbers."""
    from .claims.load import answered, load_claims_file
    from .files import load_claims

    with user_errors():
        load_claims(file, dt.date.today())  # every problem as file:line: field: message; fix
        done, total = answered(load_claims_file(file, dt.date.today()))
    typer.echo(f"{file}: valid claims file; {done} of {total} questions answered.")


@rules_app.command("list")
def rules_list(
    pack: Annotated[Optional[str], typer.Option("--pack", help="Only this pack (interoperability, portal, certification, hipaa).")] = None,
) -> None:
    """List every rule: id, severity, weight and title."""
    from rich.table import Table

    from .rules.schema import builtin_packs

    packs = builtin_packs()
    if pack and pack not in {p.pack for p in packs}:
        _err().print(f"[bold red]error:[/] --pack: unknown pack '{pack}'; choose from {', '.join(p.pack for p in packs)}")
        raise typer.Exit(2)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("Rule", "Pack", "Severity", "Weight", "Title"):
        table.add_column(col)
    count = 0
    for p in packs:
        if pack and p.pack != pack:
            continue
        for r in p.rules:
            table.add_row(r.id, p.pack, r.severity.value, f"{r.weight:g}", r.title)
            count += 1
    out = Console(highlight=False)
    out.print(table)
    out.print(f"{count} rules")


@rules_app.command("explain")
def rules_explain(rule_id: Annotated[str, typer.Argument(help="A rule id such as INT-002.")]) -> None:
    """Explain one rule: what it checks, why, how to fix it, what to ask the vendor."""
    from .rules.schema import all_rules, find_rule

    rule = find_rule(rule_id)
    if rule is None:
        prefix = rule_id.strip().upper()[:3]
        near = [r.id for r in all_rules() if r.id.startswith(prefix)][:8]
        hint = f"; rules in that pack: {', '.join(near)}" if near else "; see `ehrcheck rules list`"
        _err().print(f"[bold red]error:[/] no rule '{rule_id}'{hint}")
        raise typer.Exit(2)
    out = Console(highlight=False)
    out.print(f"[bold]{rule.id}[/] — {rule.title}")
    out.print(f"pack {rule.pack} · severity {rule.severity.value} · weight {rule.weight:g}"
              + (f" · decides the verdict ({rule.gate})" if rule.gate else ""))
    out.print(f"evidence: {', '.join(rule.needs)}")
    if rule.effective or rule.expires:
        out.print("in force: " + " ".join(p for p in (f"from {rule.effective}" if rule.effective else "",
                                                    f"until {rule.expires}" if rule.expires else "") if p))
    if rule.claim:
        out.print(f"judges the vendor claim: {rule.claim}")
    check = rule.check.model_dump(exclude_none=True, exclude_defaults=True)
    out.print(f"check: {check}")
    out.print(f"\n[green]pass:[/] {rule.pass_message}\n[red]{rule.fail_status}:[/] {rule.fail_message}")
    out.print(f"\n[bold]Fix:[/] {rule.remediation}")
    out.print(f"[bold]Ask the vendor:[/] {rule.vendor_question}")
    out.print("[bold]Basis:[/] " + "; ".join(ref.cite + (f" <{ref.url}>" if ref.url else "") for ref in rule.references))


@app.command()
def demo(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the demo reports.")] = Path("ehrcheck-demo"),
    format: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Audit three fictional vendors served on loopback and write their reports. No network needed."""
    from .demo import run_demo

    console = _err()
    with user_errors():
        formats = parse_formats(format)
        try:
            results = run_demo(output, formats=tuple(formats), console=None if quiet else console)
        except ValueError as exc:
            raise UserInputError(str(exc)) from None
    if not quiet:
        from rich.table import Table

        table = Table(show_edge=False, pad_edge=False, title="Demo vendors", title_justify="left")
        for col in ("Vendor", "Verdict", "Score", "Report"):
            table.add_column(col)
        for r in results:
            table.add_row(r.name, r.verdict, "–" if r.score is None else f"{r.score:.0f}", str(r.paths[0]) if r.paths else "")
        console.print(table)
        console.print(f"wrote {output / 'index.md'}")


COMPARE_SUFFIX = {"html": "html", "htm": "html", "md": "md", "markdown": "md", "json": "json"}


def _runs(paths: list[Path], packs, as_of, profile):
    from .runs import load_run

    return [load_run(p, packs, as_of, profile or "default") for p in paths]


def _pick_profile(profile: str | None, results) -> str:
    from .scoring import PROFILES

    chosen = profile or (results[0].profile if results and len({r.profile for r in results}) == 1 else "default")
    if chosen not in PROFILES:
        raise UserInputError(f"--profile: unknown profile '{chosen}'; choose from {', '.join(PROFILES)}")
    return chosen


@app.command()
def compare(
    runs: Annotated[list[Path], typer.Argument(help="Two or more runs: report.json files (--format json), evidence files, or audit output folders.")],
    output: Annotated[str, typer.Option("--output", "-o", help="comparison.html, .md or .json, or - for stdout (then give --format).")] = "comparison.html",
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="html, md or json (default: from the -o extension).")] = None,
    profile: Annotated[Optional[str], typer.Option("--profile", envvar="EHRCHECK_PROFILE", help="Practice profile to rank under (default: the one the runs were scored under).")] = None,
    as_of: AsOfOpt = None,
    pack: PackOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare vendors side by side: verdicts, scores, capabilities and every rule, ranked for a practice."""
    from .compare import compare as build
    from .files import write_atomic
    from .render.comparison import COMPARISON_RENDERERS

    console = _err()
    with user_errors():
        if len(runs) < 2:
            raise UserInputError("compare needs at least two runs (report.json files, evidence files or audit folders)")
        fmt = (format or "").lower() or COMPARE_SUFFIX.get(Path(output).suffix.lower().lstrip("."), "")
        fmt = COMPARE_SUFFIX.get(fmt, fmt)
        if fmt not in COMPARISON_RENDERERS:
            raise UserInputError(f"--format: give html, md or json (or an -o file ending in .html, .md or .json), not '{fmt or output}'")
        target = None if output == "-" else Path(output)
        if target is not None and any(target.resolve() == Path(p).resolve() for p in runs):
            raise UserInputError(f"-o {target}: is one of the runs being compared; choose another file")
        loaded = _runs(runs, load_packs(pack), parse_as_of(as_of), profile)
        chosen = _pick_profile(profile, [r.result for r in loaded])
        comparison = build([r.result for r in loaded], chosen, sources=[str(r.path) for r in loaded])
        text = COMPARISON_RENDERERS[fmt](comparison)
        if target is None:
            sys.stdout.write(text)
        else:
            write_atomic(target, text)
    if not quiet:
        for col in comparison.columns:
            score = "–" if col.overall.score is None else f"{col.overall.score:.0f}"
            console.print(f"  {col.rank}. {col.name}: {col.verdict_label}, overall {score}", highlight=False)
        if target is not None:
            console.print(f"wrote {target}")


@app.command("diff")
def diff_cmd(
    old: Annotated[Path, typer.Argument(help="The earlier run: report.json, evidence file or audit folder.")],
    new: Annotated[Path, typer.Argument(help="The later run, same kinds.")],
    output: Annotated[str, typer.Option("--output", "-o", help="File to write (.md or .json), or - for stdout.")] = "-",
    format: Annotated[Optional[str], typer.Option("--format", "-f", help="md or json (default: from the -o extension, else md).")] = None,
    as_of: AsOfOpt = None,
    pack: PackOpt = None,
    fail_on_regression: Annotated[bool, typer.Option("--fail-on-regression", envvar="EHRCHECK_FAIL_ON_REGRESSION", help="Exit 1 when a rule's status got worse.")] = False,
    exit_zero: ExitZeroOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """What changed between two runs: verdict, scores, rule statuses and the capability fingerprint."""
    from .diff import diff_runs, render_diff_json, render_diff_markdown
    from .files import write_atomic

    console = _err()
    with user_errors():
        suffix = Path(output).suffix.lower().lstrip(".") if output != "-" else ""
        fmt = (format or {"json": "json"}.get(suffix, "md")).lower()
        fmt = {"markdown": "md"}.get(fmt, fmt)
        if fmt not in ("md", "json"):
            raise UserInputError(f"--format: give md or json, not '{fmt}'")
        packs = load_packs(pack)
        when = parse_as_of(as_of)
        a, b = _runs([old, new], packs, when, None)
        d = diff_runs(a.result, b.result, a.evidence, b.evidence)
        text = render_diff_json(d) if fmt == "json" else render_diff_markdown(d)
        if output == "-":
            sys.stdout.write(text)
        else:
            write_atomic(Path(output), text)
    if not quiet:
        console.print(f"{len(d.statuses)} rule status change(s), {len(d.regressions)} regression(s)" + (f"; wrote {output}" if output != "-" else ""), highlight=False)
    if fail_on_regression and d.regressions:
        console.print(f"[red]{len(d.regressions)} rule(s) regressed: {', '.join(c.rule_id for c in d.regressions)}[/]", highlight=False)
        if not exit_zero:
            raise typer.Exit(1)


@app.command()
def scan(
    endpoint_list: Annotated[Path, typer.Argument(metavar="LIST", help="A FHIR Endpoint Bundle (JSON), a CSV with a url column, or a text file with one URL per line.")],
    output: Annotated[Path, typer.Option("--output", "-o", envvar="EHRCHECK_OUTPUT", help="Folder for results.jsonl, index.html and (with --keep-evidence) evidence/.")] = Path("ehrcheck-scan"),
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted scan in the same folder: audit only endpoints not yet in results.jsonl.")] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", envvar="EHRCHECK_CONCURRENCY", min=1, max=512, help="Audits running at once.")] = 16,
    per_host: Annotated[int, typer.Option("--per-host", envvar="EHRCHECK_PER_HOST", min=1, max=512, help="Audits running at once against one host:port.")] = 4,
    timeout: TimeoutOpt = 10.0,
    as_of: AsOfOpt = None,
    profile: Annotated[Optional[str], typer.Option("--profile", envvar="EHRCHECK_PROFILE", help="Practice profile for the overall scores.")] = None,
    pack: PackOpt = None,
    keep_evidence: Annotated[bool, typer.Option("--keep-evidence", help="Also save each endpoint's evidence under evidence/, to re-score or diff later.")] = False,
    ca_bundle: CaOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Audit every endpoint of a directory concurrently; results stream to JSONL, resumable."""
    import asyncio
    import ssl

    from . import __version__
    from .endpoint_list import check_list, iter_endpoints
    from .render.scan_report import write_scan_overview
    from .rules.schema import all_rules
    from .scan import ScanOptions, open_results, run_scan, totals
    from .scan_terminal import scan_progress, scan_summary

    console = _err()
    shown = 0

    def warn(message: str) -> None:
        nonlocal shown
        shown += 1
        if not quiet and shown <= 20:
            from rich.markup import escape

            # Escaped: a junk line such as "[/b]" is the list's text, not markup (it would crash rich).
            console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)

    with user_errors():
        packs = load_packs(pack)
        when = parse_as_of(as_of)
        chosen = _pick_profile(profile, [])
        http_options(timeout, ca_bundle)  # validates both
        if not endpoint_list.is_file():
            raise UserInputError(f"{endpoint_list}: no such file")
        listed = check_list(endpoint_list, warn)
        results, done = open_results(output, resume, warn)
        if shown > 20 and not quiet:
            console.print(f"[yellow]… and {shown - 20} more warnings about the list[/]", highlight=False)
        remaining = sum(1 for e in iter_endpoints(endpoint_list, lambda _m: None) if e.url not in done) if done else listed.endpoints
        verify = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else ssl.create_default_context()
        options = ScanOptions(concurrency=concurrency, per_host=per_host, timeout=timeout, as_of=when, profile=chosen, packs=packs, keep_evidence=keep_evidence, verify=verify)
        if not quiet:
            console.print(f"Scanning {remaining} of {listed.endpoints} endpoints from {endpoint_list} ({concurrency} at once, {per_host} per host) …", highlight=False)
        interrupted = False
        with results.open("a", encoding="utf-8") as fh, scan_progress(console, remaining, quiet) as advance:
            try:
                asyncio.run(run_scan(iter_endpoints(endpoint_list, lambda _m: None), fh, output, options, done, on_record=advance))
            except KeyboardInterrupt:
                interrupted = True
        stats = totals(results)
        titles = {r.id: r.title for r in all_rules()} | {r.id: r.title for p in packs for r in p.rules}
        meta = {"version": __version__, "list": endpoint_list.name, "profile": chosen, "results": results.name, "skipped_list": listed.warnings, "keep_evidence": keep_evidence}
        write_scan_overview(results, output / "index.html", stats, titles, meta)
    if not quiet:
        scan_summary(console, stats, titles)
        console.print(f"wrote {results} and {output / 'index.html'}")
    if interrupted:
        console.print(f"[red]interrupted[/] after {stats.done} of {listed.endpoints} endpoints; run the same command with --resume to finish", highlight=False)
        raise typer.Exit(130)


@rules_app.command("check")
def rules_check(
    files: Annotated[list[Path], typer.Argument(help="Custom rule pack YAML files (the --pack schema, see docs/packs.md).")],
) -> None:
    """Validate custom rule packs and list their rules; exit 2 with located errors when one is malformed."""
    from rich.table import Table

    with user_errors():
        packs = load_packs(files)
    out = Console(highlight=False)
    table = Table(show_edge=False, pad_edge=False)
    for col in ("Rule", "Pack", "Severity", "Weight", "Title"):
        table.add_column(col)
    for p in packs:
        for r in p.rules:
            table.add_row(r.id, p.pack, r.severity.value, f"{r.weight:g}", r.title)
    out.print(table)
    out.print(f"{sum(len(p.rules) for p in packs)} rules in {len(packs)} custom pack(s): OK")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
