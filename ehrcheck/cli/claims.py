"""`ehrcheck claims init|check`: the vendor questionnaire."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer

from ehrcheck.cli.common import err_console, user_errors
from ehrcheck.errors import UserInputError
from ehrcheck.inert import terminal


def claims_init(
    output: Annotated[
        str, typer.Option("--output", "-o", metavar="FILE", help="Where to write the questionnaire, or - for stdout.")
    ] = "vendor.yaml",
    force: Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")] = False,
) -> None:
    """Write the vendor claims questionnaire: every question, commented, for the vendor to answer."""
    from ehrcheck.claims.template import questionnaire
    from ehrcheck.cli.output import check_writable
    from ehrcheck.files.store import write_atomic

    with user_errors():
        text = questionnaire()
        if output == "-":
            sys.stdout.write(text)
            return
        path = Path(output)
        if path.is_dir():
            raise UserInputError(f"-o {path}: is a folder; give a file name such as vendor.yaml")
        if path.exists() and not force:
            raise UserInputError(f"{path}: already exists; ehrcheck will not overwrite it (use --force, or -o another file)")
        check_writable(path, "-o")  # under a file, unwritable, a device: one message, not a traceback
        write_atomic(path, text)
    err_console().print(
        f"wrote {terminal(path)}: send it to the vendor, then check the answers with `ehrcheck claims check {terminal(path)}`"
    )


def claims_check(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A claims YAML file (from `ehrcheck claims init`, answered by the vendor).")
    ],
) -> None:
    """Validate a claims file: unknown fields, wrong types, impossible dates, malformed CHPL numbers."""
    from ehrcheck.claims.load import answered, load_claims_file
    from ehrcheck.files.store import load_claims

    with user_errors():
        load_claims(file, dt.date.today())  # every problem as file:line: field: message; fix
        done, total = answered(load_claims_file(file, dt.date.today()))
    from ehrcheck.inert import visible

    typer.echo(f"{visible(file)}: valid claims file; {done} of {total} questions answered.")
