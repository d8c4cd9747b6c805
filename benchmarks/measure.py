"""Timing primitives: run a command and read its wall time, CPU time and peak RSS; summarise
repeated samples as a median with their spread; describe the machine.

CPU time and peak RSS come from wait4(2) on the command itself, read by a small launcher
(`launch.py`) so they are the command's own, not the benchmark's: a command started straight from
this process would inherit this process's peak RSS in `ru_maxrss` (see launch.py). Wall time is
what a user waits; CPU time barely moves when another job shares the two cores, so both are
kept and a wall time far above its CPU time says "contended".
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # user + system seconds of the child (and of its own children it reaped)
    max_rss_mb: float  # wait4: the largest peak of the child and its reaped children, not their sum
    returncode: int
    stdout: str = ""
    stderr: str = ""
    tree_rss_mb: float = 0.0  # with tree=True: the sum of every process's peak (VmHWM) in the child's tree


def _tree_peaks(root: int, peaks: dict[int, int]) -> None:
    """Record VmHWM (KiB) of `root` and its descendants: a peak only grows, so the last value read
    before a process ends is its peak up to then."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks[pid] = max(peaks.get(pid, 0), int(line.split()[1]))
        except (OSError, ValueError):
            continue


LAUNCHER = Path(__file__).with_name("launch.py")


def run(
    argv: Sequence[str], env: dict[str, str] | None = None, cwd: Path | None = None, capture: bool = True, tree: bool = False
) -> Run:
    """Run `argv` to completion; capture its output in files (a pipe could fill and stall it).
    `tree`: also sample the peak RSS of every process it starts (every 0.2 s), for `tree_rss_mb`."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rusage.json"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(LAUNCHER), str(report), *argv],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out if capture else subprocess.DEVNULL,
            stderr=err if capture else subprocess.DEVNULL,
        )
        peaks: dict[int, int] = {}
        sampling = threading.Event()
        sampler = None
        if tree:

            def sample() -> None:
                while not sampling.wait(0.2):
                    _tree_peaks(proc.pid, peaks)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
        launched = proc.wait()
        sampling.set()
        if sampler is not None:
            sampler.join()
        try:
            measured = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"the launcher for {argv[0]} exited {launched} without its report: {exc}") from exc
        peaks.pop(proc.pid, None)  # the launcher itself is not part of the command
        max_rss_kib = measured["max_rss_kib"]
        out.seek(0)
        err.seek(0)
        return Run(
            wall=measured["wall"],
            cpu=measured["cpu"],
            max_rss_mb=max_rss_kib / 1024,  # Linux reports KiB
            returncode=measured["returncode"],
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            tree_rss_mb=max(sum(peaks.values()), max_rss_kib) / 1024,
        )


@dataclass
class Samples:
    """Repeated measurements of one quantity; `median` is what the tables report."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def __len__(self) -> int:
        return len(self.values)


def repeat(
    argv: Sequence[str],
    times: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    warmup: int = 1,
) -> tuple[Samples, Samples, Samples, Run]:
    """(wall, cpu, peak RSS) samples of `times` runs after `warmup` unrecorded ones (which fill
    the page cache and write .pyc files, so a fresh clone's first run does not skew the median).
    Returns the last run too, for its output."""
    wall, cpu, rss = Samples(), Samples(), Samples()
    last: Run | None = None
    for i in range(warmup + times):
        last = run(argv, env=env, cwd=cwd)
        if check and last.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(argv)} exited {last.returncode}:\n{last.stderr[-2000:]}")
        if i >= warmup:
            wall.add(last.wall)
            cpu.add(last.cpu)
            rss.add(last.max_rss_mb)
    assert last is not None
    return wall, cpu, rss, last


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine() -> dict[str, str]:
    """What the numbers were measured on: cores, CPU model, memory, OS, Python."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except (OSError, ValueError):
        pass
    return {
        "cores": str(os.cpu_count()),
        "cpu": cpu_model,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "executable": sys.executable,
    }
