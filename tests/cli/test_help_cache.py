"""Help screens from the per-user cache (ehrcheck/cli/help_cache.py): byte for byte what typer renders
in the same environment, printed without importing typer, and missed whenever anything the
rendering depends on changes.

Each run is a real process calling `ehrcheck.cli.main()` (where the cache sits); a run served from
the cache is told from a rendering one by what it imported (sys.modules), never by its speed.
"""

from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

import ehrcheck

PACKAGE = Path(ehrcheck.__file__).resolve().parent
HELP_REQUESTS = [["--help"], ["score", "--help"], ["rules", "list", "--help"], ["claims", "--help"]]
# Unset so the environment of whoever runs the suite does not leak into the renderings compared.
RENDERING_ENV = ("COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "TERMINAL_WIDTH")


def _env(cache: Path | str, extra: dict[str, str] | None = None, pythonpath: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in RENDERING_ENV and not k.startswith(("TYPER_", "_TYPER_"))}
    env.update({"EHRCHECK_CACHE_DIR": str(cache), "TERM": "xterm-256color", **(extra or {})})
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return env


# `ehrcheck ARGS` that says last on stderr whether typer was imported (sys.modules: -X importtime
# would miss a module loaded through importlib.import_module).
RUN = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("\\nTYPER %s\\n" % ("typer" in sys.modules)))
sys.argv[0] = "ehrcheck"
from ehrcheck.cli import main
main()
"""


def _run(args: list[str], env: dict[str, str]) -> tuple[bytes, bool]:
    """stdout of `ehrcheck ARGS` through a pipe, and whether the run imported typer."""
    proc = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        capture_output=True,
        env=env,
        cwd=env.get("PYTHONPATH", PACKAGE.parent),  # the working folder comes first on sys.path
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    said = proc.stderr.decode(errors="replace").rsplit("\nTYPER ", 1)[1].strip()
    assert said in ("True", "False")
    return proc.stdout, said == "True"


def _entries(cache: Path) -> set[str]:
    folder = cache / "help"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.mark.parametrize("args", HELP_REQUESTS, ids=" ".join)
def test_cached_help_is_what_typer_renders(tmp_path: Path, args: list[str]):
    cache = tmp_path / "cache"
    typer_rendering, used_typer = _run(args, _env("off"))
    assert used_typer and f"Usage: ehrcheck {' '.join(args[:-1])}".replace("  ", " ").encode() in typer_rendering
    first, rendered = _run(args, _env(cache))
    assert rendered and first == typer_rendering  # the miss renders through typer, and keeps it
    assert len(_entries(cache)) == 1
    assert (cache / "help").stat().st_mode & 0o777 == 0o700
    second, rendered_again = _run(args, _env(cache))
    assert not rendered_again, "a cached help screen must not import typer"
    assert second == typer_rendering


@pytest.mark.parametrize(
    "change",
    [
        {"COLUMNS": "50"},
        {"LINES": "10"},
        {"TERMINAL_WIDTH": "120"},
        {"NO_COLOR": "1"},
        {"FORCE_COLOR": "1"},
        {"TERM": "dumb"},
        {"LC_ALL": "C"},
        {"TYPER_USE_RICH": "0"},
    ],
    ids=lambda c: ",".join(c),
)
def test_a_changed_environment_misses(tmp_path: Path, change: dict[str, str]):
    cache = tmp_path / "cache"
    _run(["--help"], _env(cache))
    before = _entries(cache)
    out, rendered = _run(["--help"], _env(cache, change))
    assert rendered, f"{change} must render through typer, not reuse the screen made without it"
    assert out == _run(["--help"], _env("off", change))[0]
    assert len(_entries(cache) - before) == 1
    again, rendered_again = _run(["--help"], _env(cache, change))
    assert not rendered_again and again == out


def test_another_command_line_misses(tmp_path: Path):
    cache = tmp_path / "cache"
    root, _ = _run(["--help"], _env(cache))
    score, rendered = _run(["score", "--help"], _env(cache))
    assert rendered and score != root and b"EVIDENCE" in score


def _isolated_site(tmp_path: Path) -> Path:
    """A folder first on sys.path holding a copy of ehrcheck's sources."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copytree(PACKAGE, site / "ehrcheck", ignore=shutil.ignore_patterns("__pycache__"))
    return site


@pytest.mark.parametrize("library", ["typer", "rich"])
def test_another_typer_or_rich_misses(tmp_path: Path, library: str):
    cache = tmp_path / "cache"
    site = _isolated_site(tmp_path)
    (site / library).symlink_to(Path(__import__(library).__file__).parent)  # the installed one, found here
    (site / f"{library}-1.0.dist-info").mkdir()
    env = _env(cache, pythonpath=site)
    first, _ = _run(["--help"], env)
    assert not _run(["--help"], env)[1]
    (site / f"{library}-1.0.dist-info").rename(site / f"{library}-2.0.dist-info")  # an upgrade, as pip leaves it
    out, rendered = _run(["--help"], env)
    assert rendered and out == first and len(_entries(cache)) == 2


def test_a_changed_source_misses(tmp_path: Path):
    cache = tmp_path / "cache"
    site = _isolated_site(tmp_path)
    env = _env(cache, pythonpath=site)
    before, _ = _run(["score", "--help"], env)
    spec = site / "ehrcheck" / "cli" / "spec.py"  # where score's help text is declared
    spec.write_text(spec.read_text().replace("Score saved evidence: no network", "Score saved evidence, offline"))
    after, rendered = _run(["score", "--help"], env)
    assert rendered and after != before and b"Score saved evidence, offline" in after
    # a module the help text comes from outside cli/ (the format list) is a source too
    (site / "ehrcheck" / "render" / "__init__.py").write_text(
        (site / "ehrcheck" / "render" / "__init__.py").read_text() + "\n# changed\n"
    )
    again, rendered_again = _run(["score", "--help"], env)
    assert rendered_again and again == after


def test_off_and_damaged_entries(tmp_path: Path):
    cache = tmp_path / "cache"
    expected, _ = _run(["--help"], _env("off"))
    _run(["--help"], _env(cache))
    (entry,) = (cache / "help").iterdir()
    entry.write_bytes(b'{"sources": {}, "text": "planted"}')  # no sources: never trusted
    out, rendered = _run(["--help"], _env(cache))
    assert rendered and out == expected
    entry.write_bytes(b"\x00not json")
    out, rendered = _run(["--help"], _env(cache))
    assert rendered and out == expected


def test_a_folder_others_can_write_is_not_used(tmp_path: Path):
    cache = tmp_path / "cache"
    (cache / "help").mkdir(parents=True)
    os.chmod(cache, 0o777)  # noqa: S103 - the unsafe folder under test
    _run(["--help"], _env(cache))
    out, rendered = _run(["--help"], _env(cache))
    assert rendered and not _entries(cache)


def _on_terminal(args: list[str], env: dict[str, str], columns: int) -> bytes:
    """stdout of `ehrcheck ARGS` on a pseudo-terminal `columns` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-c", RUN, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE, env=env
    )
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its side
            break
        if not chunk:
            break
        out += chunk
    proc.wait()
    os.close(master)
    assert proc.returncode == 0
    return out


def test_on_a_terminal_colour_and_width_are_typers(tmp_path: Path):
    cache = tmp_path / "cache"
    typer_wide = _on_terminal(["--help"], _env("off"), 100)
    assert b"\x1b[" in typer_wide  # a terminal gets colour
    assert _on_terminal(["--help"], _env(cache), 100) == typer_wide
    assert _on_terminal(["--help"], _env(cache), 100) == typer_wide
    narrow = _on_terminal(["--help"], _env(cache), 60)
    assert narrow != typer_wide and narrow == _on_terminal(["--help"], _env("off"), 60)
    assert len(_entries(cache)) == 2


def test_a_reader_that_went_away_ends_it_quietly(tmp_path: Path):
    """stdout closed before the screen is written: exit 1 and nothing on stderr, from the cache as
    from typer (click's own handling of a broken pipe)."""
    cache = tmp_path / "cache"
    argv = [sys.executable, "-m", "ehrcheck.cli", "--help"]
    subprocess.run(argv, capture_output=True, env=_env(cache), cwd=PACKAGE.parent, check=True)  # fills the cache
    assert len(_entries(cache)) == 1
    for where in (cache, "off"):
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_env(where),
            cwd=PACKAGE.parent,
        )
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait() == 1 and err == b"", (where, err)


def test_a_stream_click_re_encodes_is_rendered_every_time(tmp_path: Path):
    """An ASCII stdout: click writes part of the screen through its own wrapper of the binary
    buffer, past what the cache could copy, so nothing is kept and typer renders each time."""
    cache = tmp_path / "cache"
    ascii_env = {"PYTHONIOENCODING": "ascii", "LC_ALL": "C"}
    expected, _ = _run(["--help"], _env("off", ascii_env))
    for _ in range(2):
        out, rendered = _run(["--help"], _env(cache, ascii_env))
        assert rendered and out == expected
    assert not _entries(cache)
