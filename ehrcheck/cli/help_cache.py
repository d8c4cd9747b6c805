"""Help screens from the per-user cache, printed without importing typer or rich.

Rendering `ehrcheck --help` through typer and its rich formatter costs more CPU than the whole
start-up budget (docs/benchmarks.md), yet the screen is the same on every run while nothing it is
made from changes. So a run that renders a help screen through typer keeps the exact text it wrote
to stdout in the cache folder (files/cache.py: the user's own, 0700), and the next run with the same
command line in the same environment prints that text instead.

An entry's name is a hash of everything the rendering depends on: ehrcheck's and Python's
versions, the program name and command line, the environment variables typer and rich read (terminal width, colour,
TERM, locale), whether stdout is a terminal and its encoding, the terminal size, and the installed
typer and rich versions. Inside, the entry lists every ehrcheck source file that was loaded when it
was rendered (the CLI modules and what they import) with a hash of each: a changed file is a miss.
Any doubt (no cache folder, a damaged entry, a file that cannot be read) renders through typer.
`EHRCHECK_CACHE_DIR=off` turns it off.

This module imports nothing heavy: it runs before the command line is built.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KIND = "help"
HELP_FLAG = "--help"
# Read by rich's Console or typer's rich_utils when they pick width, colour and terminal handling,
# and by gettext (typer translates its panel titles): each one's value is part of the key.
ENV_NAMES = (
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "TERMINAL_WIDTH",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "LANGUAGE",
    "LC_ALL",
    "LC_MESSAGES",
    "LC_CTYPE",
    "LANG",
)
ENV_PREFIXES = ("TYPER_", "_TYPER_")  # TYPER_USE_RICH, _TYPER_FORCE_DISABLE_TERMINAL, ...
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_help_request(argv: list[str], commands: dict[str, Any], groups: dict[str, Any]) -> bool:
    """`--help` alone, or after a command (`score --help`) or a group's command (`rules list --help`)."""
    if not argv or argv[-1] != HELP_FLAG:
        return False
    names = argv[:-1]
    if len(names) <= 1:
        return not names or names[0] in commands or names[0] in groups
    return len(names) == 2 and names[0] in groups and names[1] in groups[names[0]][1]


def _terminal_size() -> str:
    # As rich's Console.size looks: the first of stdin, stdout, stderr that is a terminal.
    for fd in (0, 1, 2):
        try:
            size = os.get_terminal_size(fd)
        except (AttributeError, ValueError, OSError):
            continue
        return f"{size.columns}x{size.lines}"
    return "none"


def _stdout_facts() -> str:
    out = sys.stdout
    try:
        tty = bool(out.isatty())
    except (AttributeError, ValueError, OSError):
        tty = False
    return f"tty={tty} encoding={getattr(out, 'encoding', None)} errors={getattr(out, 'errors', None)}"


def _installed(name: str) -> str:
    """`name`'s installed version, read from its .dist-info folder's name beside the package that
    `import name` would load (importlib.metadata alone costs ~50 ms of start-up), and its
    __init__.py's size and time: a reinstall of the same version changes them too."""
    for entry in sys.path:
        package = os.path.join(entry or ".", name)
        try:
            info = os.stat(os.path.join(package, "__init__.py"))
        except OSError:
            continue
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            listing = []
        dists = sorted(n for n in listing if n.startswith(f"{name}-") and n.endswith(".dist-info"))
        return f"{package} {dists} {info.st_size} {info.st_mtime_ns}"
    return "missing"


def _program() -> str:
    # The usage line names the program as click finds it: sys.argv[0], or the module after -m.
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return f"{sys.argv[0] if sys.argv else ''} {getattr(spec, 'name', None)}"


def entry_name(argv: list[str]) -> str:
    from ehrcheck import __version__

    parts = [
        __version__,
        sys.version,
        PACKAGE,
        _program(),
        "\0".join(argv),
        _stdout_facts(),
        _terminal_size(),
        _installed("typer"),
        _installed("rich"),
    ]
    for name in sorted(os.environ):
        if name.startswith(ENV_PREFIXES) and name not in ENV_NAMES:
            parts.append(f"{name}={os.environ[name]}")
    parts += [f"{name}={os.environ.get(name, chr(0))}" for name in ENV_NAMES]
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()[:32] + ".json"


def _file_hash(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _folder() -> Any:
    from ehrcheck.files.cache import cache_dir

    return cache_dir(KIND)


def cached(argv: list[str]) -> str | None:
    """The help text this command line printed before in this environment, if nothing it was made
    from has changed since; None otherwise."""
    import json

    folder = _folder()
    if folder is None:
        return None
    try:
        with open(folder / entry_name(argv), "rb") as fh:
            entry = json.loads(fh.read())
        sources, text = entry["sources"], entry["text"]
        if not isinstance(text, str) or not isinstance(sources, dict) or not sources:
            return None
        for path, digest in sources.items():
            if _file_hash(os.path.join(PACKAGE, path)) != digest:
                return None
    except Exception:  # noqa: BLE001 - missing, damaged or stale: render through typer instead
        return None
    return text


def print_cached(text: str) -> None:
    """Write a cached screen to stdout; a reader that went away (`| head`, a closed pipe) ends the
    run with exit code 1 and nothing on stderr, as click does when it renders."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        try:  # the interpreter flushes stdout again at exit: let that go nowhere, quietly
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        sys.exit(1)


def _loaded_sources() -> dict[str, str]:
    """Every ehrcheck source file loaded so far, relative to the package, with its hash."""
    sources: dict[str, str] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not path.endswith(".py"):
            continue
        path = os.path.abspath(path)
        if os.path.commonpath([path, PACKAGE]) == PACKAGE:
            sources[os.path.relpath(path, PACKAGE)] = _file_hash(path)
    return dict(sorted(sources.items()))


class _Tee:
    """sys.stdout that also keeps what is written through it; everything else is the stream's own
    (isatty, encoding, fileno), so rich sees the terminal it would have seen. Whoever asks for the
    binary buffer beneath (click does, to re-encode for a stream it finds misconfigured, such as
    ASCII) may write past the copy: then the copy is incomplete and is not kept."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.parts: list[str] = []
        self.bypassed = False

    def write(self, text: str) -> int:
        written = self._stream.write(text)  # bytes raise TypeError here, as click's probe expects
        self.parts.append(text)
        return written

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            self.bypassed = True
        return getattr(self._stream, name)


@contextmanager
def recording(argv: list[str]) -> Iterator[None]:
    """Run a help request through typer and keep what it wrote to stdout, when it succeeded."""
    import json

    folder = _folder()
    if folder is None:
        yield
        return
    real = sys.stdout
    tee = _Tee(real)
    sys.stdout = tee
    ok = False
    try:
        yield
        ok = True
    except SystemExit as exc:
        ok = exc.code in (None, 0)
        raise
    finally:
        sys.stdout = real
        text = "".join(tee.parts)
        if ok and text and not tee.bypassed:
            from ehrcheck.files.cache import write_atomically

            entry = json.dumps({"sources": _loaded_sources(), "text": text}, ensure_ascii=True)
            try:
                write_atomically(folder / entry_name(argv), entry.encode("ascii"))
            except OSError:
                pass  # no room or a read-only folder: this run printed it; the next renders it again
