"""What every command shares: one stderr console, clear errors instead of tracebacks, and the
parsing of options several commands take."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ehrcheck.errors import UserInputError

if TYPE_CHECKING:
    from rich.console import Console


class _DeferredConsole:
    """rich's stderr Console, made when something is first printed: a quiet run that prints
    nothing (`score -q -o - --format json`) never imports rich (~20 ms)."""

    def __init__(self) -> None:
        self._real: Console | None = None

    def _console(self) -> Console:
        if self._real is None:
            from rich.console import Console

            self._real = Console(stderr=True, highlight=False)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._console(), name)

    # Dunders are looked up on the type, not through __getattr__ (rich's Live uses `with console:`).
    def __enter__(self) -> Console:
        return self._console().__enter__()

    def __exit__(self, *exc: object) -> None:
        self._console().__exit__(*exc)


def err_console() -> Console:
    return cast("Console", _DeferredConsole())


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn bad input into one clear line and exit 2, never a traceback."""
    try:
        yield
    except UserInputError as exc:
        from ehrcheck.inert import terminal

        # Inert (messages quote YAML such as [a, b], and whatever a file holds) and unwrapped, so
        # file:line: stays whole.
        err_console().print(f"[bold red]error:[/] {terminal(str(exc), keep_newlines=True)}", soft_wrap=True)
        raise SystemExit(2) from None
    except KeyboardInterrupt:  # while scoring or writing: reports are written atomically, so none is half-written
        err_console().print("[red]interrupted[/]")
        raise SystemExit(130) from None


@contextlib.contextmanager
def malformed_evidence(path: Path) -> Iterator[None]:
    """Evidence edited by hand can hold shapes no probe writes: scoring it ends in one clear
    message naming the file (reports are rendered before any is written, so none is partial)."""
    try:
        yield
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        raise UserInputError(
            f"{path}: this evidence cannot be scored ({exc.__class__.__name__}); was it edited by hand? "
            "Re-run `ehrcheck probe` to gather it again"
        ) from None


def parse_as_of(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserInputError(f"--as-of: '{value}' is not a date like 2026-01-31") from None


def parse_profile(value: str | None) -> str:
    from ehrcheck.engine.profiles import get_profile

    try:
        return get_profile(value or "default").name
    except ValueError as exc:
        raise UserInputError(f"--profile: {exc}") from None


def parse_fail_on(value: str | None):
    from ehrcheck.engine.gates import parse_severity

    if not value:
        return None
    try:
        return parse_severity(value)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None


def load_packs(paths: list[Path] | None):
    """Custom rule packs from --pack, checked before any probing starts."""
    if not paths:
        return ()  # nothing to read: the YAML loader and the custom-pack checks are not imported
    from ehrcheck.rules.custom import load_custom_packs

    return load_custom_packs(paths or [])


MAX_TIMEOUT = 3600.0  # an hour per request: the audit budget is a multiple of it, so it must be finite


def check_seconds(flag: str, value: float, most: float) -> None:
    """A duration option: a finite number of seconds, more than 0 and at most `most` (nan and inf
    would void every deadline and the audit budget built on them)."""
    import math

    if not math.isfinite(value) or value <= 0:
        raise UserInputError(f"{flag} must be more than 0 seconds (a number, not {value})")
    if value > most:
        raise UserInputError(f"{flag} {value:g}: at most {most:g} seconds")


def check_score(flag: str, value: float | None) -> None:
    """A score gate: a finite number (nan compares false with every score, so the gate never trips;
    inf fails every endpoint whatever it scores)."""
    import math

    if value is not None and not math.isfinite(value):
        raise UserInputError(f"{flag}: '{value}' is not a score; give a number from 0 to 100")


def check_ca_bundle(path: Path) -> None:
    """Refuse, before any request, a --ca-bundle that is not PEM certificates (it used to be an
    ssl.SSLError traceback when the first client was built). Read into an empty context: the
    system's store (~20 ms of CPU to load) has nothing to do with whether this file parses."""
    import ssl

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc.__class__.__name__
        raise UserInputError(f"--ca-bundle {path}: not a PEM file of CA certificates ({why})") from None


def http_options(timeout: float, ca_bundle: Path | None):
    from ehrcheck.http.client import HttpOptions

    check_seconds("--timeout", timeout, MAX_TIMEOUT)
    verify: bool | str = True
    if ca_bundle is not None:
        if not ca_bundle.is_file():
            raise UserInputError(f"--ca-bundle {ca_bundle}: {'no such file' if not ca_bundle.exists() else 'not a regular file'}")
        check_ca_bundle(ca_bundle)
        verify = str(ca_bundle)
    return HttpOptions(timeout=timeout, verify=verify)
