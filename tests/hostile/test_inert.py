"""Every string from a server or a user's file is inert: no rich markup interpreted, no escape
sequence reaching the terminal, no HTML, link or image reaching report.md, and no lone surrogate
crashing a writer. A hostile loopback vendor plants all of them; the real CLI runs over it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ehrcheck.inert import markdown, terminal, visible
from tests.faults.audit import CAP, healthy
from tests.faults.server import fault_server, json_reply, reply
from tests.support.cli import run

ESC = "\x1b[2J\x1b[31m"  # clear the screen, then red: what a terminal would obey
C1 = "\x9b31m"  # the one-byte CSI some terminals still honour
MARKUP = "[/][bold]x[/bold][link=https://t.example]y[/link]"
HTML = '<script>alert(1)</script><img src="https://t.example/p.png" onerror=alert(1)>'
MD_LINKS = "[click](javascript:alert(1)) ![t](https://t.example/track.png)"
HOSTILE = f"Acme {ESC}{C1}{MARKUP} {HTML} {MD_LINKS} | cell \ud800 end"

# What may never appear in any output.
FORBIDDEN_TERMINAL = ("\x1b", "\x9b", "\ud800")
FORBIDDEN_MARKDOWN = ("\x1b", "\x9b", "\ud800")
# Markdown syntax that would be live: an unescaped tag opener, link target or image.
LIVE_MARKDOWN = re.compile(r"(?<!\\)<[A-Za-z/!]|(?<!\\)\]\(javascript:|!\[t\]\(")


def hostile_vendor() -> dict:
    cap = {
        **CAP,
        "software": {"name": HOSTILE, "version": HOSTILE},
        "publisher": HOSTILE,
        "implementation": {"description": HOSTILE},
        "fhirVersion": "4.0.1",
    }
    # ensure_ascii: the lone surrogate travels as the JSON escape \ud800, as a server would send it
    body = json.dumps(cap)
    assert "\\ud800" in body
    return healthy(
        metadata=reply(200, body, content_type="application/fhir+json"),
        # A Content-Encoding nobody asked for: its value is quoted in the probe's reason.
        smart=reply(200, b"{}", {"Content-Encoding": f"br{MARKUP} {HTML}"}, content_type="application/json"),
    )


def assert_terminal_safe(where: str, text: str) -> None:
    assert "Traceback" not in text, f"{where}: {text[-2000:]}"
    for bad in FORBIDDEN_TERMINAL:
        assert bad not in text, f"{bad!r} reached {where}"


def assert_markdown_safe(where: str, text: str) -> None:
    for bad in FORBIDDEN_MARKDOWN:
        assert bad not in text, f"{bad!r} reached {where}"
    live = LIVE_MARKDOWN.search(text)
    assert live is None, f"live markup {text[max(0, live.start() - 40) : live.end() + 40]!r} in {where}"


@pytest.mark.timeout(120)
def test_hostile_server_strings_are_inert_in_every_output(tmp_path: Path):
    out = tmp_path / "out"
    with fault_server(hostile_vendor()) as srv:
        audit = run(
            "--debug", "audit", srv.base, "-o", str(out), "--format", "html,md,json", "--timeout", "2", "--label", HOSTILE
        )
        probe = run("probe", srv.base, "-o", str(tmp_path / "ev.json"), "--timeout", "2")
    assert audit.exit_code in (0, 1), audit.stderr[-3000:]
    assert probe.exit_code == 0, probe.stderr[-3000:]
    assert "[/]" in audit.stderr  # printed literally, never read as markup
    assert_terminal_safe("audit stderr", audit.stderr)
    assert_terminal_safe("probe stderr", probe.stderr)
    md = (out / "report.md").read_text(encoding="utf-8")
    assert_markdown_safe("report.md", md)
    assert "\\<script\\>alert(1)" in md and "\\[click\\](javascript:" in md  # neutralised, still readable
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # autoescape kept
    evidence = (out / "evidence.json").read_text(encoding="utf-8")
    assert "\ufffd" in evidence  # the lone surrogate was replaced where the bytes became text
    # Every command that reads those files back is as safe.
    for args in (
        ("score", str(tmp_path / "ev.json"), "-o", str(tmp_path / "s.md")),
        ("compare", str(out), str(tmp_path / "ev.json"), "-o", str(tmp_path / "c.md")),
        ("diff", str(tmp_path / "ev.json"), str(out), "-o", str(tmp_path / "d.md")),
    ):
        res = run(*args)
        assert res.exit_code in (0, 1), (args, res.stderr[-3000:])
        if args[0] == "compare":  # it prints each product's name (the hostile --label)
            assert "\\x1b[2J" in res.stderr  # made visible, not obeyed
        assert_terminal_safe(args[0], res.stderr)
        assert_markdown_safe(args[0], Path(args[-1]).read_text(encoding="utf-8"))


@pytest.mark.timeout(120)
def test_hostile_user_strings_are_inert(tmp_path: Path):
    pack = tmp_path / "pack.yaml"
    pack.write_text(
        "pack: custom-x\n"
        f"title: {json.dumps('Pack ' + MARKUP + ESC)}\n"
        "description: hostile titles\n"
        "rules:\n"
        "  - id: CUS-001\n"
        f"    title: {json.dumps('Rule ' + MARKUP + ESC + HTML)}\n"
        "    severity: high\n"
        "    weight: 1\n"
        "    references: [{cite: 'none'}]\n"
        "    remediation: fix\n"
        f"    vendor_question: {json.dumps('Why ' + HTML + MD_LINKS)}\n"
        "    needs: [capability]\n"
        "    check: {path: capability.fhir_version, op: equals, value: '9.9.9'}\n"
        "    pass_message: ok\n"
        "    fail_message: not ok\n",
        encoding="utf-8",
    )
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n"
        "  - rule: CUS-001\n"
        f"    target: {json.dumps('http://x.example/' + MARKUP)}\n"
        "    reason: test\n"
        "    expires: 2999-01-01\n",
        encoding="utf-8",
    )
    odd_dir = tmp_path / "out[/]dir"
    with fault_server(healthy(metadata=json_reply(CAP))) as srv:
        res = run("audit", srv.base, "-o", str(odd_dir), "--pack", str(pack), "--waivers", str(waivers), "--timeout", "2")
    assert res.exit_code in (0, 1), res.stderr[-3000:]
    assert_terminal_safe("audit stderr", res.stderr)
    assert "[/][bold]x[/bold]" in res.stderr  # the rule title, printed literally
    md = (odd_dir / "report.md").read_text(encoding="utf-8")
    assert_markdown_safe("report.md", md)
    listed = run("rules", "check", str(pack))
    assert listed.exit_code == 0, listed.stderr
    assert "\x1b" not in listed.stdout


def test_terminal_and_markdown_sanitisers():
    import io

    from rich.console import Console

    def shown(text: str) -> str:
        out = io.StringIO()
        Console(file=out, width=500, color_system=None).print(terminal(text), highlight=False)
        return out.getvalue().rstrip("\n")

    assert shown(MARKUP) == MARKUP  # printed as written, never interpreted
    assert shown("a\x1b[31mb\x9bc\u202ed\ud800") == "a\\x1b[31mb\\x9bc\\u202ed\\ud800"
    assert visible("line1\nline2\ttab") == "line1\\nline2\\ttab"
    md = markdown(f"{HTML} {MD_LINKS} a|b\nc \\[")
    assert not re.search(r"(?<!\\)[<>\[\]|]", md.replace("\\\\", "")), md
    assert "\n" not in md
    assert markdown(3) == "3" and markdown("plain text, 4.0.1") == "plain text, 4.0.1"
