"""Compiled templates are kept between runs and give the same reports as compiling afresh."""

from __future__ import annotations

import gzip
from pathlib import Path

import jinja2
import pytest

from ehrcheck.engine.scorecard import score_evidence
from ehrcheck.files.store import load_evidence
from ehrcheck.render import templates
from ehrcheck.render.report import render_html, render_markdown

EVIDENCE = Path(__file__).parent.parent / "files" / "evidence_v1" / "sekmet-auth.json.gz"


@pytest.fixture
def result(tmp_path: Path):
    path = tmp_path / "evidence.json"
    path.write_bytes(gzip.decompress(EVIDENCE.read_bytes()))
    return score_evidence(load_evidence(path))


def _render(result, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, int]:
    """Both reports from a fresh environment, and how many templates it compiled."""
    compiled = []
    original = jinja2.Environment.compile

    def counting(self, source, name=None, filename=None, raw=False, defer_init=False):
        compiled.append(name)
        return original(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    templates.environment.cache_clear()
    try:
        return render_html(result), render_markdown(result), len(compiled)
    finally:
        templates.environment.cache_clear()
        monkeypatch.setattr(jinja2.Environment, "compile", original)


def test_second_run_compiles_nothing_and_renders_the_same(result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", "off")
    html0, md0, n0 = _render(result, monkeypatch)
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "cache"))
    html1, md1, n1 = _render(result, monkeypatch)
    html2, md2, n2 = _render(result, monkeypatch)
    assert n0 > 0 and n1 == n0  # cold: every template compiled once, then stored
    assert n2 == 0  # warm: every one loaded from the cache
    assert (html0, md0) == (html1, md1) == (html2, md2)


def test_a_changed_template_is_compiled_again(result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "templates"
    source.mkdir()
    for path in templates.data_dir("templates").iterdir():
        (source / path.name).write_bytes(path.read_bytes())
    monkeypatch.setattr(templates, "data_dir", lambda name: source)
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "cache"))
    _render(result, monkeypatch)
    report = source / "report.md.j2"
    report.write_text(report.read_text() + "\nEDITED-TEMPLATE-MARKER\n")
    _, md, compiled = _render(result, monkeypatch)
    assert compiled == 1
    assert "EDITED-TEMPLATE-MARKER" in md


def test_a_damaged_entry_is_compiled_again(result, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EHRCHECK_CACHE_DIR", str(tmp_path / "cache"))
    html, md, _ = _render(result, monkeypatch)
    entries = list((tmp_path / "cache" / "templates").iterdir())
    assert entries
    for entry in entries:
        entry.write_bytes(b"not bytecode")
    assert _render(result, monkeypatch)[:2] == (html, md)
