"""What every check shares: the `Outcome` a check returns, the `@check` mark, and helpers for
reading evidence views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

from ehrcheck.evidence.anonymous import CapabilityData, SmartDocument
from ehrcheck.evidence.view import View


@dataclass(frozen=True)
class Outcome:
    status: str  # pass | fail | warn | not_applicable | not_observed | unverified
    observed: Any = None
    detail: str | None = None


class CheckArgs(BaseModel):
    """A check's arguments (`check.args` in a pack). An unknown or mistyped argument is an error
    when the pack is loaded, with the file and line, instead of a default silently used."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class NoArgs(CheckArgs):
    """For checks that take no arguments."""


A = TypeVar("A", bound=CheckArgs)
CheckFn = Callable[[View, Any, dt.date], Outcome]


@dataclass(frozen=True)
class CheckSpec:
    """A named check: the function and the model of its arguments."""

    name: str
    fn: CheckFn
    args: type[CheckArgs]


def check(
    args: type[CheckArgs] = NoArgs,
) -> Callable[[Callable[[View, A, dt.date], Outcome]], Callable[[View, A, dt.date], Outcome]]:
    """Mark a function as a named check taking `args`. Marking registers nothing: `ehrcheck.rules.checks`
    collects the marked functions of the area modules it lists, so the registry is explicit and
    import order cannot change it."""

    def mark(fn: Callable[[View, A, dt.date], Outcome]) -> Callable[[View, A, dt.date], Outcome]:
        fn.check_args = args  # type: ignore[attr-defined]
        return fn

    return mark


US_CORE = "http://hl7.org/fhir/us/core/"
US_CORE_PROFILE = US_CORE + "StructureDefinition/"
# US Core versions whose USCDI profile lists are kept (rules/data/us_core_<v>_uscdi_profiles.json,
# made by scripts/gen_us_core_data.py); 6.1.0 is the one 45 CFR 170.215(b)(1)(ii) names.
USCDI_VERSIONS = ("6.1.0", "7.0.0")


# --- helpers ---------------------------------------------------------------------------------


def _strings(value: Any) -> list[str]:
    """A list of strings from a list (or a single string); anything else is empty."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def _sentence(parts: Iterable[str]) -> str:
    """Problems joined into one sentence that starts with a capital and ends with a full stop."""
    text = "; ".join(parts)
    return (text[:1].upper() + text[1:] + ".") if text else ""


def _listing(items: Iterable[str], limit: int = 8) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


def _date(value: Any) -> dt.date | None:
    """A date from a date, a datetime or an ISO-8601 string; None when unreadable."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            return dt.datetime.fromisoformat(text).date()
        except ValueError:
            try:
                return dt.date.fromisoformat(text[:10])
            except ValueError:
                return None
    return None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = "".join(ch for ch in piece if "0" <= ch <= "9")  # not isdigit: int("²") fails
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def _expired(expiries: dict[str, Any], version: str, as_of: dt.date) -> dt.date | None:
    """The date a listed version stopped being acceptable, if it has by `as_of`."""
    for listed, until in expiries.items():
        if _version_tuple(version)[:2] == _version_tuple(str(listed))[:2]:
            end = _date(until)
            if end is not None and as_of >= end:
                return end
    return None


def _smart(view: View) -> tuple[SmartDocument | None, str]:
    """The SMART configuration document, or None and a plain reason why there is none."""
    smart = view.smart
    if smart is not None and smart.found and smart.document is not None:
        return smart.document, ""
    problem = (smart.problem if smart is not None else None) or "not found"
    return None, f"No SMART configuration was published at .well-known/smart-configuration ({problem})."


def _smart_capabilities(view: View) -> list[str]:
    smart = view.smart
    if smart is None:
        return []
    if smart.capabilities:
        return _strings(smart.capabilities)
    caps = smart.document.capabilities if smart.document else None
    return [c for c in caps if isinstance(c, str)] if isinstance(caps, list) else []


def _cap(view: View) -> CapabilityData | None:
    cap = view.capability
    return cap if cap is not None and cap.found else None


NO_CAPABILITY = Outcome("fail", None, "No CapabilityStatement was returned.")


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


# --- CapabilityStatement ---------------------------------------------------------------------
