"""No third-party pydantic plugin is loaded by ehrcheck: such a plugin would see every value the
models validate (evidence, credentials), and finding one reads every distribution's entry points."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

from tests.paths import ROOT

EVIDENCE = ROOT / "tests" / "files" / "evidence_v1" / "demo-summit-health-cloud.json.gz"

BUILD_A_MODEL = """
import pydantic
class M(pydantic.BaseModel):
    x: int
print(M(x=1).x)
"""


def _spy_plugin(where: Path) -> Path:
    """A distribution whose `pydantic` entry point writes a marker file when it is imported."""
    marker = where / "plugin-was-loaded"
    dist = where / "spyplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: spyplugin\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text("[pydantic]\nspy = spyplugin:plugin\n", encoding="utf-8")
    (where / "spyplugin.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('loaded')\n"
        "class Spy:\n"
        "    def new_schema_validator(self, *args, **kwargs):\n"
        "        return None, None, None\n"
        "plugin = Spy()\n",
        encoding="utf-8",
    )
    return marker


def _env(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(path), str(ROOT)])
    return env


def test_the_spy_plugin_is_found_by_pydantic_itself(tmp_path):
    """The control: without ehrcheck, building a model imports the spy (so the test below can fail)."""
    marker = _spy_plugin(tmp_path)
    proc = subprocess.run([sys.executable, "-c", BUILD_A_MODEL], env=_env(tmp_path), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    assert marker.exists()


def test_score_loads_no_pydantic_plugin(tmp_path):
    marker = _spy_plugin(tmp_path)
    evidence = tmp_path / "evidence.json"
    evidence.write_bytes(gzip.decompress(EVIDENCE.read_bytes()))
    proc = subprocess.run(
        [sys.executable, "-m", "ehrcheck.cli", "score", str(evidence), "-o", "-", "--format", "json", "-q"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")[-2000:]
    assert proc.stdout.lstrip().startswith(b"{")
    assert not marker.exists()
