"""Which US Core version to judge a server's data by: 6.1.0 (named by 45 CFR 170.215(b)(1)(ii))
or 7.0.0 (approved through SVAP). Pure: it reads what the server declares.

In order: `--us-core-version`; the version on the us-core-server statement the CapabilityStatement
`instantiates`; the versions on its US Core `supportedProfile` URLs (`...|7.0.0`), or profiles
only 7.0.0 has; the versions in the sampled resources' `meta.profile`; else 6.1.0. A server that
declares both is judged by the newer, and the report says both were declared.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ehrcheck.probes.authenticated.uscore_profiles import DEFAULT_VERSION, VERSIONS, conformance

US_CORE = "http://hl7.org/fhir/us/core/"
SERVER_STATEMENT = US_CORE + "CapabilityStatement/us-core-server"


def _versions(urls: Iterable[Any], prefix: str) -> list[str]:
    found = []
    for url in urls:
        if not isinstance(url, str) or not url.startswith(prefix) or "|" not in url:
            continue
        version = url.split("|", 1)[1].strip()
        if version in VERSIONS and version not in found:
            found.append(version)
    return sorted(found)


def _only_in(version: str) -> set[str]:
    """Profile URLs one version has and the other does not (7.0.0: average blood pressure,
    care-experience and treatment-intervention preferences)."""
    others = {p["url"] for v in VERSIONS if v != version for p in conformance(v)["profiles"]}
    return {p["url"] for p in conformance(version)["profiles"]} - others


def declared_versions(capability: dict[str, Any]) -> tuple[list[str], str | None]:
    """The US Core versions a CapabilityStatement (the capability probe's data) declares, and how."""
    found = _versions(capability.get("instantiates") or [], SERVER_STATEMENT)
    if found:
        return found, "instantiates"
    supported = list(capability.get("supported_profiles") or [])
    found = _versions(supported, US_CORE + "StructureDefinition/")
    if found:
        return found, "supportedProfile"
    bare = {str(u).split("|", 1)[0] for u in supported}
    found = [v for v in VERSIONS if bare & _only_in(v)]
    if found:
        return found, "supportedProfile"
    return [], None


def versions_in_meta(resources: Iterable[dict[str, Any]]) -> list[str]:
    urls = [u for r in resources if isinstance(r, dict) for u in ((r.get("meta") or {}).get("profile") or [])]
    return _versions(urls, US_CORE + "StructureDefinition/")


def choose_version(
    override: str | None, capability: dict[str, Any], resources: Iterable[dict[str, Any]] = ()
) -> tuple[str, str, list[str]]:
    """(version, basis, versions declared)."""
    declared, how = declared_versions(capability)
    if override:
        return override, "--us-core-version", declared
    if declared:
        return declared[-1], how or "declared", declared
    in_meta = versions_in_meta(resources)
    if in_meta:
        return in_meta[-1], "meta.profile", in_meta
    return DEFAULT_VERSION, "default", []
