"""What a check sees: each evidence source as its model, None when it was not observed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel

if TYPE_CHECKING:  # each area's models are imported when evidence of that area is read (registry.py)
    from ehrcheck.evidence.anonymous import AccessData, AvailabilityData, CapabilityData, OpenIdData, SmartData, TransportData
    from ehrcheck.evidence.authenticated import BulkData, ScopesData, TokenData, UsCoreData
    from ehrcheck.evidence.certification import ChplData, EndpointsData
    from ehrcheck.evidence.launch import LaunchData

T = TypeVar("T")


class SourceMissing(LookupError):
    """A check read a source its rule's `needs` does not list: a bug in the pack or the check."""


def need(source: T | None, name: str = "a source") -> T:
    """The source a rule `needs` (so the engine has made sure it is there)."""
    if source is None:
        raise SourceMissing(f"the check reads {name} evidence, which its rule does not list in needs")
    return source


@dataclass(frozen=True)
class View:
    capability: CapabilityData | None = None
    smart: SmartData | None = None
    openid: OpenIdData | None = None
    access: AccessData | None = None
    transport: TransportData | None = None
    availability: AvailabilityData | None = None
    chpl: ChplData | None = None
    endpoints: EndpointsData | None = None
    token: TokenData | None = None
    scopes: ScopesData | None = None
    uscore: UsCoreData | None = None
    bulk: BulkData | None = None
    launch: LaunchData | None = None
    claims: dict[str, Any] | None = None  # validated against ehrcheck/claims/schema.py when loaded

    def lookup(self, path: str) -> Any:
        """The value at a dotted path (`claims.product.chpl_product_numbers`), None when absent.
        Paths come from check arguments, which are validated when the pack is loaded."""
        cur: Any = self
        for part in path.split("."):
            if isinstance(cur, dict):
                cur = cur.get(part)
            elif isinstance(cur, View):
                cur = getattr(cur, part) if part in View.__dataclass_fields__ else None
            elif isinstance(cur, BaseModel):
                cur = getattr(cur, part) if part in type(cur).model_fields or part in (cur.model_extra or {}) else None
            else:
                return None
            if cur is None:
                return None
        return cur
