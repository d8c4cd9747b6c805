"""The root of the command line: `ehrcheck [--version] [--debug] COMMAND`."""

from __future__ import annotations

from typing import Annotated

import typer

from ehrcheck import __version__
from ehrcheck.cli.options import option
from ehrcheck.cli.spec import DEBUG


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ehrcheck {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", metavar="", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, option(DEBUG)] = False,
) -> None:
    if debug:
        import logging

        from ehrcheck.console.debug import enable_debug

        handler = enable_debug()
        ctx.call_on_close(lambda: logging.getLogger("ehrcheck").removeHandler(handler))
