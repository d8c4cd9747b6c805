"""Start-up budget: what each single-run command imports, against a budget (not a test).

    .venv/bin/python -m benchmarks.importtime            # the table; exit 1 when over a budget
    .venv/bin/python -m benchmarks.importtime --runs 9   # more runs per command (medians)

Start-up is most of a one-endpoint audit's and a `score`'s time (docs/benchmarks.md, issue 19),
and it grows one import at a time: a module that starts importing fhir.resources, yaml or rich on
a path that does not need them costs tens of milliseconds and no test fails. This check runs each
command with `python -X importtime` and compares two figures with the budgets below:

- **modules**: how many modules the run imported (lines `-X importtime` prints). Deterministic,
  so a new import is seen at once, whatever the machine's load.
- **import ms**: the median, over `--runs` runs after a warm-up, of the top-level imports'
  cumulative times. Wall time, so load moves it: the budget has headroom, and a figure over it
  on a loaded machine is worth a second run before anything else.

The audit runs against one endpoint of `tests/support/many_endpoints.py` (a loopback server this
script starts and stops by PID); `score` reads a copy of the summit demo vendor's evidence. When
a change moves a figure on purpose, update its budget here in the same commit, with the reason.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import servers

ROOT = Path(__file__).resolve().parent.parent
EVIDENCE = ROOT / "tests" / "files" / "evidence_v1" / "demo-summit-health-cloud.json.gz"


@dataclass(frozen=True)
class Budget:
    modules: int  # most modules the run may import
    import_ms: float  # most milliseconds its top-level imports may take (median)


# Measured 2026-12-06 (fourth pass of issue 19, 5 runs each, load average ~1.3 – 2 on 2 cores):
# --help 82 modules, 24 ms (the cached screen); score 331, 201 ms; rules list 356, 218 ms;
# audit (anonymous, http) 481, 268 ms. Budgets: a few modules and ~25 % over.
# Fifth pass (same day): score and audit run without typer (cli/lean.py): score 287 modules,
# audit 444, rules list 359 (+3: lean.py, spec.py, options.py); their module budgets follow.
BUDGETS = {
    "--help": Budget(modules=90, import_ms=35),
    "score": Budget(modules=300, import_ms=250),
    "rules list": Budget(modules=370, import_ms=270),
    "audit": Budget(modules=460, import_ms=340),
}


@dataclass
class Figure:
    modules: int
    import_ms: float
    top: list[tuple[float, str]]


def import_times(stderr: str) -> tuple[int, float, list[tuple[float, str]]]:
    """(modules imported, top-level cumulative ms, the top-level imports by ms) from -X importtime."""
    modules = 0
    top: list[tuple[float, str]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue  # the header line
        modules += 1
        name = fields[2]
        if name.startswith(" ") and not name.startswith("  "):  # one space: a top-level import
            top.append((int(fields[1]) / 1000, name.strip()))
    top.sort(reverse=True)
    return modules, sum(ms for ms, _ in top), top


def measure(argv: list[str], runs: int, cwd: Path) -> Figure:
    cmd = [sys.executable, "-X", "importtime", "-m", "ehrcheck.cli", *argv]
    samples = []
    for i in range(runs + 1):  # the first fills the caches (help screens, packs, templates)
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"ehrcheck {' '.join(argv)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        if i:
            samples.append(import_times(proc.stderr))
    counts = {s[0] for s in samples}
    median_ms = statistics.median(s[1] for s in samples)
    last = min(samples, key=lambda s: abs(s[1] - median_ms))
    return Figure(max(counts), median_ms, last[2])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.importtime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command after a warm-up (default 5)")
    parser.add_argument("--top", type=int, default=5, help="top-level imports shown per command over budget (default 5)")
    args = parser.parse_args()
    over = False
    with tempfile.TemporaryDirectory(prefix="ehrcheck-importtime-") as tmp:
        work = Path(tmp)
        evidence = work / "evidence.json"
        evidence.write_bytes(gzip.decompress(EVIDENCE.read_bytes()))
        endpoints = work / "endpoints.txt"
        server = servers.many_endpoints(1, endpoints, work / "server.log")
        try:
            url = endpoints.read_text().split()[0]
            commands = {
                "--help": ["--help"],
                "score": ["score", str(evidence), "-o", "-", "--format", "json", "-q"],
                "rules list": ["rules", "list"],
                "audit": ["audit", url, "-o", str(work / "out"), "-q", "--force"],
            }
            print(f"{'command':<12} {'modules':>8} {'budget':>7} {'import ms':>10} {'budget':>7}")
            for name, argv in commands.items():
                fig = measure(argv, args.runs, work)
                budget = BUDGETS[name]
                bad = fig.modules > budget.modules or fig.import_ms > budget.import_ms
                over |= bad
                mark = "  OVER BUDGET" if bad else ""
                print(f"{name:<12} {fig.modules:>8} {budget.modules:>7} {fig.import_ms:>10.0f} {budget.import_ms:>7.0f}{mark}")
                if bad:
                    for ms, module in fig.top[: args.top]:
                        print(f"{'':<14}{ms:7.1f} ms  {module}")
        finally:
            server.stop()
    print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
