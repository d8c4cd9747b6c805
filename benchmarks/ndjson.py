"""NDJSON validation throughput: carebundle's Bulk Data files, served over loopback HTTP, read by
the Bulk probe's own streaming line validator (`ehrcheck.probes.authenticated.bulk.download`) with every line
structurally validated (the probe validates only the first lines of each file by default), and,
for the second figure, every line also judged against its US Core 6.1.0 profile (mandatory
elements and terminology bindings, as the probe does on every line).

`benchmarks/run` measures it among the rest; `.venv/bin/python -m benchmarks.ndjson [--runs N]`
measures only these two figures (prints them, writes nothing), with the passes of the two
interleaved so a machine's changing load weighs on both alike.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .measure import Samples
from .servers import CAREBUNDLE, ROOT, SetupError, file_server

PATIENTS = 100  # about 4,500 resources in 8 files


def generate(folder: Path) -> list[Path]:
    if not any(folder.glob("*.ndjson")):
        if not CAREBUNDLE.exists():
            raise SetupError(f"{CAREBUNDLE} missing: run scripts/setup first")
        subprocess.run(
            [
                str(CAREBUNDLE),
                "generate",
                "--profile",
                "mixed",
                "--count",
                str(PATIENTS),
                "--sex",
                "mixed",
                "--seed",
                "7",
                "--format",
                "ndjson",
                "--out",
                str(folder),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    return sorted(folder.glob("*.ndjson"))


@dataclass
class Pass:
    resources: int
    invalid: int
    wall: float
    cpu: float


async def _validate(origin: str, files: list[Path], profiles: bool = False) -> tuple[int, int]:
    from ehrcheck.http.client import Fetcher, HttpOptions, Recorder
    from ehrcheck.probes.authenticated.bulk import download
    from ehrcheck.probes.base import ProbeContext

    fetcher = Fetcher.create(HttpOptions(timeout=120, trust_env=False))
    ctx = ProbeContext(base_url=origin, fetcher=fetcher, timeout=120)
    # By keyword, so a new optional parameter of the probe's (a deadline, say) does not break this.
    params = inspect.signature(download).parameters
    extra: dict = {"deadline": time.monotonic() + 600} if "deadline" in params else {}
    if profiles:
        if "judge" not in params:
            raise RuntimeError("this ehrcheck's Bulk line validator has no US Core profile check")
        from ehrcheck.probes.authenticated.bulk_profiles import line_judge
    resources = invalid = 0
    try:
        for f in files:
            item = {"type": f.stem, "url": f"{origin}/{f.name}"}
            if profiles:
                extra["judge"] = line_judge("6.1.0")
            facts = await download(
                ctx=ctx,
                session=None,
                rec=Recorder(),
                item=item,
                needs_token=False,  # type: ignore[arg-type]
                validate_lines=10**9,
                **extra,
            )
            if facts["http_status"] != 200:
                raise RuntimeError(f"{item['url']}: HTTP {facts['http_status']}")
            resources += facts["validated"]
            invalid += facts["structure_invalid"] + facts["invalid_json"] + facts["wrong_type"]
            invalid += (facts.get("us_core") or {}).get("failed", 0)
    finally:
        await fetcher.aclose()
    return resources, invalid


def one_pass(origin: str, files: list[Path], profiles: bool = False) -> Pass:
    wall, cpu = time.perf_counter(), time.process_time()
    resources, invalid = asyncio.run(_validate(origin, files, profiles))
    return Pass(resources, invalid, time.perf_counter() - wall, time.process_time() - cpu)


def measure(origin: str, files: list[Path], times: int, profiles: bool = False) -> tuple[Pass, Samples, Samples]:
    """The first (cold: FHIR models built on first use) pass, then per-second rates of `times`
    warm passes: (cold, resources per wall second, resources per CPU second)."""
    cold = one_pass(origin, files, profiles)
    per_wall, per_cpu = Samples(), Samples()
    for _ in range(times):
        p = one_pass(origin, files, profiles)
        per_wall.add(p.resources / p.wall)
        per_cpu.add(p.resources / p.cpu)
    return cold, per_wall, per_cpu


def interleaved(origin: str, files: list[Path], times: int) -> dict[bool, Samples]:
    """Resources per CPU second, structure-only (False) and with US Core (True), one pass of
    each in turn after a cold pass of each."""
    one_pass(origin, files, False)
    one_pass(origin, files, True)
    rates = {False: Samples(), True: Samples()}
    for _ in range(times):
        for profiles in (False, True):
            p = one_pass(origin, files, profiles)
            rates[profiles].add(p.resources / p.cpu)
    return rates


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ndjson", description="Only the NDJSON rows of benchmarks/run.")
    parser.add_argument("--runs", type=int, default=5, help="warm passes of each (default 5)")
    args = parser.parse_args(argv)
    try:
        files = generate(ROOT / ".run" / "bench" / "ndjson")
    except SetupError as exc:
        print(f"bench: ERROR: {exc}", file=sys.stderr)
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="ehrcheck-bench-ndjson-") as tmp,
        file_server(files[0].parent, Path(tmp) / "http.log") as origin,
    ):
        rates = interleaved(origin, files, args.runs)
    for profiles, label in ((False, "NDJSON"), (True, "NDJSON + US Core")):
        r = rates[profiles]
        print(f"{label}: {r.median:,.0f} resources/CPU-s (median; {r.low:,.0f} - {r.high:,.0f}, n={len(r)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
