"""The `ehrcheck` command line. Thin: parse flags, call the pipeline, write files, pick the exit code.

Exit codes: 0 ok; 1 the target scored below --fail-under; 2 usage, input or configuration error,
or the target could not be reached at all. Reports go to files (or stdout with `-o -`); progress
and the summary go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from . import __version__
from .files import UserInputError

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

FORMATS = ("html", "md", "json")
DEFAULT_OUTPUT = "ehrcheck-report"


def _err() -> Console:
    return Console(stderr=True, highlight=False)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input into one clear line and exit 2, never a traceback."""
    try:
        yield
    except UserInputError as exc:
        _err().print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ehrcheck {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


# ---- shared option parsing -------------------------------------------------------------------


def parse_formats(value: str | None) -> list[str]:
    if not value:
        return list(FORMATS)
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
    suffix = target.suffix.lower().lstrip(".")
    suffix = {"markdown": "md", "htm": "html"}.get(suffix, suffix)
    if suffix in FORMATS and not target.is_dir():
        if fmt_option is None:
            formats = [suffix]
        if len(formats) != 1:
            raise UserInputError(f"-o {target}: a single file takes one format; give a folder for several")
        return [(formats[0], target)], None
    if target.exists() and not target.is_dir():
        raise UserInputError(f"-o {target}: exists and is not a folder")
    return [(f, target / f"report.{f}") for f in formats], target


def write_reports(result, plan: list[tuple[str, Path | None]]) -> list[Path]:
    from .files import write_atomic
    from .render import RENDERERS

    written = []
    for fmt, path in plan:
        text = RENDERERS[fmt].fn(result)
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


def gather(base_url: str, options, console: Console, quiet: bool, label: str | None = None):
    """Run the probes with live progress on stderr."""
    from .probes.runner import collect, normalise_base_url
    from .terminal import probe_line

    if not base_url.startswith(("http://", "https://")):
        raise UserInputError(f"BASE_URL '{base_url}' must start with http:// or https://")
    if not quiet:
        console.print(f"Probing [bold]{normalise_base_url(base_url)}[/] …")

    def on_done(probe_id, attempt):
        if not quiet:
            probe_line(console, probe_id, attempt)

    try:
        if quiet:
            return asyncio.run(collect(base_url, options, on_done=on_done, label=label))
        with console.status("probing (metadata, SMART, OpenID, access control, TLS) …"):
            return asyncio.run(collect(base_url, options, on_done=on_done, label=label))
    except KeyboardInterrupt:
        console.print("[red]interrupted[/]")
        raise typer.Exit(130) from None


def unreachable_reason(evidence) -> str | None:
    avail = evidence.probes.get("availability")
    if avail and not avail.data.get("reachable"):
        return avail.reason or "the server did not answer"
    return None


def finish(result, console: Console, quiet: bool, fail_under: float | None, written: list[Path]) -> None:
    from .terminal import summary

    if not quiet:
        summary(console, result)
        for path in written:
            console.print(f"wrote {path}")
    if fail_under is not None:
        score = result.overall.score if result.overall.score is not None else 0.0
        if score < fail_under:
            console.print(f"[red]overall score {score:.0f} is below --fail-under {fail_under:.0f}[/]")
            raise typer.Exit(1)


TimeoutOpt = Annotated[float, typer.Option("--timeout", envvar="EHRCHECK_TIMEOUT", help="Seconds per request.")]
CaOpt = Annotated[
    Optional[Path],
    typer.Option("--ca-bundle", envvar="EHRCHECK_CA_BUNDLE", help="PEM file of CA certificates to trust (e.g. a corporate proxy)."),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary on stderr.")]
PdfOpt = Annotated[bool, typer.Option("--pdf", envvar="EHRCHECK_PDF", help="Also print the HTML report to report.pdf (needs Chromium).")]
OutputOpt = Annotated[
    Optional[str],
    typer.Option("--output", "-o", envvar="EHRCHECK_OUTPUT", help=f"Folder for several formats, a file (.html/.md/.json), or - for stdout. Default: ./{DEFAULT_OUTPUT}/"),
]
FormatOpt = Annotated[
    Optional[str],
    typer.Option("--format", "-f", envvar="EHRCHECK_FORMAT", help="html, md, json, or several: html,md,json (default: all three)."),
]
FailUnderOpt = Annotated[
    Optional[float],
    typer.Option("--fail-under", envvar="EHRCHECK_FAIL_UNDER", min=0, max=100, help="Exit 1 when the overall score is below N."),
]
AsOfOpt = Annotated[
    Optional[str],
    typer.Option("--as-of", envvar="EHRCHECK_AS_OF", help="Judge against the rules in force on this date (YYYY-MM-DD). Default: the day the evidence was gathered."),
]


# ---- commands --------------------------------------------------------------------------------


@app.command()
def audit(
    base_url: Annotated[str, typer.Argument(help="The FHIR service base URL, e.g. https://fhir.vendor.example/r4")],
    output: OutputOpt = None,
    format: FormatOpt = None,
    fail_under: FailUnderOpt = None,
    timeout: TimeoutOpt = 10.0,
    as_of: AsOfOpt = None,
    claims: Annotated[Optional[Path], typer.Option("--claims", envvar="EHRCHECK_CLAIMS", help="YAML file of the vendor's claims.")] = None,
    evidence_path: Annotated[Optional[Path], typer.Option("--evidence", help="Also save the evidence here (default: evidence.json beside the reports).")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Name to show for the product in reports.")] = None,
    ca_bundle: CaOpt = None,
    pdf: PdfOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Probe an endpoint, score it and write the readiness report (probe + score in one step)."""
    from .files import evidence_text, load_claims, write_atomic
    from .models import Evidence
    from .scorecard import score_evidence

    console = _err()
    with user_errors():
        plan, folder = plan_outputs(output, format)
        require_pdf_support(pdf)
        when = parse_as_of(as_of)
        claims_data = load_claims(claims) if claims else None
        options = http_options(timeout, ca_bundle)
        evidence = gather(base_url, options, console, quiet, label)
        evidence.claims = claims_data
        if evidence_path is None:
            if folder is not None:
                evidence_path = folder / "evidence.json"
            elif plan[0][1] is not None:
                evidence_path = plan[0][1].with_name(plan[0][1].stem + ".evidence.json")
        text = evidence_text(evidence)
        if evidence_path is not None:
            write_atomic(evidence_path, text)
        reason = unreachable_reason(evidence)
        if reason:
            saved = f" (evidence saved to {evidence_path})" if evidence_path else ""
            console.print(f"[bold red]error:[/] {evidence.target.base_url} could not be reached: {reason}{saved}")
            raise typer.Exit(2)
        # Score the round-tripped document, exactly as `ehrcheck score` would read it from disk.
        import json

        result = score_evidence(Evidence.model_validate(json.loads(text)), when)
        written = write_reports(result, plan)
        if pdf:
            written.append(write_pdf(result, plan, folder))
    finish(result, console, quiet, fail_under, ([evidence_path] if evidence_path else []) + written)


@app.command()
def probe(
    base_url: Annotated[str, typer.Argument(help="The FHIR service base URL.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the evidence JSON.")] = Path("evidence.json"),
    timeout: TimeoutOpt = 10.0,
    claims: Annotated[Optional[Path], typer.Option("--claims", envvar="EHRCHECK_CLAIMS", help="YAML file of the vendor's claims, stored in the evidence.")] = None,
    label: Annotated[Optional[str], typer.Option("--label", help="Name to show for the product in reports.")] = None,
    ca_bundle: CaOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Gather evidence only, to score later (offline, or under other rules) with `ehrcheck score`."""
    from .files import evidence_text, load_claims, write_atomic

    console = _err()
    with user_errors():
        if output.exists() and output.is_dir():
            raise UserInputError(f"-o {output}: is a folder; give a file name such as evidence.json")
        claims_data = load_claims(claims) if claims else None
        evidence = gather(base_url, http_options(timeout, ca_bundle), console, quiet, label)
        evidence.claims = claims_data
        write_atomic(output, evidence_text(evidence))
    if not quiet:
        console.print(f"wrote {output}")
    reason = unreachable_reason(evidence)
    if reason:
        console.print(f"[bold red]error:[/] {evidence.target.base_url} could not be reached: {reason}")
        raise typer.Exit(2)


@app.command()
def score(
    evidence_file: Annotated[Path, typer.Argument(help="Evidence JSON written by `ehrcheck probe` or `audit`.")],
    output: OutputOpt = None,
    format: FormatOpt = None,
    fail_under: FailUnderOpt = None,
    as_of: AsOfOpt = None,
    pdf: PdfOpt = False,
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
        evidence = load_evidence(evidence_file)
        result = score_evidence(evidence, when)
        written = write_reports(result, plan)
        if pdf:
            written.append(write_pdf(result, plan, folder))
    finish(result, console, quiet, fail_under, written)


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


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
