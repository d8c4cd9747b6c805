"""Named check functions for rules that a single operator cannot express.

Each function is pure: `(view, args, as_of) -> Outcome`. `view` (ehrcheck/evidence/view.py) holds
each evidence source as its typed model; a source that was not observed is None (the engine has
already turned a rule whose `needs` are missing into `not_observed`). `args` is the check's own
argument model, declared with `@check(args=...)` and validated when the pack is loaded. Checks live
in one module per area; `CHECKS` below collects the marked functions of the modules in `AREAS`, so
the registry is explicit and nothing registers itself at import time.

Conventions the functions share:

- A failing outcome's `detail` names what is missing or wrong ("missing: launch-ehr, context-style"),
  because the finding message is what a practice manager forwards to the vendor.
- Anything date-dependent is computed against `as_of`, never the clock, so re-scoring old evidence
  gives the same findings.
- A fact the probe could not establish (a TLS handshake that failed, a request that errored) is
  `not_observed`, never pass or fail.
- A vendor claim that no probe can confirm is at best `unverified`: claimed, not observed.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from pydantic import ValidationError

from ehrcheck.rules.checks import (
    access,
    authenticated,
    capability,
    certification,
    claims,
    discovery,
    documents,
    launch,
    origins,
    safety,
    transport,
)
from ehrcheck.rules.checks.common import CheckArgs, CheckFn, CheckSpec, Outcome

__all__ = ["AREAS", "CHECKS", "CheckArgs", "CheckFn", "CheckSpec", "Outcome", "validate_args"]

AREAS: tuple[ModuleType, ...] = (
    capability,
    discovery,
    documents,
    transport,
    access,
    safety,
    claims,
    certification,
    authenticated,
    launch,
    origins,
)


def _collect(areas: tuple[ModuleType, ...]) -> dict[str, CheckSpec]:
    found: dict[str, CheckSpec] = {}
    for area in areas:
        for name, fn in vars(area).items():
            args = getattr(fn, "check_args", None)
            if args is not None and getattr(fn, "__module__", None) == area.__name__:
                if name in found:
                    raise RuntimeError(f"check {name!r} is defined in two areas")
                found[name] = CheckSpec(name, fn, args)
    return found


CHECKS: dict[str, CheckSpec] = _collect(AREAS)


def validate_args(fn: str, args: dict[str, Any]) -> tuple[CheckArgs | None, list[tuple[tuple[Any, ...], str]]]:
    """A rule's check arguments as the check's model, or what is wrong with them as (location under
    `args`, message) pairs. `fn` must name a check."""
    try:
        return CHECKS[fn].args.model_validate(args), []
    except ValidationError as exc:
        return None, [(tuple(e.get("loc", ())), _message(e)) for e in exc.errors()]


def _message(error: Any) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown argument"
    return str(error.get("msg"))
