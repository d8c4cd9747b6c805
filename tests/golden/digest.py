"""A run's findings reduced to what must not change by accident: verdict, scores, each rule's status
and message, the matrix. Ports, timestamps and dates on or after the assessment day are masked, so two runs of the same target compare equal.

Regenerate the recorded digests after an intended change of findings (and review the diff):
    .venv/bin/python -m tests.golden.digest --update            (the demo vendors)
    .venv/bin/python -m tests.golden.digest --update --sekmet   (with the servers started)
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?")


_DATE = re.compile(r"\b\d{4}-\d\d-\d\d\b")


def _mask(value: Any, as_of: str | None = None) -> Any:
    text = _STAMP.sub("<time>", _PORT.sub(r"\1:<port>", json.dumps(value, sort_keys=True, ensure_ascii=False)))
    if as_of:  # the assessment day, and days counted from it (certificates made for the run), read relative to it
        day = dt.date.fromisoformat(as_of)

        def relative(m: re.Match[str]) -> str:
            try:
                delta = (dt.date.fromisoformat(m.group()) - day).days
            except ValueError:
                return m.group()
            return m.group() if delta < 0 or delta > 400 else f"<as-of+{delta}d>"

        text = _DATE.sub(relative, text)
    return json.loads(text)


def digest(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a report.json that a pure refactoring must leave alone."""
    return _mask(
        {
            "verdict": report.get("verdict"),
            "overall": report.get("overall"),
            "packs": report.get("packs"),
            "findings": {f["rule_id"]: [f["status"], f.get("message")] for f in report.get("findings", [])},
            "matrix": report.get("matrix"),
            "claims": report.get("claims"),
        },
        report.get("as_of"),
    )


def demo_digests(out: Path) -> dict[str, Any]:
    return {
        d.name: digest(json.loads((d / "report.json").read_text()))
        for d in sorted(out.iterdir())
        if (d / "report.json").is_file()
    }


def main() -> None:  # pragma: no cover - a maintenance command
    import tempfile

    from ehrcheck.demo.run import run_demo

    if "--update" not in sys.argv:
        sys.exit(__doc__)
    if "--sekmet" in sys.argv:  # needs the servers: scripts/servers start; source .run/servers.env
        import os
        import subprocess

        out = {}
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("open", "auth"):
                report = Path(tmp) / f"{mode}.json"
                url = os.environ[f"EHRCHECK_TEST_SEKMET_{mode.upper()}"]
                subprocess.run([sys.executable, "-m", "ehrcheck", "audit", url, "-o", str(report), "-q"], check=True)
                out[f"sekmet-{mode}"] = digest(json.loads(report.read_text()))
        (HERE / "sekmet.json").write_text(json.dumps(out, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
        print(f"wrote {HERE / 'sekmet.json'}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(Path(tmp), formats=("json",), console=None)
        (HERE / "demo.json").write_text(json.dumps(demo_digests(Path(tmp)), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {HERE / 'demo.json'}")


if __name__ == "__main__":  # pragma: no cover
    main()
