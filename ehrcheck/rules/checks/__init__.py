"""Named check functions for rules that a single operator cannot express.

Each function is pure: `(view, args, as_of) -> Outcome`. `view` maps evidence sources
("capability", "smart", ...) to the data their probes recorded; sources that were not observed are
absent (the engine has already turned those into `not_observed`). Checks live in one module per
area, each marked with `@check`; `CHECKS` below collects the marked functions of the modules in
`AREAS`, so the registry is explicit and nothing registers itself at import time.

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

from ehrcheck.rules.checks import (
    access,
    authenticated,
    capability,
    certification,
    claims,
    discovery,
    transport,
)
from ehrcheck.rules.checks.common import CheckFn, Outcome

__all__ = ["AREAS", "CHECKS", "CheckFn", "Outcome"]

AREAS: tuple[ModuleType, ...] = (capability, discovery, transport, access, claims, certification, authenticated)


def _collect(areas: tuple[ModuleType, ...]) -> dict[str, CheckFn]:
    found: dict[str, CheckFn] = {}
    for area in areas:
        for name, fn in vars(area).items():
            if getattr(fn, "is_check", False) and getattr(fn, "__module__", None) == area.__name__:
                if name in found:
                    raise RuntimeError(f"check {name!r} is defined in two areas")
                found[name] = fn
    return found


CHECKS: dict[str, CheckFn] = _collect(AREAS)
