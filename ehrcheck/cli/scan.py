"""`ehrcheck scan`: every endpoint of a directory."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Annotated, Any, TypeGuard

import typer

from ehrcheck.cli.common import (
    check_score,
    err_console,
    http_options,
    load_packs,
    parse_as_of,
    parse_fail_on,
    user_errors,
)
from ehrcheck.cli.compare import _pick_profile
from ehrcheck.cli.history import DB_HELP
from ehrcheck.cli.options import AsOfOpt, CaOpt, ExitZeroOpt, FailOnOpt, ForceOpt, PackOpt, QuietOpt, TimeoutOpt, WaiversOpt
from ehrcheck.cli.output import check_writable
from ehrcheck.errors import UserInputError
from ehrcheck.inert import terminal, visible

SCAN_FORMATS = {"html": "index.html", "sarif": "results.sarif", "junit": "results.xml"}
RUN_FILE = "run.json"  # the run's label, so --resume records into the same history run
MAX_WARNINGS_SHOWN = 20
MAX_WARNINGS_KEPT = 200  # listed in index.html


def _formats(value: str | None) -> list[str]:
    kinds = [k.strip().lower() for k in (value or "html").split(",") if k.strip()]
    bad = [k for k in kinds if k not in SCAN_FORMATS]
    if bad or not kinds:
        raise UserInputError(f"--format: '{value}': choose from {', '.join(SCAN_FORMATS)} (several: html,sarif,junit)")
    return kinds


def _run_label(output: Path, resume: bool, given: str | None, started: str) -> str:
    """The history run this invocation records into: --run-label, else the one an interrupted scan
    in this folder started (on --resume), else the start time. A run.json that cannot be read is
    an error, not a reason to start a second history run for the same scan."""
    path = output / RUN_FILE
    if resume and (path.exists() or path.is_symlink()):
        saved = _saved_label(path)
        if given is None or given == saved:
            return saved
    return given or f"{started}-{secrets.token_hex(2)}"  # two scans in one second are still two runs


def _usable_label(label: object) -> TypeGuard[str]:
    """A run label ehrcheck records and reads back: 1 to 200 printable characters. The same test
    for --run-label and for run.json, so a label accepted at the start of a scan is never one its
    own --resume refuses (it was: a label with an escape character could not be resumed)."""
    return isinstance(label, str) and bool(label.strip()) and len(label) <= 200 and label.isprintable()


def _check_run_label(given: str | None) -> None:
    if given is not None and not _usable_label(given):
        raise UserInputError(
            f"--run-label '{visible(given[:200])}': a run label is 1 to 200 printable characters "
            "(no control, bidi or zero-width characters); choose another"
        )


def _earlier_scan(output: Path) -> bool:
    """Whether the folder's run.json is one a scan wrote: recorded as ehrcheck's own output
    (files/written.py), or, with no record to ask, a run file whose label reads back."""
    from ehrcheck.files.written import recorded_as_ours

    path = output / RUN_FILE
    if path.is_symlink() or not path.is_file():
        return False
    known = recorded_as_ours(path)
    if known is not None:
        return known
    try:
        _saved_label(path)
    except UserInputError:
        return False
    return True


def _check_scan_files(output: Path, kinds: list[str], resume: bool, force: bool) -> None:
    """A scan writes run.json and index.html / results.sarif / results.xml into its folder: a file
    of the user's by one of those names is refused, as by every other command (a scan replaced a
    user's index.html). results.jsonl is never replaced (open_results), and --resume reads run.json
    and checks it itself."""
    from ehrcheck.cli.output import check_foreign_files
    from ehrcheck.render.scan_report import FILES

    if force:
        return
    check_foreign_files([output / FILES[k] for k in kinds], force)
    run_file = output / RUN_FILE
    if not resume and (run_file.exists() or run_file.is_symlink()) and not _earlier_scan(output):
        raise UserInputError(
            f"-o {terminal(str(output))}: {RUN_FILE} there was not written by an ehrcheck scan (or was changed "
            "since) and would be replaced; choose another folder, or pass --force to overwrite it"
        )


def _check_distinct_files(
    output: Path,
    kinds: list[str],
    endpoint_list: Path,
    db: str | None,
    waivers: Path | None,
    packs: list[Path] | None,
    ca_bundle: Path | None,
) -> None:
    """The scan's own files, its SQLite history database and the files it reads are all distinct:
    `--db s/index.html` had the report replace the database at the end of the scan, and `--db
    s/results.jsonl` had results and database written into one file."""
    from ehrcheck.cli.output import check_distinct, named_inputs
    from ehrcheck.render.scan_report import FILES
    from ehrcheck.scan.run import RESULTS

    outputs = [("-o", output / name) for name in (RESULTS, RUN_FILE, *(FILES[k] for k in kinds))]
    if db and "://" not in db:
        outputs.insert(0, ("--db", Path(db)))
    check_distinct(outputs, [("the endpoint list", endpoint_list), *named_inputs(None, waivers, packs, ca_bundle=ca_bundle)])


def _saved_label(path: Path) -> str:
    fix = "restore it, or remove it to record the rest of the scan as a new history run"
    if path.is_symlink() or not path.is_file():
        raise UserInputError(f"{terminal(str(path))}: not a regular file; {fix}")
    try:
        if path.stat().st_size > 64 * 1024:
            raise UserInputError(f"{terminal(str(path))}: larger than 64 KB, not a file ehrcheck wrote; {fix}")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
        if isinstance(exc, OSError):
            reason = f"cannot be read ({exc.strerror or type(exc).__name__})"
        raise UserInputError(f"{terminal(str(path))}: {reason}; {fix}") from None
    label = data.get("label") if isinstance(data, dict) else None
    if not _usable_label(label):
        raise UserInputError(f"{terminal(str(path))}: field 'label' must be the run's label (text of 1 to 200 characters); {fix}")
    return label


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
            metavar="FOLDER",
            envvar="EHRCHECK_OUTPUT",
            help="Folder for results.jsonl, index.html (and results.sarif / results.xml, evidence/, reports/ when asked).",
        ),
    ] = Path("ehrcheck-scan"),
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            envvar="EHRCHECK_FORMAT",
            help="html (index.html, the default), sarif, junit, or several: html,sarif,junit.",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume", help="Continue an interrupted scan in the same folder: audit only endpoints not yet in results.jsonl."
        ),
    ] = False,
    retry_unreachable: Annotated[
        bool,
        typer.Option(
            "--retry-unreachable", help="With --resume: audit again the endpoints that could not be reached or errored."
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency", "-j", metavar="N", envvar="EHRCHECK_CONCURRENCY", min=1, max=512, help="Audits running at once."
        ),
    ] = 16,
    per_host: Annotated[
        int,
        typer.Option(
            "--per-host",
            metavar="N",
            envvar="EHRCHECK_PER_HOST",
            min=1,
            max=512,
            help="Audits running at once against one host:port.",
        ),
    ] = 4,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            metavar="N",
            envvar="EHRCHECK_WORKERS",
            min=1,
            max=64,
            help="Worker processes auditing (-j is split among them, each host stays with one). Default: one per usable core, at most 8, one per 100 endpoints, at most -j. 1: all in this process.",
        ),
    ] = None,
    timeout: TimeoutOpt = 10.0,
    as_of: AsOfOpt = None,
    profile: Annotated[
        str | None,
        typer.Option("--profile", metavar="NAME", envvar="EHRCHECK_PROFILE", help="Practice profile for the overall scores."),
    ] = None,
    pack: PackOpt = None,
    keep_evidence: Annotated[
        bool,
        typer.Option("--keep-evidence", help="Also save each endpoint's evidence under evidence/, to re-score or diff later."),
    ] = False,
    reports: Annotated[
        bool,
        typer.Option("--reports", help="Also write each audited endpoint's HTML report under reports/, linked from index.html."),
    ] = False,
    ca_bundle: CaOpt = None,
    fail_on: FailOnOpt = None,
    fail_under: Annotated[
        float | None,
        typer.Option(
            "--fail-under", envvar="EHRCHECK_FAIL_UNDER", help="An audited endpoint whose overall score is below N fails."
        ),
    ] = None,
    min_passing: Annotated[
        str | None,
        typer.Option(
            "--min-passing",
            envvar="EHRCHECK_MIN_PASSING",
            help="Exit 1 only when fewer than this share of audited endpoints pass --fail-on/--fail-under (e.g. 90%; default 100%).",
        ),
    ] = None,
    max_unreachable: Annotated[
        str | None,
        typer.Option(
            "--max-unreachable",
            envvar="EHRCHECK_MAX_UNREACHABLE",
            help="Exit 1 when more than N endpoints (or P%) could not be audited, e.g. 10 or 5%.",
        ),
    ] = None,
    waivers: WaiversOpt = None,
    exit_zero: ExitZeroOpt = False,
    early_stop: Annotated[
        int,
        typer.Option(
            "--early-stop",
            envvar="EHRCHECK_EARLY_STOP",
            min=0,
            help="Stop with exit 2 when the first N endpoints all fail the same way across hosts (DNS, proxy, TLS interception): the auditor's network, not theirs. 0: never.",
        ),
    ] = 20,
    db: Annotated[str | None, typer.Option("--db", envvar="EHRCHECK_DB", help=DB_HELP)] = None,
    run_label: Annotated[
        str | None,
        typer.Option(
            "--run-label",
            envvar="EHRCHECK_RUN_LABEL",
            help="The history run to record into (default: the start time); give every shard the same one.",
        ),
    ] = None,
    vendor: Annotated[
        str | None,
        typer.Option(
            "--vendor",
            envvar="EHRCHECK_VENDOR",
            help="The vendor whose directory this is, recorded with each result for `history --vendor`.",
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option("--shard", envvar="EHRCHECK_SHARD", help="Scan only this machine's part of the list: i/n (e.g. 2/4)."),
    ] = None,
    force: ForceOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Audit every endpoint of a directory concurrently; results stream to JSONL, resumable; gates,
    SARIF/JUnit for the list, and history in a database."""
    import asyncio
    import datetime as dt

    from ehrcheck import __version__
    from ehrcheck.cli.gates import load_waiver_file
    from ehrcheck.console.scan import scan_progress, scan_summary
    from ehrcheck.files.store import write_output
    from ehrcheck.files.written import remember
    from ehrcheck.history.db import database_errors
    from ehrcheck.http.client import ssl_context
    from ehrcheck.render.scan_report import write_scan_outputs
    from ehrcheck.rules.schema import all_rules
    from ehrcheck.scan.diagnose import EarlyStop, common_cause, proxy_in_use
    from ehrcheck.scan.endpoint_list import check_list, iter_endpoints
    from ehrcheck.scan.gates import ScanGates, parse_threshold
    from ehrcheck.scan.pool import auto_workers, run_scan_pool
    from ehrcheck.scan.results import drop_not_audited
    from ehrcheck.scan.run import RESULTS, ScanOptions, iter_results, open_results, run_scan, totals
    from ehrcheck.scan.shard import parse_shard

    console = err_console()
    shown = 0
    kept: list[str] = []

    def warn(message: str) -> None:
        nonlocal shown
        shown += 1
        if len(kept) < MAX_WARNINGS_KEPT:
            kept.append(message)
        if not quiet and shown <= MAX_WARNINGS_SHOWN:
            # Inert: a junk line such as "[/b]" is the list's text, not markup (it would crash rich).
            console.print(f"[yellow]warning:[/] {terminal(message)}", highlight=False, soft_wrap=True)

    recorder = None
    with user_errors():
        kinds = _formats(fmt)
        packs = load_packs(pack)
        when = parse_as_of(as_of)
        chosen = _pick_profile(profile, [])
        http_options(timeout, ca_bundle)  # validates both
        check_score("--fail-under", fail_under)
        gates = ScanGates(
            fail_on=parse_fail_on(fail_on),
            fail_under=fail_under,
            min_passing=parse_threshold("--min-passing", min_passing, percent_only=True),
            max_unreachable=parse_threshold("--max-unreachable", max_unreachable),
        )
        waiver_list = load_waiver_file(waivers, packs)
        part = parse_shard(shard)
        if retry_unreachable and not resume:
            raise UserInputError("--retry-unreachable goes with --resume (it re-audits the unreachable rows of an earlier scan)")
        _check_run_label(run_label)
        if part and db and not run_label:
            raise UserInputError("--shard with --db needs --run-label: every shard of one run must record into the same run")
        if not endpoint_list.is_file():
            raise UserInputError(f"{endpoint_list}: {'no such file' if not endpoint_list.exists() else 'not a regular file'}")
        if str(output) == "-":  # not stdout: it became a folder named "-"
            raise UserInputError("-o -: a scan writes a folder (results.jsonl, index.html, …); give its path")
        check_writable(output, "-o", folder=True)
        _check_scan_files(output, kinds, resume, force)
        _check_distinct_files(output, kinds, endpoint_list, db, waivers, pack, ca_bundle)
        listed = check_list(endpoint_list, warn)
        if (note := listed.duplicates_note(endpoint_list)) and not quiet:
            console.print(f"[yellow]note:[/] {_plain(note)}", highlight=False, soft_wrap=True)
        if resume and retry_unreachable and (output / RESULTS).is_file():
            again = drop_not_audited(output / RESULTS)
            if again and not quiet:
                console.print(f"retrying {again} endpoint(s) that could not be audited last time", highlight=False)
        results, done = open_results(output, resume, warn)
        if shown > MAX_WARNINGS_SHOWN and not quiet:
            console.print(f"[yellow]… and {shown - MAX_WARNINGS_SHOWN} more warnings about the list[/]", highlight=False)

        def endpoints():
            found = listed.with_listings(iter_endpoints(endpoint_list, lambda _m: None))
            return (e for e in found if part.owns(e.url)) if part else found

        mine = sum(1 for _ in endpoints()) if part else listed.endpoints
        remaining = sum(1 for e in endpoints() if e.url not in done) if done else mine
        verify = ssl_context(str(ca_bundle) if ca_bundle else True)
        options = ScanOptions(
            concurrency=concurrency,
            per_host=per_host,
            timeout=timeout,
            as_of=when,
            profile=chosen,
            packs=packs,
            keep_evidence=keep_evidence,
            reports=reports,
            verify=verify,
            waivers=tuple(waiver_list),
            workers=min(workers, concurrency, max(1, remaining)) if workers else auto_workers(remaining, concurrency),
            ca_bundle=str(ca_bundle) if ca_bundle else None,
        )
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        label = _run_label(output, resume, run_label, started)
        write_output(
            output / RUN_FILE, json.dumps({"label": label, "started_at": started, "shard": str(part) if part else None}) + "\n"
        )
        meta: dict[str, Any] = {
            "version": __version__,
            "list": endpoint_list.name,
            "profile": chosen,
            "results": results.name,
            "skipped_list": listed.warnings,
            "list_warnings": kept,
            "entries": listed.entries,
            "duplicates": len(listed.duplicates),
            "keep_evidence": keep_evidence,
            "reports": reports,
            "shard": str(part) if part else None,
            "run_label": label,
            "started_at": started,
        }
        if db:
            recorder = _open_recorder(db, label, meta, vendor, part)
            if done:  # rows of the interrupted scan: recorded again (upserts), so the run is whole
                for row in iter_results(results):
                    recorder.add(row)
        proxy = proxy_in_use()
        if not quiet:
            merged = (
                f"; {listed.entries} entries, {listed.entries - listed.endpoints} repeated addresses merged"
                if listed.duplicates
                else ""
            )
            where = f", shard {part} ({mine} of them)" if part else ""
            via = f", through the proxy {terminal(proxy)}" if proxy else ""
            processes = f" in {options.workers} worker processes" if options.workers > 1 else ""
            console.print(
                f"Scanning {remaining} of {listed.endpoints} endpoints from {terminal(endpoint_list)}{where} ({concurrency} at once{processes}, {per_host} per host{via}){merged} …",
                highlight=False,
            )
        interrupted = False
        stopped: str | None = None
        worker_failed: str | None = None
        db_failed: str | None = None
        with results.open("a", encoding="utf-8") as fh, scan_progress(console, remaining, quiet) as advance:

            def on_record(row: dict[str, Any]) -> None:
                nonlocal db_failed
                advance(row)
                if recorder is not None and db_failed is None:
                    try:
                        recorder.add(row)
                    except database_errors() as exc:  # the scan goes on; results.jsonl keeps every row
                        db_failed = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__

            try:
                early = EarlyStop(early_stop, proxy)
                if options.workers > 1:
                    live = asyncio.run(run_scan_pool(endpoints(), fh, output, options, done, on_record=on_record, stop=early))
                else:
                    live = asyncio.run(run_scan(endpoints(), fh, output, options, done, on_record=on_record, stop=early))
                stopped = live.stopped
                worker_failed = live.worker_failed
            except KeyboardInterrupt:
                interrupted = True
            finally:
                if recorder is not None:
                    _finish_recorder(recorder, db_failed)
        rules = list(all_rules()) + [r for p in packs for r in p.rules]
        stats, tally = totals(results, gates)
        cause = common_cause(stats.failure_kinds, stats.done, proxy)
        meta["cause"] = cause
        meta["stopped"] = stopped
        written = write_scan_outputs(results, output, kinds, stats, rules, meta)
        remember(written)
    titles = {r.id: r.title for r in rules}
    if cause and not stopped:
        console.print(f"[bold red]network:[/] {terminal(cause)}", highlight=False, soft_wrap=True)  # names the proxy
    if not quiet:
        scan_summary(console, stats, titles)
        console.print(f"wrote {terminal(results)}" + "".join(f", {terminal(p)}" for p in written), highlight=False)
        if recorder is not None:
            console.print(f"recorded run {terminal(label)} in {terminal(recorder.db.shown)}", highlight=False)
    if interrupted:
        console.print(
            f"[red]interrupted[/] after {stats.done} of {listed.endpoints} endpoints; run the same command with --resume to finish",
            highlight=False,
        )
        raise typer.Exit(130)
    if worker_failed:
        console.print(
            f"[bold red]error:[/] the scan stopped: {terminal(worker_failed)}; the endpoints it was auditing are "
            "error rows. Run the same command with --resume to finish the list (add --retry-unreachable to audit "
            "those again too), or with --workers 1 to audit in one process.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if stopped:
        console.print(
            f"[bold red]stopped:[/] the first {early_stop} endpoints all failed the same way — {terminal(stopped)}. "
            f"Fix that and run the same command with --resume --retry-unreachable (or --early-stop 0 to scan regardless).",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    if stats.done and not stats.outcomes.get("audited"):
        console.print("[bold red]error:[/] no endpoint of the list could be audited", highlight=False)
        raise typer.Exit(2)
    reasons = tally.reasons()
    for reason in reasons:
        console.print(f"[red]{_plain(reason)}[/]", highlight=False, soft_wrap=True)
    if reasons:
        if exit_zero:
            console.print("--exit-zero: exiting 0 although a gate failed", highlight=False)
            return
        raise typer.Exit(1)


def _plain(text: str) -> str:
    """Made inert (ehrcheck.inert.terminal): gate reasons quote URLs from the list."""
    return terminal(text)


def _open_recorder(target: str, label: str, meta: dict[str, Any], vendor: str | None, part) -> Any:
    from ehrcheck.history.db import database_errors, open_database
    from ehrcheck.history.migrations import migrate
    from ehrcheck.history.record import Recorder, start_run

    database = open_database(target)
    try:
        migrate(database)
        run_id = start_run(database, label, meta)
    except database_errors() as exc:
        database.close()
        raise UserInputError(f"--db {database.shown}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    return Recorder(database, run_id, vendor=vendor, shard=str(part) if part else None)


def _finish_recorder(recorder: Any, failed: str | None) -> None:
    """Write what is buffered and recount the run, even after Ctrl-C: results.jsonl and the
    database then agree, and --resume continues both."""
    from ehrcheck.history.db import database_errors

    try:
        if failed is None:
            recorder.finish()
    except database_errors() as exc:
        failed = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    finally:
        recorder.db.close()
    if failed is not None:
        raise UserInputError(
            f"--db {recorder.db.shown}: recording failed: {failed}; results.jsonl holds every row — fix the database "
            "and run the same command with --resume, which records the rows already scanned too"
        )
