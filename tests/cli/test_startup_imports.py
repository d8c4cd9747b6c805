"""What `ehrcheck score FILE -o - --format json -q` leaves unimported: start-up is most of its time
(docs/benchmarks.md, issue 19), so libraries its answer does not need stay out of the process.

Told by what the process imported (its sys.modules), never by how long it took."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ehrcheck

ROOT = Path(ehrcheck.__file__).resolve().parent.parent
EVIDENCE = ROOT / "tests" / "files" / "evidence_v1"
# YAML (packs come prebuilt; no --pack, --waivers or claims file), templates, terminal
# rendering (quiet) and HTTP (no network in score) are not needed to score evidence into JSON, nor
# typer (with its click) for a simple command line (cli/lean.py).
NOT_NEEDED = ("yaml", "jinja2", "rich", "httpx", "fhir", "typer", "click")


# `ehrcheck ARGS` that lists, last on stderr, every module the run imported (sys.modules: -X importtime
# would miss modules loaded through importlib.import_module, as the evidence models are).
RUN = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv[0] = "ehrcheck"
from ehrcheck.cli import main
main()
"""


def _imported(args: list[str], cwd: Path, json_out: bool = True) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, cwd=cwd, check=False)
    assert proc.returncode in ((0,) if json_out else (0, 1)), proc.stderr.decode(errors="replace")[-2000:]
    if json_out:
        assert proc.stdout.lstrip().startswith(b"{")
    listing = proc.stderr.decode(errors="replace").rsplit("\nMODULES ", 1)[1]
    return set(json.loads(listing))


@pytest.mark.parametrize(
    ("name", "areas"),
    [("demo-summit-health-cloud", {"anonymous", "certification"}), ("sekmet-auth", {"anonymous", "authenticated"})],
)
def test_quiet_json_score_imports_only_what_it_needs(tmp_path: Path, name: str, areas: set[str]):
    evidence = tmp_path / "evidence.json"
    evidence.write_bytes(gzip.decompress((EVIDENCE / f"{name}.json.gz").read_bytes()))
    for _ in range(2):  # the first run may fill the cache (prebuilt packs); the second is the usual one
        modules = _imported(["score", str(evidence), "-o", "-", "--format", "json", "-q"], ROOT)
    assert "ehrcheck.engine.scorecard" in modules  # the listing is real
    loaded = sorted(m for m in modules if m.split(".")[0] in NOT_NEEDED)
    assert not loaded, loaded
    assert "ehrcheck.claims.schema" not in modules  # the claims table's labels come from the cache
    assert "ehrcheck.engine.waivers" not in modules  # no --waivers
    # evidence models per area, for the probes the file holds (sekmet-auth has no CHPL probe,
    # but the certification checks' argument models use its models, so it is there too)
    evidence_areas = {"anonymous", "authenticated", "certification", "launch"}
    loaded_areas = {m.removeprefix("ehrcheck.evidence.") for m in modules} & evidence_areas
    assert areas <= loaded_areas and "launch" not in loaded_areas, loaded_areas
    if "authenticated" not in areas:
        assert "authenticated" not in loaded_areas


def test_anonymous_audit_loads_no_authenticated_probe(tmp_path: Path):
    """Without credentials the Bulk, token, scopes and US Core probes never run, so their modules
    (and the US Core profile tables) stay unimported; their input checks still run."""
    from tests.faults.audit import healthy
    from tests.faults.server import fault_server

    with fault_server(healthy()) as srv:
        modules = _imported(["audit", srv.base, "-o", str(tmp_path / "out"), "--format", "json", "-q"], tmp_path, json_out=False)
    assert (tmp_path / "out" / "report.json").is_file()
    assert "ehrcheck.probes.authenticated.inputs" in modules  # the listing is real: the inputs were checked
    assert "ehrcheck.probes.runner" in modules
    probes = ("bulk", "bulk_profiles", "token", "scopes", "uscore_data", "uscore_judge", "uscore_profiles")
    loaded = sorted(m for m in modules if m in {f"ehrcheck.probes.authenticated.{p}" for p in probes})
    assert not loaded, loaded
    assert "typer" not in modules and "ehrcheck.cli.options" not in modules  # a simple line: cli/lean.py
