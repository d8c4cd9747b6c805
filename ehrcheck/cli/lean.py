"""Run a simple command line of a command declared in spec.py (`score`, `audit`) without typer.

typer with click costs ~35 ms of CPU to import on top of pydantic and builds a pydantic adapter
per parameter: ~40 ms of a ~0.27 s `score`, ~50 ms of an audit (docs/benchmarks.md, issue 19).
For a command line made only of the command's own flags, its argument and plain values, the
values typer gives the command are plain to read; this module reads them from the same
declarations typer is given (spec.py) and calls the command. Anything else (--help, an unknown or repeated flag, `--`, bundled short flags, a missing
or extra argument, a value that is empty or starts with '-', a number typer might read otherwise,
any of the command's or the root's environment variables set, a shell-completion request) is left
to typer, which answers it as always, errors and their messages included.
tests/cli/test_lean_parser.py checks the two agree on a table of command lines.

This module imports nothing heavy: it runs before the command line is built.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Mapping
from importlib import import_module
from pathlib import Path
from typing import Any

from ehrcheck.cli.spec import AUDIT, DEBUG, SCORE, Arg, Command, Opt

# Command name -> (its declaration, the module whose `run` carries it out, flags left to typer).
# A user launch reads the redirect URL from stdin, and typer answers an EOF there ("Aborted.").
LEAN = {
    "score": (SCORE, "ehrcheck.cli.score", frozenset[str]()),
    "audit": (AUDIT, "ehrcheck.cli.audit_run", frozenset({"--launch", "--no-browser", "--launch-timeout"})),
}
# Numbers as a person types them; typer reads others too (1e2, 1_0, +5, nan, inf) and is left to.
_NUMBER = re.compile(r"[0-9]{1,10}(\.[0-9]{1,10})?")
_INTEGER = re.compile(r"[0-9]{1,9}")


def _value(decl: Opt | Arg, text: str) -> Any:
    """The value typer would give for `text`, or None when the lean parser should not decide."""
    if not text or (text.startswith("-") and not (text == "-" and decl.kind is str)):
        return None  # '-' is stdout for -o; any other leading '-' may be a flag typer reads differently
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return None  # undecodable bytes from the command line: typer's path handling decides
    if decl.kind is str:
        return text
    if decl.kind is Path:
        return Path(text)
    if isinstance(decl, Opt) and decl.kind in (float, int):
        pattern = _NUMBER if decl.kind is float else _INTEGER
        if not pattern.fullmatch(text):
            return None
        number = decl.kind(text)
        if (decl.min is None or number >= decl.min) and (decl.max is None or number <= decl.max):
            return number
    return None


def parse(
    command: Command, argv: list[str], environ: Mapping[str, str], typer_only: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """The values typer would call `command` with for `argv` (the words after its name), or None
    when the line is not simple enough to be sure, or names a flag in `typer_only`: then typer
    parses it."""
    opts = [(p, p.decl) for p in command.params if isinstance(p.decl, Opt)]
    if any(decl.envvar and decl.envvar in environ for _, decl in (*opts, (None, DEBUG))):
        return None
    if any(name.startswith("_") and name.endswith("_COMPLETE") for name in environ):
        return None  # click's shell completion (_EHRCHECK_COMPLETE and the like)
    by_flag = {flag: (p, decl) for p, decl in opts if not set(decl.flags) & typer_only for flag in decl.flags}
    given: dict[str, Any] = {}
    positional: list[Any] = []
    words = iter(argv)
    for word in words:
        if not word.startswith("-") or word == "-":
            positional.append(word)
            continue
        flag, eq, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        if flag not in by_flag:
            return None  # --help, --, -qo, -ofile, a flag of another command or none
        param, decl = by_flag[flag]
        if param.name in given and not decl.multiple:
            return None  # given twice: typer keeps the last one; not worth a second rule here
        if decl.kind is bool:
            if eq:
                return None  # --pdf=yes: typer's error
            given[param.name] = True
            continue
        value = _value(decl, attached) if eq else _value(decl, next(words, ""))
        if value is None:
            return None
        given[param.name] = [*given.get(param.name, []), value] if decl.multiple else value
    args = [p for p in command.params if isinstance(p.decl, Arg)]
    if len(positional) != len(args):
        return None
    for param, text in zip(args, positional, strict=True):
        value = _value(param.decl, text)
        if value is None:
            return None
        given[param.name] = value
    return {p.name: given.get(p.name, p.default) for p in command.params}


def _quiet_streams() -> None:
    """After a reader went away (`| head`): the interpreter's final flush of stdout and stderr
    must not print a BrokenPipeError of its own."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (OSError, ValueError, AttributeError):
            pass


def run(argv: list[str]) -> bool:
    """Run `argv` (the words after `ehrcheck`) when it is a simple line of a command in LEAN; False
    when typer must. Exits as typer does: the command's own exit codes, 130 on Ctrl-C, 1 when the
    reader of stdout went away."""
    if not argv or argv[0] not in LEAN:
        return False
    command, module, typer_only = LEAN[argv[0]]
    values = parse(command, argv[1:], os.environ, typer_only)
    if values is None:
        return False
    try:
        import_module(module).run(**values)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _quiet_streams()
        raise SystemExit(1) from None
    return True
