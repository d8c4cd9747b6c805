"""Where the time goes: a cProfile run summarised by package, for the targets a run misses.

cProfile (stdlib) rather than a sampling profiler, so a fresh clone needs nothing more. It
inflates the cost of many small Python calls, so shares matter here, not absolute seconds.
"""

from __future__ import annotations

import pstats
import re
import sys
from collections import defaultdict
from pathlib import Path

from .measure import run

_SITE = re.compile(r"site-packages/([A-Za-z0-9_]+)")
_STDLIB = re.compile(r"lib/python3\.\d+/([A-Za-z0-9_]+)")
_C_OWNER = re.compile(r"of '([A-Za-z0-9_]+)")


def bucket(filename: str, funcname: str) -> str:
    """A readable owner for one profiled function: ehrcheck module group, package, stdlib module,
    the import system, or the C extension a built-in belongs to."""
    if "/ehrcheck/" in filename and "site-packages" not in filename:
        parts = filename.split("/ehrcheck/", 1)[1].removesuffix(".py").split("/")
        return "ehrcheck." + parts[0]  # ehrcheck.http.client, ehrcheck.probes, ehrcheck.rules ...
    if filename.startswith("<frozen importlib") or "importlib" in filename:
        return "imports (module loading)"
    if m := _SITE.search(filename):
        return m.group(1)
    if m := _STDLIB.search(filename):
        return "stdlib " + m.group(1)
    if filename == "~":
        if m := _C_OWNER.search(funcname):
            owner = m.group(1).lstrip("_").split("_")[0]
            return {"SSLSocket": "C: ssl", "SSLObject": "C: ssl", "socket": "C: socket"}.get(owner, f"C: {owner}")
        if "builtins." in funcname:  # exec: module bodies run on import; __build_class__: class statements
            return "C: builtins." + funcname.split("builtins.", 1)[1].rstrip("}>")
        return "C: " + funcname.split()[-1].strip("}>").split(".")[0]
    return Path(filename).stem or filename


def summarise(prof: Path, top: int = 10) -> str:
    """Markdown: self time per owner (share of the total), then the costliest calls by
    cumulative time in ehrcheck's own code."""
    stats = pstats.Stats(str(prof))
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1.0
    owners: dict[str, float] = defaultdict(float)
    for (filename, _line, funcname), (_cc, _nc, tt, _ct, _callers) in raw.items():
        owners[bucket(filename, funcname)] += tt
    lines = [f"Self time by owner (cProfile, {total:.2f} s profiled):", "", "| owner | share |", "|---|---:|"]
    for owner, tt in sorted(owners.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {owner} | {100 * tt / total:.0f} % |")
    own = [(k, v) for k, v in raw.items() if "/ehrcheck/" in k[0] and "site-packages" not in k[0]]
    own.sort(key=lambda kv: -kv[1][3])
    lines += [
        "",
        "Costliest ehrcheck functions, cumulative (includes what they call):",
        "",
        "| function | calls | cumulative share |",
        "|---|---:|---:|",
    ]
    shown = 0
    for (filename, line, funcname), (_cc, nc, _tt, ct, _callers) in own:
        if funcname in ("<module>", "main", "__call__", "invoke", "<lambda>"):
            continue
        rel = filename.split("/ehrcheck/", 1)[1]
        lines.append(f"| `{rel}:{line} {funcname}` | {nc} | {100 * ct / total:.0f} % |")
        shown += 1
        if shown >= top:
            break
    return "\n".join(lines)


def profile_command(argv_after_python: list[str], out: Path, env: dict[str, str] | None = None) -> Path:
    """Run `python -m cProfile -o out <argv>` with the benchmark's interpreter."""
    result = run([sys.executable, "-m", "cProfile", "-o", str(out), *argv_after_python], env=env)
    if result.returncode not in (0, 1) or not out.exists():
        raise RuntimeError(f"profiling {' '.join(argv_after_python)} failed:\n{result.stderr[-2000:]}")
    return out


def profile_call(fn, out: Path) -> str:
    """cProfile one call in this process and summarise it."""
    import cProfile

    prof = cProfile.Profile()
    prof.runcall(fn)
    prof.dump_stats(str(out))
    return summarise(out)


def import_times(argv: list[str], top: int = 12, label: str | None = None) -> str:
    """Markdown: what `python -X importtime` says start-up spends on, by top-level import
    (cumulative, so a package counts with everything it pulls in)."""
    result = run(argv)
    rows: list[tuple[int, str]] = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue  # the header line
        name = fields[2]
        if name.startswith(" ") and not name.startswith("  "):  # one space: imported at top level
            rows.append((int(fields[1]), name.strip()))
    total = sum(us for us, _ in rows)
    rows.sort(reverse=True)
    shown = label or " ".join([Path(argv[0]).name, *argv[1:]])
    lines = [
        f"Import time of `{shown}` (`-X importtime`, top-level imports, {total / 1e6:.2f} s in all):",
        "",
        "| module (with what it imports) | ms |",
        "|---|---:|",
    ]
    lines += [f"| `{name}` | {us / 1000:.0f} |" for us, name in rows[:top]]
    return "\n".join(lines)
