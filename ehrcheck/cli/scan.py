"""`ehrcheck scan`: every endpoint of a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.common import (
    err_console,
    http_options,
    load_packs,
    parse_as_of,
    user_errors,
)
from ehrcheck.cli.compare import _pick_profile
from ehrcheck.cli.options import AsOfOpt, CaOpt, PackOpt, QuietOpt, TimeoutOpt
from ehrcheck.cli.output import check_writable
from ehrcheck.errors import UserInputError
from ehrcheck.inert import terminal


def scan(
    endpoint_list: Annotated[
        Path,
        typer.Argument(
            metavar="LIST", help="A FHIR Endpoint Bundle (JSON), a CSV with a url column, or a text file with one URL per line."
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            envvar="EHRCHECK_OUTPUT",
            help="Folder for results.jsonl, index.html and (with --keep-evidence) evidence/.",
        ),
    ] = Path("ehrcheck-scan"),
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue an interrupted scan in the same folder: audit only endpoints not yet in results.jsonl."
        ),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-j", envvar="EHRCHECK_CONCURRENCY", min=1, max=512, help="Audits running at once.")
    ] = 16,
    per_host: Annotated[
        int,
        typer.Option(
            "--per-host", envvar="EHRCHECK_PER_HOST", min=1, max=512, help="Audits running at once against one host:port."
        ),
    ] = 4,
    timeout: TimeoutOpt = 10.0,
    as_of: AsOfOpt = None,
    profile: Annotated[
        str | None, typer.Option("--profile", envvar="EHRCHECK_PROFILE", help="Practice profile for the overall scores.")
    ] = None,
    pack: PackOpt = None,
    keep_evidence: Annotated[
        bool,
        typer.Option("--keep-evidence", help="Also save each endpoint's evidence under evidence/, to re-score or diff later."),
    ] = False,
    ca_bundle: CaOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Audit every endpoint of a directory concurrently; results stream to JSONL, resumable."""
    import asyncio
    import ssl

    from ehrcheck import __version__
    from ehrcheck.console.scan import scan_progress, scan_summary
    from ehrcheck.render.scan_report import write_scan_overview
    from ehrcheck.rules.schema import all_rules
    from ehrcheck.scan.endpoint_list import check_list, iter_endpoints
    from ehrcheck.scan.run import ScanOptions, open_results, run_scan, totals

    console = err_console()
    shown = 0

    def warn(message: str) -> None:
        nonlocal shown
        shown += 1
        if not quiet and shown <= 20:
            # Inert: a junk line such as "[/b]" is the list's text, not markup (it would crash rich).
            console.print(f"[yellow]warning:[/] {terminal(message)}", highlight=False, soft_wrap=True)

    with user_errors():
        packs = load_packs(pack)
        when = parse_as_of(as_of)
        chosen = _pick_profile(profile, [])
        http_options(timeout, ca_bundle)  # validates both
        if not endpoint_list.is_file():
            raise UserInputError(f"{endpoint_list}: no such file")
        check_writable(output, "-o", folder=True)
        listed = check_list(endpoint_list, warn)
        results, done = open_results(output, resume, warn)
        if shown > 20 and not quiet:
            console.print(f"[yellow]… and {shown - 20} more warnings about the list[/]", highlight=False)
        remaining = (
            sum(1 for e in iter_endpoints(endpoint_list, lambda _m: None) if e.url not in done) if done else listed.endpoints
        )
        verify = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else ssl.create_default_context()
        options = ScanOptions(
            concurrency=concurrency,
            per_host=per_host,
            timeout=timeout,
            as_of=when,
            profile=chosen,
            packs=packs,
            keep_evidence=keep_evidence,
            verify=verify,
        )
        if not quiet:
            console.print(
                f"Scanning {remaining} of {listed.endpoints} endpoints from {terminal(endpoint_list)} ({concurrency} at once, {per_host} per host) …",
                highlight=False,
            )
        interrupted = False
        with results.open("a", encoding="utf-8") as fh, scan_progress(console, remaining, quiet) as advance:
            try:
                asyncio.run(
                    run_scan(iter_endpoints(endpoint_list, lambda _m: None), fh, output, options, done, on_record=advance)
                )
            except KeyboardInterrupt:
                interrupted = True
        stats = totals(results)
        titles = {r.id: r.title for r in all_rules()} | {r.id: r.title for p in packs for r in p.rules}
        meta = {
            "version": __version__,
            "list": endpoint_list.name,
            "profile": chosen,
            "results": results.name,
            "skipped_list": listed.warnings,
            "keep_evidence": keep_evidence,
        }
        write_scan_overview(results, output / "index.html", stats, titles, meta)
    if not quiet:
        scan_summary(console, stats, titles)
        console.print(f"wrote {terminal(results)} and {terminal(output / 'index.html')}", highlight=False)
    if interrupted:
        console.print(
            f"[red]interrupted[/] after {stats.done} of {listed.endpoints} endpoints; run the same command with --resume to finish",
            highlight=False,
        )
        raise typer.Exit(130)
