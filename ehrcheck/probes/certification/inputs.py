"""From the CLI's certification flags (and the claims file) to the `chpl` and `endpoints` probes
and their settings. Everything a user typed is checked here, before any request is made, so a
typo is one clear line naming the flag, file or claims field (exit 2), never a failed lookup.

The CHPL API key is read from the environment only (CHPL_API_KEY), lives in the settings of this
one run, and is never written to evidence, reports or logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ehrcheck.errors import UserInputError
from ehrcheck.evidence.ids import ProbeId
from ehrcheck.files.limits import read_user_json
from ehrcheck.probes.base import ProbeFn
from ehrcheck.probes.certification.chpl_listing import listing_documents, listing_problem
from ehrcheck.probes.certification.chpl_number import parse_product_number

CHPL_KEY_ENV = "CHPL_API_KEY"
CMS_ID = re.compile(r"^[A-Z0-9]{15}$")


@dataclass
class CertificationInputs:
    settings: dict[str, Any] = field(default_factory=dict)
    probes: dict[str, ProbeFn] = field(default_factory=dict)


def _read_json(path: Path, flag: str) -> Any:
    return read_user_json(path, f"{flag} {path}", "a JSON document ehrcheck reads")


def claimed_product_numbers(claims: dict[str, Any] | None, claims_path: Path | None) -> list[str]:
    """`product.chpl_product_numbers` (a list, or one string) from the claims, validated."""
    product = (claims or {}).get("product")
    raw = product.get("chpl_product_numbers") if isinstance(product, dict) else None
    if raw is None:
        return []
    values = [raw] if isinstance(raw, str) else raw
    where = f"{claims_path or 'claims'}: product.chpl_product_numbers"
    if not isinstance(values, list):
        raise UserInputError(f"{where}: must be a list of CHPL product numbers")
    out = []
    for i, value in enumerate(values):
        try:
            out.append(str(parse_product_number(str(value))))
        except ValueError as exc:
            raise UserInputError(f"{where}[{i}]: {exc}") from None
    return out


def claimed_cms_id(claims: dict[str, Any] | None) -> Any:
    cert = (claims or {}).get("certification")
    return cert.get("cms_ehr_certification_id") if isinstance(cert, dict) else None


def certification_inputs(
    *,
    chpl_ids: list[str] | None = None,
    chpl_file: Path | None = None,
    chpl_url: str | None = None,
    cms_id: str | None = None,
    endpoints_bundle: str | None = None,
    endpoints_sample: int = 5,
    claims: dict[str, Any] | None = None,
    claims_path: Path | None = None,
    environ: dict[str, str] | None = None,
) -> CertificationInputs:
    """Validate the inputs and choose the probes. Nothing given -> no probes, and the
    certification rules say `not_observed` with a hint on how to give them."""
    from ehrcheck.probes.certification.chpl import DEFAULT_CHPL_URL, probe_chpl
    from ehrcheck.probes.certification.endpoints import probe_endpoints

    environ = environ if environ is not None else {}
    out = CertificationInputs()
    numbers: list[str] = []
    for value in chpl_ids or []:
        try:
            number = str(parse_product_number(value))
        except ValueError as exc:
            raise UserInputError(f"--chpl-id: {exc}") from None
        if number not in numbers:
            numbers.append(number)
    for number in claimed_product_numbers(claims, claims_path):
        if number not in numbers:
            numbers.append(number)

    if chpl_url is not None and not chpl_url.startswith(("http://", "https://")):
        raise UserInputError(f"--chpl-url '{chpl_url}' must start with http:// or https://")
    if endpoints_sample < 0:
        raise UserInputError("--endpoints-sample must be 0 (off) or more")

    raw_cms = cms_id if cms_id is not None else claimed_cms_id(claims)
    if raw_cms is not None:
        where = "--cms-id" if cms_id is not None else f"{claims_path or 'claims'}: certification.cms_ehr_certification_id"
        text = str(raw_cms).strip().upper()
        if not CMS_ID.match(text):
            if cms_id is not None:
                raise UserInputError(
                    f"{where}: '{raw_cms}' is not a CMS EHR Certification ID (15 letters and digits, like 2025CGJ1F3L7D47)"
                )
            out.settings["cms_certification_id_malformed"] = True  # the vendor's answer: a finding, not a usage error
        out.settings["cms_certification_id"] = text

    documents = None
    if chpl_file is not None:
        doc = _read_json(chpl_file, "--chpl-file")
        documents = listing_documents(doc)
        if documents is None:
            raise UserInputError(
                f"--chpl-file {chpl_file}: not a CHPL listing document ({listing_problem(doc)}; expected a listing's "
                "details with chplProductNumber, a search page with results[], or a list of listings)"
            )
        if not documents:
            raise UserInputError(f"--chpl-file {chpl_file}: holds no listings")
        problem = listing_problem(doc)
        if problem:
            raise UserInputError(f"--chpl-file {chpl_file}: {problem}")
        if not numbers and len(documents) > 1:
            raise UserInputError(
                f"--chpl-file {chpl_file}: holds {len(documents)} listings; say which with --chpl-id "
                "(or product.chpl_product_numbers in the claims)"
            )
        out.settings.update(chpl_documents=documents, chpl_file=chpl_file.name)

    if numbers or documents is not None:
        out.settings["chpl_numbers"] = numbers
        out.settings["chpl_url"] = (chpl_url or DEFAULT_CHPL_URL).rstrip("/")
        key = (environ.get(CHPL_KEY_ENV) or "").strip()
        if key and not all(0x21 <= ord(ch) <= 0x7E for ch in key):  # it is sent as a header
            raise UserInputError(
                f"{CHPL_KEY_ENV}: holds a space, control or non-ASCII character, which an HTTP header cannot carry; "
                "check the value (not shown)"
            )
        if key:
            out.settings["chpl_api_key"] = key
        out.probes[ProbeId.chpl] = probe_chpl

    if endpoints_bundle:
        if endpoints_bundle.startswith(("http://", "https://")):
            out.settings["endpoints_url"] = endpoints_bundle
        else:
            path = Path(endpoints_bundle)
            if not path.is_file():
                why = "no such file" if not path.exists() else "not a regular file"
                raise UserInputError(f"--endpoints-bundle {endpoints_bundle}: {why} (give a file or an http(s) URL)")
            out.settings.update(endpoints_document=_read_json(path, "--endpoints-bundle"), endpoints_file=path.name)
    if endpoints_bundle or ProbeId.chpl in out.probes:
        out.settings["endpoints_sample"] = endpoints_sample
        out.probes[ProbeId.endpoints] = probe_endpoints
    return out
