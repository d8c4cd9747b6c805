"""`ehrcheck compare` and `ehrcheck diff`: several runs side by side, or two over time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.common import err_console, load_packs, parse_as_of, user_errors
from ehrcheck.cli.options import AsOfOpt, ForceOpt, PackOpt, QuietOpt
from ehrcheck.cli.output import check_distinct, check_replaceable, check_writable
from ehrcheck.errors import UserInputError
from ehrcheck.inert import terminal

COMPARE_SUFFIX = {"html": "html", "htm": "html", "md": "md", "markdown": "md", "json": "json"}


def _runs(paths: list[Path], packs, as_of, profile):
    from ehrcheck.files.runs import load_run

    return [load_run(p, packs, as_of, profile or "default") for p in paths]


def _pick_profile(profile: str | None, results) -> str:
    from ehrcheck.engine.scoring import PROFILES

    chosen = profile or (results[0].profile if results and len({r.profile for r in results}) == 1 else "default")
    if chosen not in PROFILES:
        raise UserInputError(f"--profile: unknown profile '{chosen}'; choose from {', '.join(PROFILES)}")
    return chosen


def compare(
    runs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN", help="Two or more runs: report.json files (--format json), evidence files, or audit output folders."
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="comparison.html, .md, .json or .pdf (printed through Chromium), or - for stdout (then give --format).",
        ),
    ] = "comparison.html",
    format: Annotated[
        str | None,
        typer.Option("--format", "-f", metavar="FORMAT", help="html, md, json or pdf (default: from the -o extension)."),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            metavar="NAME",
            envvar="EHRCHECK_PROFILE",
            help="Practice profile to rank under (default: the one the runs were scored under).",
        ),
    ] = None,
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            metavar="NAME",
            envvar="EHRCHECK_CLIENT",
            help="The practice the comparison is prepared for (shown on it).",
        ),
    ] = None,
    pdf: Annotated[
        bool,
        typer.Option("--pdf", metavar="", help="Also print the HTML comparison to PDF beside the -o file (needs Chromium)."),
    ] = False,
    as_of: AsOfOpt = None,
    pack: PackOpt = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Compare vendors side by side: verdicts, scores, capabilities and every rule, ranked for a practice."""
    from ehrcheck.cli.output import print_pdf, require_pdf_support
    from ehrcheck.engine.compare import compare as build
    from ehrcheck.files.store import write_output
    from ehrcheck.render.comparison import COMPARISON_RENDERERS

    console = err_console()
    written: list[Path] = []
    with user_errors():
        if len(runs) < 2:
            raise UserInputError("compare needs at least two runs (report.json files, evidence files or audit folders)")
        suffix = Path(output).suffix.lower().lstrip(".") if output != "-" else ""
        fmt = COMPARE_SUFFIX.get((format or suffix).lower(), (format or suffix).lower())
        if fmt not in (*COMPARISON_RENDERERS, "pdf"):
            raise UserInputError(
                f"-o {output}: give a file ending in .html, .md, .json or .pdf (or --format html, md, json or pdf), not '{fmt or output}'"
            )
        target = None if output == "-" else Path(output)
        if target is None and (fmt == "pdf" or pdf):
            raise UserInputError("-o -: a PDF goes to a file; give -o comparison.pdf")
        if target is not None:
            check_writable(target, "-o")
            check_replaceable(target, "-o", force)
            if pdf and fmt != "pdf":
                check_replaceable(target.with_suffix(".pdf"), "--pdf", force)
        if target is not None:
            from ehrcheck.files.runs import run_files

            outputs = [("-o", target)] + ([("--pdf", target.with_suffix(".pdf"))] if pdf and fmt != "pdf" else [])
            check_distinct(outputs, [("a run this command reads", f) for p in runs for f in run_files(p)])
        require_pdf_support(fmt == "pdf" or pdf)
        loaded = _runs(runs, load_packs(pack), parse_as_of(as_of), profile)
        chosen = _pick_profile(profile, [r.result for r in loaded])
        comparison = build([r.result for r in loaded], chosen, sources=[str(r.path) for r in loaded], client=client or "")
        text = COMPARISON_RENDERERS["html" if fmt == "pdf" else fmt](comparison)
        if target is None:
            sys.stdout.write(text)
        elif fmt == "pdf":
            print_pdf(text, target)
            written.append(target)
        else:
            write_output(target, text)
            written.append(target)
            if pdf:
                html = text if fmt == "html" else COMPARISON_RENDERERS["html"](comparison)
                print_pdf(html, target.with_suffix(".pdf"))
                written.append(target.with_suffix(".pdf"))
    if not quiet:
        for col in comparison.columns:
            score = "–" if col.overall.score is None else f"{col.overall.score:.0f}"
            console.print(f"  {col.rank}. {terminal(col.name)}: {terminal(col.verdict_label)}, overall {score}", highlight=False)
        for path in written:
            console.print(f"wrote {terminal(path)}", highlight=False)


def diff_cmd(
    old: Annotated[Path, typer.Argument(metavar="OLD", help="The earlier run: report.json, evidence file or audit folder.")],
    new: Annotated[Path, typer.Argument(metavar="NEW", help="The later run, same kinds.")],
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="File to write (.md or .json), or - for stdout.")
    ] = "-",
    format: Annotated[
        str | None, typer.Option("--format", "-f", metavar="FORMAT", help="md or json (default: from the -o extension, else md).")
    ] = None,
    as_of: AsOfOpt = None,
    pack: PackOpt = None,
    fail_on_regression: Annotated[
        bool,
        typer.Option(
            "--fail-on-regression",
            metavar="",
            envvar="EHRCHECK_FAIL_ON_REGRESSION",
            help="Exit 1 when a rule observed in both runs got worse (pass -> warning -> fail).",
        ),
    ] = False,
    fail_on_new: Annotated[
        bool,
        typer.Option(
            "--fail-on-new",
            metavar="",
            envvar="EHRCHECK_FAIL_ON_NEW",
            help="Exit 1 on a new finding: a failure or warning the earlier run did not observe (e.g. credentials added since).",
        ),
    ] = False,
    force: ForceOpt = False,
    exit_zero: Annotated[
        bool,
        typer.Option(
            "--exit-zero",
            metavar="",
            envvar="EHRCHECK_EXIT_ZERO",
            help="Exit 0 even when --fail-on-regression or --fail-on-new trips (errors still exit 2).",
        ),
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """What changed between two runs: verdict, scores, rule statuses and the capability fingerprint."""
    from ehrcheck.engine.diff import diff_runs
    from ehrcheck.files.store import write_output
    from ehrcheck.render.diff import render_diff_json, render_diff_markdown

    console = err_console()
    with user_errors():
        suffix = Path(output).suffix.lower().lstrip(".") if output != "-" else ""
        fmt = (format or {"json": "json"}.get(suffix, "md")).lower()
        fmt = {"markdown": "md"}.get(fmt, fmt)
        if fmt not in ("md", "json"):
            raise UserInputError(f"--format: give md or json, not '{fmt}'")
        # A name the other commands read as another format (x.html, x.sarif) would hold Markdown.
        if suffix and {"markdown": "md", "txt": "md"}.get(suffix, suffix) != fmt:
            raise UserInputError(
                f"-o {output}: a diff is written as md or json, so name the file .md or .json "
                f"(this --format is {fmt}), not .{suffix}"
            )
        if output != "-":
            check_writable(Path(output), "-o")
            check_replaceable(Path(output), "-o", force)
            from ehrcheck.files.runs import run_files

            check_distinct([("-o", Path(output))], [("a run this command reads", f) for p in (old, new) for f in run_files(p)])
        packs = load_packs(pack)
        when = parse_as_of(as_of)
        a, b = _runs([old, new], packs, when, None)
        d = diff_runs(a.result, b.result, a.evidence, b.evidence)
        text = render_diff_json(d) if fmt == "json" else render_diff_markdown(d)
        if output == "-":
            sys.stdout.write(text)
        else:
            write_output(Path(output), text)
    if not quiet:
        console.print(
            f"{len(d.statuses)} rule status change(s): {len(d.regressions)} regression(s), {len(d.new_findings)} new finding(s)"
            + (f"; wrote {terminal(output)}" if output != "-" else ""),
            highlight=False,
        )
    tripped = []
    if fail_on_regression and d.regressions:
        tripped.append(f"{len(d.regressions)} rule(s) regressed: {terminal(', '.join(c.rule_id for c in d.regressions))}")
    if fail_on_new and d.new_findings:
        tripped.append(f"{len(d.new_findings)} new finding(s): {terminal(', '.join(c.rule_id for c in d.new_findings))}")
    for reason in tripped:
        console.print(f"[red]{reason}[/]", highlight=False)
    if tripped and not exit_zero:
        raise typer.Exit(1)
