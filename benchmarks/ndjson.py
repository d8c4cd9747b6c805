"""NDJSON validation throughput: carebundle's Bulk Data files, served over loopback HTTP, read by
the Bulk probe's own streaming line validator (`ehrcheck.probes.authenticated.bulk.download`) with every line
structurally validated (the probe validates only the first lines of each file by default), and,
for the second figure, every line also judged against its US Core 6.1.0 profile (mandatory
elements and terminology bindings, as the probe does on every line).
"""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .measure import Samples
from .servers import CAREBUNDLE, SetupError

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
