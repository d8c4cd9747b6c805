"""The findings on the demo vendors and on sekmet (open and SMART) match the recorded digests.

A refactoring must leave them alone; a change of rules changes them on purpose, and then the
digests are regenerated (`python -m tests.golden.digest --update`, sekmet's with `--sekmet`) and
the diff reviewed in the same commit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.golden.digest import HERE, demo_digests, digest
from tests.support.cli import run


def _diff(want: dict, got: dict) -> list[str]:
    out = []
    for key in sorted(set(want) | set(got)):
        if want.get(key) == got.get(key):
            continue
        if key == "findings":
            for rule in sorted(set(want[key]) | set(got.get(key, {}))):
                if want[key].get(rule) != got.get(key, {}).get(rule):
                    out.append(f"{rule}: {want[key].get(rule)} -> {got.get(key, {}).get(rule)}")
        else:
            out.append(f"{key} changed")
    return out


def test_demo_findings_unchanged(tmp_path: Path) -> None:
    from ehrcheck.demo.run import run_demo

    run_demo(tmp_path, formats=("json",), console=None)
    want = json.loads((HERE / "demo.json").read_text())
    got = demo_digests(tmp_path)
    assert set(got) == set(want)
    problems = {name: _diff(want[name], got[name]) for name in want}
    assert not any(problems.values()), problems


@pytest.mark.servers
@pytest.mark.parametrize("mode", ["open", "auth"])
def test_sekmet_findings_unchanged(mode: str, sekmet_open_url: str, sekmet_auth_url: str, tmp_path: Path) -> None:
    url = sekmet_open_url if mode == "open" else sekmet_auth_url
    result = run("audit", url, "-o", str(tmp_path / "r.json"), "-q")
    assert result.exit_code == 0, result.output
    want = json.loads((HERE / "sekmet.json").read_text())[f"sekmet-{mode}"]
    got = digest(json.loads((tmp_path / "r.json").read_text()))
    assert not _diff(want, got), _diff(want, got)
