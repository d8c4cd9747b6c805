"""What every check shares: the `Outcome` a check returns, the `@check` mark, and helpers for
reading evidence views."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    status: str  # pass | fail | warn | not_applicable | not_observed | unverified
    observed: Any = None
    detail: str | None = None


CheckFn = Callable[[dict[str, Any], dict[str, Any], dt.date], Outcome]


def check(fn: CheckFn) -> CheckFn:
    """Mark a function as a named check. Marking registers nothing: `ehrcheck.rules.checks` collects
    the marked functions of the area modules it lists, so the registry is explicit and import order
    cannot change it."""
    fn.is_check = True  # type: ignore[attr-defined]
    return fn


US_CORE = "http://hl7.org/fhir/us/core/"
US_CORE_PROFILE = US_CORE + "StructureDefinition/"
USCDI_PROFILES_FILE = "us_core_6_1_0_uscdi_profiles.json"


# --- helpers ---------------------------------------------------------------------------------


def _get(view: Any, *path: str, default: Any = None) -> Any:
    cur: Any = view
    for part in path:
        if not isinstance(cur, dict) or part not in cur:
            return default
        cur = cur[part]
    return cur


def _dotted(view: dict[str, Any], path: str) -> Any:
    return _get(view, *path.split("."))


def _strings(value: Any) -> list[str]:
    """A list of strings from a list (or a single string); anything else is empty."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


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
        digits = "".join(ch for ch in piece if ch.isdigit())
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


def _smart(view: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The SMART configuration document, or None and a plain reason why there is none."""
    smart = view.get("smart") or {}
    if smart.get("found") and isinstance(smart.get("document"), dict):
        return smart["document"], ""
    problem = smart.get("problem") or "not found"
    return None, f"No SMART configuration was published at .well-known/smart-configuration ({problem})."


def _smart_capabilities(view: dict[str, Any]) -> list[str]:
    return _strings(_get(view, "smart", "capabilities")) or _strings(_get(view, "smart", "document", "capabilities"))


def _cap(view: dict[str, Any]) -> dict[str, Any] | None:
    cap = view.get("capability") or {}
    return cap if cap.get("found") else None


NO_CAPABILITY = Outcome("fail", None, "No CapabilityStatement was returned.")


def _strip_version(url: str) -> str:
    return url.split("|", 1)[0]


# --- CapabilityStatement ---------------------------------------------------------------------
