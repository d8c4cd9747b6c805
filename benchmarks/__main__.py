"""`benchmarks/run`: measure ehrcheck on loopback, next to fhir-scorecard and the issue-9 targets,
print the table and write it into docs/benchmarks.md (between its markers only: the prose around
them is written by hand and kept).

    benchmarks/run                 # everything, about fifteen minutes on 2 cores (a 20,000-endpoint directory twice)
    benchmarks/run --quick         # fewer repetitions, smaller lists: a smoke run
    benchmarks/run --no-write      # print only
    benchmarks/run --profile-all   # profile every workload, not only those missing a target
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import directory, ndjson, peer, profile, score_only, servers
from .measure import Run, Samples, load_average, machine, repeat, run
from .report import Row, Target, render, write_between_markers
from .servers import ROOT, SetupError

DOC = ROOT / "docs" / "benchmarks.md"
CACHE = ROOT / ".run" / "bench"  # git-ignored; carebundle output and the peer's pip log


@dataclass
class Plan:
    startup_runs: int = 15
    audit_runs: int = 10
    scan_endpoints: int = 1000
    scan_runs: int = 3
    batch_endpoints: int = 200
    batch_runs: int = 3
    ndjson_runs: int = 5
    score_runs: int = 3
    concurrency: int = 16
    directory_endpoints: int = 20000  # scan --db, SQLite and PostgreSQL (issue 18)
    history_runs: int = 30
    history_endpoints: int = 20000
    history_times: int = 3
    profile_all: bool = False

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            startup_runs=3,
            audit_runs=3,
            scan_endpoints=200,
            scan_runs=1,
            batch_endpoints=40,
            batch_runs=1,
            ndjson_runs=1,
            score_runs=1,
            directory_endpoints=1000,
            history_runs=5,
            history_endpoints=1000,
            history_times=1,
        )


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    profiles: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def say(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def tool(name: str) -> str:
    exe = Path(sys.executable).parent / name
    if not exe.exists():
        raise SetupError(f"{exe} missing: run scripts/setup first")
    return str(exe)


def interleaved(commands: list[list[str]], times: int, envs: list[dict[str, str] | None]) -> list[tuple[Samples, Samples, Run]]:
    """Run the commands in turn, `times` rounds after one warm-up round, so load from other jobs
    falls on all of them alike: [(wall, cpu, last run)] per command."""
    out = [(Samples(), Samples()) for _ in commands]
    last: list[Run] = []
    for i in range(times + 1):
        last = []
        for (wall, cpu), argv, env in zip(out, commands, envs, strict=True):
            r = run(argv, env=env)
            if r.returncode not in (0, 1):
                raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stderr[-2000:]}")
            last.append(r)
            if i:
                wall.add(r.wall)
                cpu.add(r.cpu)
    return [(w, c, r) for (w, c), r in zip(out, last, strict=True)]


def startup(plan: Plan, res: Results) -> None:
    say("start-up ...")
    ehrcheck = tool("ehrcheck")
    cases = [
        ("`python -c pass` (bare interpreter)", [sys.executable, "-c", "pass"]),
        ("`ehrcheck --help`", [ehrcheck, "--help"]),
        ("`ehrcheck rules list`", [ehrcheck, "rules", "list"]),
    ]
    for label, argv in cases:
        wall, cpu, rss, _ = repeat(argv, plan.startup_runs)
        res.rows.append(Row("start-up", label, wall, "s", f"CPU {cpu.median:.2f} s, peak RSS {rss.median:.0f} MB"))
        if label == "`ehrcheck --help`":
            res.targets.append(
                Target("`ehrcheck --help` ≤ 0.10 s", f"{wall.median:.2f} s (CPU {cpu.median:.2f} s)", wall.median <= 0.10, "help")
            )


def audit_counts(folder: Path) -> tuple[int, dict[str, int], int]:
    """(rules evaluated, statuses, requests the evidence records) of one audit's output folder."""
    report = json.loads((folder / "report.json").read_text())
    statuses: dict[str, int] = {}
    for f in report["findings"]:
        statuses[f["status"]] = statuses.get(f["status"], 0) + 1
    evidence = json.loads((folder / "evidence.json").read_text())
    requests = sum(len(p.get("exchanges") or []) for p in evidence["probes"].values())
    return len(report["findings"]), statuses, requests


def decided(statuses: dict[str, int]) -> int:
    return sum(statuses.get(s, 0) for s in ("pass", "fail", "warn"))


def audit(plan: Plan, res: Results, sekmet: servers.Sekmet, work: Path) -> list[str]:
    say(f"anonymous audit of {sekmet.base} ...")
    out = work / "audit-plain"
    argv = [tool("ehrcheck"), "audit", sekmet.base, "-o", str(out), "-q"]
    before = sekmet.requests_served()
    wall, cpu, rss, _ = repeat(argv, plan.audit_runs)
    served = (sekmet.requests_served() - before) / (plan.audit_runs + 1)
    rules, statuses, requests = audit_counts(out)
    res.rows.append(
        Row(
            "audit",
            "`ehrcheck audit` of sekmet over http (html, md, json reports)",
            wall,
            "s",
            f"CPU {cpu.median:.2f} s, peak RSS {rss.median:.0f} MB; {requests} requests in the evidence, "
            f"{served:.0f} in sekmet's access log; {rules} rules evaluated, {decided(statuses)} decided",
        )
    )
    res.targets.append(
        Target("anonymous audit ≤ 1.0 s wall, start-up included", f"{wall.median:.2f} s", wall.median <= 1.0, "audit")
    )
    return argv


def versus_peer(plan: Plan, res: Results, sekmet_tls: servers.Sekmet, tls: servers.TlsFiles, work: Path, scorecard: str) -> None:
    say(f"ehrcheck and fhir-scorecard, in turn, on {sekmet_tls.base} ...")
    out = work / "audit-tls"
    mine = [tool("ehrcheck"), "audit", sekmet_tls.base, "-o", str(out), "-q", "--ca-bundle", str(tls.ca)]
    theirs_json = work / "peer-one.json"
    theirs = [scorecard, "check", sekmet_tls.base, "--kind", "ehr", "--json-out", str(theirs_json)]
    count_before = sekmet_tls.requests_served()
    # Request counts need each tool alone: one run each, before the timed rounds.
    if run(mine).returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(mine)} failed")
    mine_requests = sekmet_tls.requests_served() - count_before
    run(theirs, env=peer.env_trusting(tls.ca))
    theirs_requests = sekmet_tls.requests_served() - count_before - mine_requests
    (m_wall, m_cpu, _), (t_wall, t_cpu, t_last) = interleaved([mine, theirs], plan.audit_runs, [None, peer.env_trusting(tls.ca)])
    if not theirs_json.exists():
        raise RuntimeError(f"fhir-scorecard wrote no JSON:\n{t_last.stderr[-2000:]}")
    rules, statuses, _ = audit_counts(out)
    checks = peer.checks_in(theirs_json)
    res.rows.append(
        Row(
            "vs fhir-scorecard, one endpoint",
            "`ehrcheck audit` of sekmet over https",
            m_wall,
            "s",
            f"CPU {m_cpu.median:.2f} s; {mine_requests} requests; {rules} rules evaluated, {decided(statuses)} decided",
        )
    )
    res.rows.append(
        Row(
            "vs fhir-scorecard, one endpoint",
            "`fhir-scorecard check` of the same endpoint",
            t_wall,
            "s",
            f"CPU {t_cpu.median:.2f} s; {theirs_requests} requests; {checks.graded} graded findings + "
            f"{checks.reported} reported, not graded",
        )
    )
    ratio = m_wall.median / t_wall.median
    res.rows.append(
        Row(
            "vs fhir-scorecard, one endpoint",
            "wall-time ratio ehrcheck / fhir-scorecard",
            Samples([ratio]),
            "×",
            f"checks: {rules} / {checks.total} = {rules / checks.total:.1f}× (rules evaluated); "
            f"{decided(statuses)} / {checks.total} = {decided(statuses) / checks.total:.1f}× (rules decided pass/fail/warn)",
        )
    )
    res.targets.append(
        Target(
            "checks per endpoint vs the peer: ≥ 5× decided",
            f"{decided(statuses) / checks.total:.1f}× decided ({decided(statuses)} / {checks.total}), "
            f"{rules / checks.total:.1f}× evaluated",
            decided(statuses) / checks.total >= 5,
            "checks",
        )
    )
    res.targets.append(
        Target(
            "one endpoint, one CLI run each: ≤ 1.5× the peer's wall time",
            f"{ratio:.2f}× ({m_wall.median:.2f} s / {t_wall.median:.2f} s; CPU {m_cpu.median:.2f} s / {t_cpu.median:.2f} s)",
            ratio <= 1.5,
            "peer-one",
        )
    )


def batch_versus_peer(plan: Plan, res: Results, tls: servers.TlsFiles, work: Path, scorecard: str) -> None:
    n = plan.batch_endpoints
    say(f"ehrcheck scan and fhir-scorecard --registry, in turn, over {n} https endpoints ...")
    listed = work / "batch-plain.txt"
    many = servers.many_endpoints(n, listed, work / "many-batch.log")
    proxy = None
    try:
        proxy = servers.tls_proxy(many.origin, tls, work / "proxy.log")
        urls = [u.replace(many.origin, proxy.origin) for u in listed.read_text().split()]
        https_list = work / "batch-https.txt"
        https_list.write_text("\n".join(urls) + "\n")
        registry = work / "registry.json"
        peer.write_registry(urls, registry)
        walls_mine, walls_theirs, cpu_mine, cpu_theirs = Samples(), Samples(), Samples(), Samples()
        for _ in range(plan.batch_runs):
            shutil.rmtree(work / "batch-scan", ignore_errors=True)
            mine = run(
                [
                    tool("ehrcheck"),
                    "scan",
                    str(https_list),
                    "-o",
                    str(work / "batch-scan"),
                    "-q",
                    "--ca-bundle",
                    str(tls.ca),
                    "-j",
                    str(plan.concurrency),
                    "--per-host",
                    str(plan.concurrency),
                ]
            )
            theirs = run([scorecard, "check", "--registry", str(registry)], env=peer.env_trusting(tls.ca))
            for r, name in ((mine, "ehrcheck scan"), (theirs, "fhir-scorecard check --registry")):
                if r.returncode not in (0, 1):
                    raise RuntimeError(f"{name} exited {r.returncode}:\n{r.stderr[-2000:]}")
            walls_mine.add(mine.wall / n * 1000)
            walls_theirs.add(theirs.wall / n * 1000)
            cpu_mine.add(mine.cpu / n * 1000)
            cpu_theirs.add(theirs.cpu / n * 1000)
    finally:
        if proxy is not None:
            proxy.stop()
        many.stop()
    res.rows.append(
        Row(
            f"vs fhir-scorecard, {n} endpoints",
            f"`ehrcheck scan -j {plan.concurrency}` over https, per endpoint",
            walls_mine,
            "ms",
            f"CPU {cpu_mine.median:.1f} ms per endpoint; one loopback process behind a TLS proxy",
        )
    )
    res.rows.append(
        Row(
            f"vs fhir-scorecard, {n} endpoints",
            "`fhir-scorecard check --registry`, per endpoint (sequential)",
            walls_theirs,
            "ms",
            f"CPU {cpu_theirs.median:.1f} ms per endpoint",
        )
    )
    ratio = walls_mine.median / walls_theirs.median
    res.rows.append(
        Row(f"vs fhir-scorecard, {n} endpoints", "per-endpoint ratio ehrcheck / fhir-scorecard", Samples([ratio]), "×", "")
    )
    res.targets.append(
        Target(f"per endpoint over {n}: no slower than the peer", f"{ratio:.2f}× at {n} endpoints", ratio <= 1.0, "peer-batch")
    )


SCAN_PORTS = 8  # the scanned lists spread over 8 loopback host:ports, as a directory spreads over hosts


def scan(plan: Plan, res: Results, work: Path) -> Path:
    n = plan.scan_endpoints
    say(f"scan of {n} endpoints served by one loopback process ...")
    listed = work / "scan-list.txt"
    many = servers.many_endpoints(n, listed, work / "many-scan.log", ports=SCAN_PORTS)
    out = work / "scan"
    argv = [
        tool("ehrcheck"),
        "scan",
        str(listed),
        "-o",
        str(out),
        "-q",
        "-j",
        str(plan.concurrency),
        "--per-host",
        str(plan.concurrency),
    ]
    rate, rss, cpu, largest, served = Samples(), Samples(), Samples(), Samples(), Samples()
    try:
        for _ in range(plan.scan_runs):
            shutil.rmtree(out, ignore_errors=True)
            before = many.cpu_seconds()
            r = run(argv, tree=True)
            if r.returncode != 0:
                raise RuntimeError(f"ehrcheck scan exited {r.returncode}:\n{r.stderr[-2000:]}")
            served.add((many.cpu_seconds() - before) / n * 1000)
            rate.add(n / r.wall)
            rss.add(r.tree_rss_mb)
            largest.add(r.max_rss_mb)
            cpu.add(r.cpu / n * 1000)
        # Once more keeping evidence: the files the score-only benchmark re-scores.
        shutil.rmtree(out, ignore_errors=True)
        kept = run([*argv, "--keep-evidence"])
        if kept.returncode != 0:
            raise RuntimeError(f"ehrcheck scan --keep-evidence exited {kept.returncode}:\n{kept.stderr[-2000:]}")
        lines = (out / "results.jsonl").read_text().splitlines()
        if len(lines) != n:
            raise RuntimeError(f"scan wrote {len(lines)} rows for {n} endpoints")
        kept_dir = work / "evidence"
        shutil.move(str(out / "evidence"), kept_dir)
        targets = [
            Target(f"scan ≥ 300 endpoints/s at {n}", f"{rate.median:.0f} endpoints/s at {n}", rate.median >= 300, "scan"),
            Target(f"scan peak RSS ≤ 300 MB at {n}", f"RSS {rss.median:.0f} MB", rss.median <= 300, "scan"),
        ]
        res.targets += targets
        if wants_profile(plan, res, "scan"):
            profile_cli(res, "scan", argv, work)
    finally:
        many.stop()
    res.rows.append(
        Row(
            "scan",
            f"`ehrcheck scan -j {plan.concurrency} --per-host {plan.concurrency}`, {n} endpoints: throughput",
            rate,
            "endpoints/s",
            f"CPU {cpu.median:.1f} ms per endpoint (scan process and its workers); the many_endpoints server "
            f"{served.median:.1f} ms per endpoint on the same cores; with --keep-evidence: {n / kept.wall:.0f} endpoints/s",
        )
    )
    res.rows.append(
        Row(
            "scan",
            "… peak RSS, the scan process and its workers summed",
            rss,
            "MB",
            f"largest single process {largest.median:.0f} MB (wait4)",
        )
    )
    return kept_dir


def directory_scale(plan: Plan, res: Results, work: Path) -> None:
    """Issue 18: a large directory scanned with the history database on, and `history` over many runs."""
    from tests.support.postgres import fresh_database, postgres_cluster

    n = plan.directory_endpoints
    say(f"scan --db of {n} endpoints (SQLite, then PostgreSQL) and history over {plan.history_runs} runs ...")
    listed = work / "directory-list.txt"
    many = servers.many_endpoints(n, listed, work / "many-directory.log", ports=SCAN_PORTS)
    try:
        with postgres_cluster() as admin:
            try:
                directory.scan_with_db(
                    n, listed, work, plan.concurrency, str(work / "scan.sqlite"), "SQLite", res.rows, res.targets
                )
                url = fresh_database(admin, "bench_scan")
                directory.scan_with_db(n, listed, work, plan.concurrency, url, "PostgreSQL", res.rows, res.targets)
            finally:
                many.stop()
            say(f"history: filling {plan.history_runs} runs × {plan.history_endpoints} endpoints ...")
            m, r, t = plan.history_endpoints, plan.history_runs, plan.history_times
            directory.history_timing(str(work / "history.sqlite"), "SQLite", r, m, work, t, res.rows, res.targets)
            directory.history_timing(fresh_database(admin, "bench_history"), "PostgreSQL", r, m, work, t, res.rows, res.targets)
    except RuntimeError as exc:
        if "pg_ctl" in str(exc) or "initdb" in str(exc):
            raise SetupError(str(exc)) from None
        raise


def ndjson_rate(plan: Plan, res: Results, work: Path) -> None:
    say("NDJSON validation ...")
    files = ndjson.generate(CACHE / "ndjson")
    with servers.file_server(files[0].parent, work / "http-server.log") as origin:
        for profiles in (False, True):
            cold, per_wall, per_cpu = ndjson.measure(origin, files, plan.ndjson_runs, profiles)
            what = "with US Core profile checks " if profiles else ""
            res.targets.append(
                Target(
                    f"NDJSON {what}≥ 5,000 resources/s per core",
                    f"{per_cpu.median:,.0f} /CPU-s",
                    per_cpu.median >= 5000,
                    "ndjson",
                )
            )
            res.rows.append(
                Row(
                    "NDJSON + US Core" if profiles else "NDJSON",
                    f"Bulk probe line validator, {cold.resources} carebundle resources, every line validated"
                    + (" and judged against its US Core 6.1.0 profile" if profiles else " (structure only)"),
                    per_cpu,
                    "resources/CPU-s",
                    f"{per_wall.median:.0f} per wall second; first pass (FHIR models built) "
                    f"{cold.resources / cold.wall:.0f}/s; {cold.invalid} invalid",
                )
            )
        if wants_profile(plan, res, "ndjson"):
            say("profiling ndjson ...")
            res.profiles["ndjson"] = profile.profile_call(lambda: ndjson.one_pass(origin, files, True), work / "ndjson.prof")
    return files


def scoring(plan: Plan, res: Results, evidence_dir: Path) -> Path:
    files = sorted(evidence_dir.glob("*.json"))
    say(f"score-only over {len(files)} evidence files ...")
    wall, cpu = score_only.measure(files, plan.score_runs)
    res.rows.append(
        Row(
            "score-only",
            f"load + score + JSON report of {len(files)} evidence files, one process",
            wall,
            "s",
            f"{1000 * wall.median / len(files):.1f} ms per file, CPU {cpu.median:.1f} s",
        )
    )
    argv = [tool("ehrcheck"), "score", str(files[0]), "-o", "-", "--format", "json", "-q"]
    w, c, _, _ = repeat(argv, plan.audit_runs)
    res.rows.append(
        Row(
            "score-only",
            "`ehrcheck score FILE -o - --format json` (one file, start-up included)",
            w,
            "s",
            f"CPU {c.median:.2f} s",
        )
    )
    res.targets.append(
        Target(
            "`ehrcheck score FILE -o - --format json` ≤ 0.15 s",
            f"{w.median:.2f} s (CPU {c.median:.2f} s)",
            w.median <= 0.15,
            "score",
        )
    )
    if wants_profile(plan, res, "score"):
        say("profiling score ...")
        res.profiles["score"] = profile.import_times(
            [sys.executable, "-X", "importtime", "-m", "ehrcheck.cli", *argv[1:]],
            label="ehrcheck score FILE -o - --format json -q",
        )
    return files[0]


# Which workload's profile explains a missed target (start-up: an import-time profile).
PROFILE_FOR = {
    "help": {"help"},
    "audit": {"audit"},
    "peer-one": {"help", "audit"},
    "peer-batch": {"scan"},
    "peer": set(),
    "checks": set(),  # not a time: docs/benchmarks.md says which rules stay undecided, and why
    "scan": {"scan"},
    "ndjson": {"ndjson"},
    "score": {"score"},
    "directory": set(),
}


def wants_profile(plan: Plan, res: Results, workload: str) -> bool:
    return plan.profile_all or any(not t.met and workload in PROFILE_FOR[t.key] for t in res.targets)


def profile_cli(res: Results, key: str, argv: list[str], work: Path) -> None:
    """cProfile an ehrcheck command while its server still runs."""
    say(f"profiling {key} ...")
    if "scan" in argv:  # a scan refuses to write over an earlier one's results
        shutil.rmtree(Path(argv[argv.index("-o") + 1]), ignore_errors=True)
    prof = profile.profile_command(["-m", "ehrcheck.cli", *argv[1:]], work / f"{key}.prof")
    res.profiles[key] = profile.summarise(prof)
    if key == "audit":  # one short run: most of it is start-up, which import times itemise better
        res.profiles[key] += "\n\n" + profile.import_times(
            [sys.executable, "-X", "importtime", "-m", "ehrcheck.cli", *argv[1:]], label="ehrcheck audit URL -o DIR -q"
        )


def profile_startup(plan: Plan, res: Results) -> None:
    if wants_profile(plan, res, "help"):
        say("profiling start-up ...")
        res.profiles["help"] = profile.import_times(
            [sys.executable, "-X", "importtime", "-m", "ehrcheck.cli", "--help"], label="ehrcheck --help"
        )


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run", description="Measure ehrcheck against its targets and fhir-scorecard, on loopback."
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller lists (a smoke run)")
    parser.add_argument("--no-write", action="store_true", help=f"print the table only; leave {DOC.relative_to(ROOT)} alone")
    parser.add_argument("--profile-all", action="store_true", help="profile every workload, not only those missing a target")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (reports, evidence, logs, profiles)")
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    plan.profile_all = args.profile_all
    signal.signal(signal.SIGTERM, _interrupted)  # so `finally` stops the servers on TERM as on Ctrl-C
    CACHE.mkdir(parents=True, exist_ok=True)
    # Byte-compiled as an installed wheel is (pip compiles on install): with PYTHONDONTWRITEBYTECODE
    # set, an editable checkout would otherwise compile every module it imports on every run.
    compileall.compile_dir(str(ROOT / "ehrcheck"), quiet=1)
    work = Path(tempfile.mkdtemp(prefix="ehrcheck-bench-"))
    res = Results()
    started = time.monotonic()
    load_before = load_average()
    plain = tls_server = None
    try:
        try:
            scorecard: str | None = str(peer.ensure_venv(CACHE / "peer-pip.log"))
        except SetupError as exc:  # the rest is still worth measuring; the table says what is missing
            say(f"WARNING: no fhir-scorecard comparison: {exc}")
            scorecard = None
            res.targets.append(Target("comparison with fhir-scorecard", f"not measured: {exc}", False, "peer"))
        startup(plan, res)
        tls = servers.make_tls(work / "tls")
        bundles = servers.carebundle_bundles(CACHE / "bundles")
        say("starting sekmet (http and https) ...")
        plain = servers.Sekmet(work / "sekmet-http").launch()
        tls_server = servers.Sekmet(work / "sekmet-https", tls).launch()
        plain.load(bundles)
        tls_server.load(bundles)
        audit_argv = audit(plan, res, plain, work)
        if scorecard:
            versus_peer(plan, res, tls_server, tls, work, scorecard)
        if wants_profile(plan, res, "audit"):
            profile_cli(res, "audit", audit_argv, work)
        plain.stop()
        tls_server.stop()
        if scorecard:
            batch_versus_peer(plan, res, tls, work, scorecard)
        evidence_dir = scan(plan, res, work)
        directory_scale(plan, res, work)
        ndjson_rate(plan, res, work)
        scoring(plan, res, evidence_dir)
        profile_startup(plan, res)
    except SetupError as exc:
        say(f"ERROR: {exc}")
        return 2
    except RuntimeError as exc:  # a measured command failed: its own stderr is in the message
        say(f"ERROR: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        for s in (plain, tls_server):
            if s is not None:
                s.stop()
        if args.keep:
            say(f"scratch kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    context = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load": f"{load_before} at the start, {load_average()} at the end (1/5/15-minute load averages)",
        "elapsed": f"{elapsed:.0f} s",
        "plan": "quick (smoke run: fewer repetitions, smaller lists)" if args.quick else "full",
    }
    text = render(res.rows, res.targets, res.profiles, context)
    print(text)
    if not args.no_write:
        write_between_markers(DOC, text)
        say(f"wrote {DOC.relative_to(ROOT)}")
    say(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)  # `python -m tests.support.many_endpoints` and relative paths resolve from the repo
    sys.exit(main())
